"""Parsing raw RFC 822 bytes into an ``Email`` value (stdlib ``email``, ``policy.default``).

Everything read here comes from strangers: header values are cleaned, limits are checked before the
expensive work, and a message we cannot read becomes a ``Malformed`` value with a reason rather
than an exception.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from .addresses import Address, clean, parse_addresses
from .htmltext import html_to_text, sanitise_html
from .limits import Limits, StructureProblem, check_structure

# Headers a receiving server writes to say which address it delivered to (RFC 9228 Delivered-To,
# Postfix X-Original-To, Exim Envelope-To, and the common X- variants).
DELIVERY_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-delivered-to",
                    "x-rcpt-to", "x-forwarded-to")
_MSGID = re.compile(r"<[^<>\s]{1,900}>")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A decoded attachment: in memory (``data``) or, for a streamed large one, in a temp file."""

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes = b""
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Email:
    """What the rules need to know about one message, read once."""

    message_id: str | None
    subject: str
    date: datetime | None
    senders: tuple[Address, ...]  # From; normally exactly one
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    delivered_to: tuple[str, ...]
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    auto_submitted: str | None
    is_list_mail: bool
    authentication_results: tuple[str, ...]
    return_path: str | None  # the envelope sender as delivered; "" for the null path (a bounce)
    headers: tuple[tuple[str, str], ...]  # every header as it arrived, for the notice policy
    body_bytes: int
    sha256: str
    tree: EmailMessage  # the parsed message, for the forward reader

    @property
    def sender(self) -> Address | None:
        return self.senders[0] if len(self.senders) == 1 else None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message that cannot be processed as mail; ``detail`` says why (no body text in it).

    The header fields are read leniently when the header section itself is readable, so the rep
    can still be told (and a forged or robotic sender still recognised).
    """

    detail: str
    sha256: str
    message_id: str | None = None
    sender: Address | None = None
    subject: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    return_path: str | None = None
    authentication_results: tuple[str, ...] = ()


def parse(raw: bytes, limits: Limits) -> Email | Malformed:
    """Parse one message; structure limits are checked before the parser sees the bytes."""
    digest = hashlib.sha256(raw).hexdigest()
    problem = check_structure(raw, limits)
    if problem is not None:
        return malformed(raw, problem.detail, digest, limits)
    try:
        tree = BytesParser(policy=policy.default).parsebytes(raw)
    except (RecursionError, MemoryError, ValueError, LookupError) as exc:
        return malformed(raw, f"the MIME structure could not be parsed ({type(exc).__name__})", digest, limits)
    assert isinstance(tree, EmailMessage)
    return _read(tree, digest)


def malformed(raw: bytes, detail: str, digest: str, limits: Limits) -> Malformed:
    """A Malformed value with whatever the header section tells, read without the body."""
    end = raw.find(b"\r\n\r\n", 0, limits.max_header_bytes)
    if end < 0:
        end = raw.find(b"\n\n", 0, limits.max_header_bytes)
    if end < 0:
        return Malformed(detail, digest)
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw[:end + 2])
    senders = parse_addresses(_all(head, "from"))
    return Malformed(
        detail, digest, _first_msgid(_header(head, "message-id")),
        sender=senders[0] if len(senders) == 1 and len(_all(head, "from")) == 1 else None,
        subject=clean(_decoded(_header(head, "subject"))) or "",
        headers=tuple((str(k), str(v)) for k, v in head.raw_items()),
        return_path=_return_path(_header(head, "return-path")),
        authentication_results=tuple(_all(head, "authentication-results")))


def _decoded(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _read(tree: EmailMessage, digest: str) -> Email | Malformed:
    message_id = _first_msgid(_header(tree, "message-id"))
    senders = parse_addresses(_all(tree, "from"))
    if len(_all(tree, "from")) > 1 or len(senders) > 1:
        return _malformed_tree(tree, "the message has more than one From", digest, None)
    if not senders:
        return _malformed_tree(tree, "the message has no readable From address", digest, None)
    text, html = _bodies(tree)
    return Email(
        message_id=message_id,
        subject=clean(_header(tree, "subject")) or "",
        date=_date(_header(tree, "date")),
        senders=senders,
        to=parse_addresses(_all(tree, "to")),
        cc=parse_addresses(_all(tree, "cc")),
        bcc=parse_addresses(_all(tree, "bcc")),
        delivered_to=tuple(a.address for h in DELIVERY_HEADERS for a in parse_addresses(_all(tree, h))),
        in_reply_to=_first_msgid(_header(tree, "in-reply-to")),
        references=tuple(_MSGID.findall(_header(tree, "references") or ""))[-50:],
        text=text,
        html=sanitise_html(html) if html else None,
        attachments=tuple(_attachments(tree)),
        auto_submitted=clean(_header(tree, "auto-submitted")),
        is_list_mail=_is_list_mail(tree),
        authentication_results=tuple(_all(tree, "authentication-results")),
        return_path=_return_path(_header(tree, "return-path")),
        headers=tuple((str(k), str(v)) for k, v in tree.raw_items()),
        body_bytes=len(text.encode()) + len((html or "").encode()),
        sha256=digest,
        tree=tree,
    )


def _malformed_tree(tree: EmailMessage, detail: str, digest: str, sender: Address | None) -> Malformed:
    return Malformed(detail, digest, _first_msgid(_header(tree, "message-id")), sender,
                     clean(_header(tree, "subject")) or "", tuple((str(k), str(v)) for k, v in tree.raw_items()),
                     _return_path(_header(tree, "return-path")), tuple(_all(tree, "authentication-results")))


def _header(msg: Message, name: str) -> str | None:
    """One header's value as text, or None; a header the stdlib cannot decode is read raw."""
    try:
        value = msg.get(name)
    except (ValueError, LookupError, IndexError, TypeError):
        return _raw_header(msg, name)
    return None if value is None else str(value)


