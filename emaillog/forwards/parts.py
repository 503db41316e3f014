"""Reading MIME parts safely: decoded text whatever the declared charset, bounded walks."""

from __future__ import annotations

from collections.abc import Iterator
from email.errors import MessageError
from email.message import EmailMessage, Message

from emaillog.mimepart import decode_text, transfer_decoded, transfer_encoding

_MAX_DEPTH = 50  # SPEC §8: deeper nesting is hostile
_MAX_PARTS = 1000
_MAX_PART_BYTES = 4 * 1024 * 1024  # a text part beyond this is cut; the reader only needs its start
# What the stdlib raises on a hostile part or header. OverflowError: its date parser on a year or
# an offset of twenty digits, raised out of reading an attached original's Date.
PART_ERRORS = (
    MessageError,
    LookupError,
    UnicodeError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    OverflowError,
)


def attached_messages(msg: Message) -> Iterator[EmailMessage]:
    """Attached message/rfc822 parts, without descending into them (their history is theirs)."""
    count = 0
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack and count < _MAX_PARTS:
        part, depth = stack.pop(0)
        count += 1
        if part is not msg and part.get_content_type() == "message/rfc822":
            inner = _inner(part)
            if inner is not None:
                yield inner
            continue
        if part.is_multipart() and depth < _MAX_DEPTH:
            payload = part.get_payload()
            stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))


def _inner(part: Message) -> EmailMessage | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
        return payload[0]
    return None


def body_of(msg: Message, subtype: str) -> str | None:
    """The message's own text/<subtype> body (attachments excluded), decoded; None when absent."""
    if not isinstance(msg, EmailMessage):
        return None
    try:
        part = msg.get_body(preferencelist=(subtype,))
    except PART_ERRORS:
        return None
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    return decoded(part)


def decoded(part: Message) -> str | None:
    """Text of ``part``, decoded as the BCC path decodes a body (``mimepart.decode_text``): its declared
    charset when the bytes fit it, else UTF-8, else Windows-1252 (for iso-8859-1 and us-ascii too)."""
    try:
        raw = part.get_payload(decode=True)
        label = str(part.get("content-transfer-encoding", "")).lower()
    except PART_ERRORS:
        return None
    if not isinstance(raw, bytes):
        return None
    encoding = transfer_encoding(label)
    if encoding != label:
        # A label the stdlib compares whole ('"base64"', "base64 (encoded)"): it handed the bytes
        # over as they came, and they are decoded here as the BCC path decodes them.
        raw = transfer_decoded(raw, encoding)
    if len(raw) > _MAX_PART_BYTES:
        # Cut at a line's end, never inside a UTF-8 character: one cut in two made it fall back to
        # Windows-1252 for the whole text.
        raw = raw[: raw.rfind(b"\n", 0, _MAX_PART_BYTES) + 1 or _MAX_PART_BYTES]
    return decode_text(raw, part.get_content_charset())
