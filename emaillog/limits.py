"""Structure limits checked on the raw bytes, before the stdlib parser spends memory or CPU on them.

SPEC §8: MIME nesting deeper than 50, more than 1,000 parts, headers over 1 MB or a message over the
configured maximum is rejected as ``malformed``. One linear regex scan finds boundary declarations
and delimiter lines, so a hostile message costs the same as reading it once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCAN = re.compile(rb'(?im)^--([^\r\n]{1,200})\r?$|boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 200 * 1024 * 1024
    max_header_bytes: int = 1024 * 1024
    max_depth: int = 50
    max_parts: int = 1000


@dataclass(frozen=True, slots=True)
class StructureProblem:
    detail: str


def check_structure(raw: bytes, limits: Limits) -> StructureProblem | None:
    """Return the first limit the raw message breaks, or None."""
    if len(raw) > limits.max_message_bytes:
        return StructureProblem(f"the message is {_mb(len(raw))}, over the limit of {_mb(limits.max_message_bytes)}")
    header_end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    if header_end is None and len(raw) > limits.max_header_bytes:
        return StructureProblem(f"the header section is over {_mb(limits.max_header_bytes)}")
    return _check_mime(raw, limits)


def _check_mime(raw: bytes, limits: Limits) -> StructureProblem | None:
    depth_of: dict[bytes, int] = {}
    open_stack: list[bytes] = []
    parts = 0
    for match in _SCAN.finditer(raw):
        declared = match.group(2) or match.group(3)
        if declared is not None:
            depth_of.setdefault(declared, len(open_stack) + 1)
            if depth_of[declared] > limits.max_depth:
                return StructureProblem(f"MIME parts are nested more than {limits.max_depth} deep")
            continue
        parts += _delimiter(match.group(1).rstrip(b" \t\r"), depth_of, open_stack)
        if parts > limits.max_parts:
            return StructureProblem(f"the message has more than {limits.max_parts} MIME parts")
    return None


def _delimiter(line: bytes, depth_of: dict[bytes, int], open_stack: list[bytes]) -> int:
    """Track which multiparts are open; return 1 when ``line`` starts a new part."""
    closing = line.endswith(b"--") and line[:-2] in depth_of
    boundary = line[:-2] if closing else line
    if boundary not in depth_of:
        return 0
    # A delimiter of an outer multipart implicitly ends every multipart opened inside it.
    while open_stack and open_stack[-1] != boundary and boundary in open_stack:
        open_stack.pop()
    if closing:
        if open_stack and open_stack[-1] == boundary:
            open_stack.pop()
        return 0
    if not open_stack or open_stack[-1] != boundary:
        open_stack.append(boundary)
    return 1


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
