"""A MIME walker for the hot path: split on boundaries with bytes.find, parse only headers.

Measured on the backlog benchmark, the stdlib's full parse (feedparser, then policy.default's
header objects) was most of the time per message, mostly spent line by line inside attachments
we only need to decode and hash. This walker reads only each part's header (``mimeheader.py``),
finds part bodies by searching for the boundary (C speed), and leaves bodies as slices. The
structure limits of SPEC §8 are enforced while walking, so a hostile message costs at most its
size. The full stdlib tree is still built — lazily — when the forward reader needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from .limits import Limits, StructureProblem
from .mimeheader import read_header
from .mimepart import Part, transfer_encoding


def check_structure(raw: bytes, limits: Limits) -> StructureProblem | None:
    """The first limit ``raw`` breaks, or None."""
    walked = walk(raw, limits)
    return walked if isinstance(walked, StructureProblem) else None


@dataclass(frozen=True, slots=True)
class Walked:
    header: Message  # the top-level header (compat32: raw values)
    parts: tuple[Part, ...]


def split_header(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(end of header, start of body) of the entity in ``data[start:end]``."""
    end = len(data) if end is None else end
    # Header sections are short: look near the start first, so that neither kind of blank line is
    # searched for through a whole large part that only has the other kind.
    near = min(end, start + _HEADER_WINDOW)
    found = _blank_line(data, start, near)
    if found is None and near < end:
        # Then only as far as a header section may reach: searched to the end of the part, a blank
        # line of the kind not used (no CRLF CRLF in an LF message) was looked for through all of it,
        # once per level of nesting (48 levels of 70 KB headers over 180 MB: 9 s of CPU).
        far = min(end, start + _HEADER_REACH)
        found = _blank_line(data, start, far)
        if found is None and far < end:
            found = _blank_line(data, start, end)  # a header section over the limit: malformed
    return found if found is not None else (end, end)


_HEADER_WINDOW = 64 * 1024
# The longest header section (SPEC §8), and its blank line.
_HEADER_REACH = Limits().max_header_bytes + 4


def _blank_line(data: bytes, start: int, end: int) -> tuple[int, int] | None:
    crlf = data.find(b"\r\n\r\n", start, end)
    lf = data.find(b"\n\n", start, crlf if crlf >= 0 else end)
    if lf >= 0:
        return lf + 1, lf + 2
    if crlf >= 0:
        return crlf + 2, crlf + 4
    return None


def walk(raw: bytes, limits: Limits) -> Walked | StructureProblem:
    """Split a message into its leaves, enforcing the part and depth limits."""
    if len(raw) > limits.max_message_bytes:
        return StructureProblem(
            f"the message is {_mb(len(raw))}, over the limit of {_mb(limits.max_message_bytes)}"
        )
    header_end, body_start = split_header(raw)
    if header_end > limits.max_header_bytes:
        return StructureProblem(f"the header section is over {_mb(limits.max_header_bytes)}")
    header = read_header(raw[:header_end])
    walker = _Walker(raw, limits, [])
    problem = walker.entity(header, body_start, len(raw), 1)
    return problem if problem is not None else Walked(header, tuple(walker.parts))


@dataclass(slots=True)
class _Walker:
    raw: bytes
    limits: Limits
    parts: list[Part]  # the leaves of this message; an attached message is one of them
    # Every leaf, those inside attached messages too: the stdlib's tree and the forward reader
    # go through all of them, so all of them count toward the limits.
    counted: int = 0
    inside_attached: int = 0  # how many attached messages the walk is within

    def entity(self, header: Message, start: int, end: int, depth: int) -> StructureProblem | None:
        kind = header.get_content_type()  # read once: the stdlib works it out anew on each call
        boundary = header.get_boundary() if kind.startswith("multipart/") else None
        if not boundary:
            problem = self.leaf(header, kind, start, end, depth)
            if problem is None and _is_attached_message(kind):
                # One leaf here (the forward reader parses it when it needs it), but its parts count.
                problem = self.attached(header, start, end, depth)
            elif problem is None and kind == _DELIVERY_STATUS:
                problem = self.status_blocks(start, end)
            return problem
        # Depth counts containers (multiparts and attached messages): a leaf inside the 50th one is
        # still within the limit.
        if depth > self.limits.max_depth:
            return _too_deep(self.limits)
        delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
        for child_start, child_end in _children(self.raw, delimiter, start, end):
            problem = self.child(child_start, child_end, depth)
            if problem is not None:
                return problem
        return None

    def child(self, start: int, end: int, depth: int) -> StructureProblem | None:
        header_end, body_start = split_header(self.raw, start, end)
        if header_end - start > self.limits.max_header_bytes:
            return StructureProblem(f"a part's header section is over {_mb(self.limits.max_header_bytes)}")
        header = read_header(self.raw[start:header_end])
        return self.entity(header, body_start, end, depth + 1)

    def attached(self, header: Message, start: int, end: int, depth: int) -> StructureProblem | None:
        """Count the parts of an attached message without keeping them as leaves of ours.

        Counted as one part, 400 attached messages of 999 parts each (17 MB) took 17 s of CPU and
        370 MB in the stdlib's tree and the forward reader, and a message at the size limit
        would have taken minutes and gigabytes.
        """
        if depth > self.limits.max_depth:
            return _too_deep(self.limits)
        base64 = transfer_encoding(header.get("content-transfer-encoding")) == "base64"
        if base64 and self.raw.find(b":", start, end) < 0:
            # Not allowed (RFC 2046 §5.2.1) but seen. The stdlib reads the encoded text as it is:
            # no header field (base64 has no ":"), so one plain part and no header limit. It reads
            # it so whatever the label says: a message written out plainly under a base64 label is
            # walked as any other (400 such of 999 parts each took 17 s and 340 MB as forwards).
            return None
        self.inside_attached += 1
        try:
            return self.child(start, end, depth)
        finally:
            self.inside_attached -= 1

    def status_blocks(self, start: int, end: int) -> StructureProblem | None:
        """Count the parts the stdlib makes of a delivery-status body: one per block of fields, and
        a blank line ends each. 10 MB of blocks of one field made 1.4 million parts in the tree the
        forward reader reads: 14 s of CPU and 640 MB. Counted only as far as the limit."""
        return self.count(_blank_lines(self.raw, start, end, self.limits.max_parts))

    def leaf(self, header: Message, kind: str, start: int, end: int, depth: int) -> StructureProblem | None:
        if not self.inside_attached:
            self.parts.append(Part(header, self.raw, start, end, depth, kind))
        return self.count(1)

    def count(self, parts: int) -> StructureProblem | None:
        self.counted += parts
        if self.counted > self.limits.max_parts:
            return StructureProblem(f"the message has more than {self.limits.max_parts} MIME parts")
        return None


