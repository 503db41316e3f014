"""Forward as attachment: an attached message/rfc822 part carries the original's real headers."""

from __future__ import annotations

from email.message import EmailMessage

from emaillog.addresses import parse_addresses
from emaillog.contents import Attachment, contents_of
from emaillog.forwards.htmltext import html_to_text
from emaillog.forwards.model import ForwardedMessage
from emaillog.forwards.parts import PART_ERRORS, body_of
from emaillog.fulltree import BOUNDED_DEFAULT
from emaillog.headerfields import (
    MAX_DECODED_HEADER,
    MSGID,
    first_msgid,
    header_date,
    header_text,
    subject_text,
    unfolded,
)

# The original's bytes written back as they came: the default "long" refolding of a stranger's
# 900 KB Subject of encoded words took all the memory of the machine.
_AS_WRITTEN = BOUNDED_DEFAULT.clone(refold_source="none", linesep="\r\n")


def from_attachment(inner: EmailMessage, note: str | None) -> ForwardedMessage | None:
    """The attached message as a ForwardedMessage; None when its headers cannot be read at all."""
    try:
        return _read(inner, note)
    except PART_ERRORS:
        return None


def _read(inner: EmailMessage, note: str | None) -> ForwardedMessage:
    text, html, files = _contents(inner)
    senders = parse_addresses(_all(inner, "From"))
    date_text = _header(inner, "Date")
    return ForwardedMessage(
        sender=senders[0] if senders else None,
        to=parse_addresses(_all(inner, "To")),
        cc=parse_addresses(_all(inner, "Cc")),
        date=header_date(date_text),
        date_text=date_text,
        subject=subject_text(_header(inner, "Subject")) or None,
        body=text.replace("\r\n", "\n").strip(),
        html=html,
        note=note,
        message_id=first_msgid(_header(inner, "Message-ID")),
        in_reply_to=first_msgid(_header(inner, "In-Reply-To")),
        references=tuple(MSGID.findall(_header(inner, "References") or ""))[-50:],
        source="attachment",
        client_hint=None,
        sender_name=senders[0].name if senders else None,
        attachments=files,
    )


def _contents(inner: EmailMessage) -> tuple[str, str | None, tuple[Attachment, ...]]:
    """The original's body and files, read as the BCC path reads a message (``contents_of``)."""
    read = contents_of(inner.as_bytes(policy=_AS_WRITTEN))
    if read is not None:
        return read
    # Not walkable on its own (it was within the forward's limits): its bodies at least.
    text, html = body_of(inner, "plain"), body_of(inner, "html")
    if text is None and html is not None:
        text = html_to_text(html)
    return text or "", html, ()


def _all(msg: EmailMessage, name: str) -> list[str]:
    """The values of field ``name`` read from their raw text as a BCC'd message's are (``Fields``:
    ``header_text``, then ``decode_words`` / ``parse_addresses``), unfolded.

    The stdlib's header objects (``str(msg[name])``) decoded encoded words strictly in Python's codec
    of their label and raw 8-bit bytes as replacement characters: a forwarded original's Subject in
    "ks_c_5601-1987" was '견적 �c방', where the same header BCC'd read '견적 똠방'. Each value is cut to
    MAX_DECODED_HEADER characters, as the bounded tree cut it (after reading: never inside a character).
    """
    wanted = name.lower()
    try:
        return [
            unfolded(header_text(value)[:MAX_DECODED_HEADER])
            for field, value in msg.raw_items()
            if field.lower() == wanted
        ]
    except PART_ERRORS:
        return []


def _header(msg: EmailMessage, name: str) -> str | None:
    values = _all(msg, name)
    return values[0].strip() or None if values else None
