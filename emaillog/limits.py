"""Structure limits (SPEC §8): MIME nesting deeper than 50, more than 1,000 parts, headers over 1 MB
or a message over the configured maximum is rejected as ``malformed``. ``mime.walk`` enforces them
while it walks, so a hostile message costs at most one pass over its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 200 * 1024 * 1024
    max_header_bytes: int = 1024 * 1024
    max_depth: int = 50
    max_parts: int = 1000


@dataclass(frozen=True, slots=True)
class StructureProblem:
    detail: str