def _too_deep(limits: Limits) -> StructureProblem:
    return StructureProblem(f"MIME parts are nested more than {limits.max_depth} deep")


def _is_attached_message(kind: str) -> bool:
    # The stdlib parses the body of every message/* part but delivery-status as a message of its own.
    return kind.startswith("message/") and kind != _DELIVERY_STATUS


_DELIVERY_STATUS = "message/delivery-status"


def _blank_lines(data: bytes, start: int, end: int, most: int) -> int:
    """How many blank lines ``data[start:end]`` has, counted up to just over ``most``.

    The stdlib's parser breaks lines at LF, CRLF and a lone CR: a blank line starts after an LF
    and before a break (LF LF, LF CR), or after a lone CR and before another CR (CR CR). Searched
    for pair by pair at memory speed: a regular expression for any of them took 2.8 s on 190 MB.
    """
    found = 0
    for pair in (b"\n\n", b"\n\r", b"\r\r"):
        position = data.find(pair, start, end)
        while position >= 0 and found <= most:
            found += 1
            position = data.find(pair, position + 1, end)
    return found


def _children(data: bytes, delimiter: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each body part between delimiter lines (RFC 2046 §5.1.1)."""
    position = _delimiter_at(data, delimiter, start, end)
    while position >= 0:
        line_end = data.find(b"\n", position, end)
        if data.startswith(b"--", position + len(delimiter)) or line_end < 0:
            return  # the close delimiter, or a truncated message
        following = _delimiter_at(data, delimiter, line_end + 1, end)
        part_end = following if following >= 0 else end
        # The line break before a delimiter belongs to the delimiter, not to the part.
        body_end = part_end - 2 if data[part_end - 2 : part_end] == b"\r\n" else part_end - 1
        yield line_end + 1, max(body_end, line_end + 1)
        position = following


_AFTER_DELIMITER = frozenset(b"\r\n \t-")


def _delimiter_at(data: bytes, delimiter: bytes, start: int, end: int) -> int:
    """The next delimiter that starts a line and is not just a prefix of a longer boundary, or -1."""
    # Every delimiter starts with "-", which base64 never contains. Hopping from dash to dash
    # (memchr) crosses an encoded attachment at memory speed; the substring search was several
    # times slower, and a third of the walk's time on a message with an attachment. Text full of
    # dashes would make the hops slow, so after a few the substring search takes over.
    position = start
    for _ in range(_DASH_HOPS):
        position = data.find(b"-", position, end)
        if position < 0:
            return -1
        if data.startswith(delimiter, position, end) and _is_delimiter(data, delimiter, position, end):
            return position
        position += 1
    position = data.find(delimiter, position, end)
    while position >= 0:
        if _is_delimiter(data, delimiter, position, end):
            return position
        position = data.find(delimiter, position + 1, end)
    return -1


_DASH_HOPS = 32


def _is_delimiter(data: bytes, delimiter: bytes, position: int, end: int) -> bool:
    """Whether the ``delimiter`` at ``position`` starts a line and ends where a boundary may end."""
    after = position + len(delimiter)
    at_line_start = position == 0 or data[position - 1] == 10
    return at_line_start and (after >= end or data[after] in _AFTER_DELIMITER)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