def _all(msg: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name, [])]
    except (ValueError, LookupError, IndexError, TypeError):
        value = _raw_header(msg, name)
        return [value] if value else []


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _first_msgid(value: str | None) -> str | None:
    found = _MSGID.search(value or "")
    return found.group(0) if found else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # A date without a zone ("-0000" or none) is taken as UTC so every stored date is comparable.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _return_path(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip().strip("<>").strip()


def _is_list_mail(msg: Message) -> bool:
    precedence = (_header(msg, "precedence") or "").strip().lower()
    return bool(_header(msg, "list-id") or _header(msg, "list-unsubscribe")) or precedence in (
        "bulk", "list", "junk")


def _bodies(tree: EmailMessage) -> tuple[str, str | None]:
    """The top-level text and HTML bodies (not those of attached messages)."""
    text = _content(tree.get_body(preferencelist=("plain",)))
    html = _content(tree.get_body(preferencelist=("html",)))
    if not text and html:
        text = html_to_text(html)
    return text or "", html


def _content(part: Message | None) -> str | None:
    if part is None:
        return None
    return decode_text(part)


def decode_text(part: Message) -> str:
    """A text part's content; unknown or wrong charsets degrade to replacement characters."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _attachments(tree: EmailMessage) -> list[Attachment]:
    found = []
    for part in tree.iter_attachments():
        data = part.get_payload(decode=True)
        if isinstance(part.get_payload(), list) or not isinstance(data, bytes):
            data = part.as_bytes() if part.get_content_type() == "message/rfc822" else b""
        found.append(Attachment(
            filename=safe_filename(part.get_filename(), part.get_content_type()),
            content_type=part.get_content_type(),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        ))
    return found


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|]")


def safe_filename(name: str | None, content_type: str) -> str:
    """A display name for an attachment: no path parts, no control characters, bounded length.

    Files are stored by content hash, never under this name, so this only protects what is shown.
    """
    name = _UNSAFE_NAME.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._")
    if not name:
        name = "attachment." + ("eml" if content_type == "message/rfc822" else "bin")
    return name[:200]


__all__ = ["Attachment", "Email", "Limits", "Malformed", "StructureProblem", "decode_text", "parse"]
