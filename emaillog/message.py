"""Parsing raw RFC 822 bytes into an ``Email`` value.

Everything read here comes from strangers: header values are cleaned, limits are enforced while
the MIME structure is walked, and a message we cannot read becomes a ``Malformed`` value with a
reason rather than an exception. The hot path uses the walker in ``mime.py`` (headers parsed by the
stdlib, bodies split by boundary search); the stdlib's full ``policy.default`` tree is built only
when something asks for ``Email.tree`` (the forward reader).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from .addresses import Address, clean, parse_addresses
from .encrypted import Sealed, explained, sealed_message
from .fulltree import LazyTree
from .headerfields import MSGID, Fields, decode_words, first_msgid, header_date, header_text, return_path_of
from .htmltext import html_to_text, sanitise_html
from .limits import Limits, StructureProblem
from .mime import Walked, walk
from .mimepart import Part
from .pickling import pickled_by_fields
from .tnef import File, opened

# Headers a receiving server writes to say which address it delivered to (RFC 9228 Delivered-To,
# Postfix X-Original-To, Exim Envelope-To, and the common X- variants).
DELIVERY_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-delivered-to",
    "x-rcpt-to",
    "x-forwarded-to",
)
_BODY_TYPES = ("text/plain", "text/html")


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Attachment:
    """A decoded attachment: in memory (``data``) or, for a streamed large one, in a temp file."""

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes = b""
    path: Path | None = None


@pickled_by_fields
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
    authentication_results: tuple[str, ...]
    return_path: str | None  # the envelope sender as delivered; "" for the null path (a bounce)
    headers: tuple[tuple[str, str], ...]  # every top-level header as it arrived, in order
    body_bytes: int
    sha256: str
    lazy_tree: LazyTree = field(repr=False, compare=False)
    sealed: Sealed | None = None  # encrypted (S/MIME, OpenPGP) or opaquely wrapped: ``text`` says so

    @property
    def sender(self) -> Address | None:
        return self.senders[0] if len(self.senders) == 1 else None

    @property
    def tree(self) -> EmailMessage:
        """The full stdlib parse (policy.default), built on first use: only forwards need it."""
        return self.lazy_tree.get()


@pickled_by_fields
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


def parse(raw: bytes, limits: Limits, digest: str | None = None) -> Email | Malformed:
    """Parse one message; structure limits are enforced while walking it.

    ``digest``: the SHA-256 of ``raw`` when the caller has it already (hashing is a tenth of parsing).
    """
    digest = digest or hashlib.sha256(raw).hexdigest()
    walked = walk(raw, limits)
    if isinstance(walked, StructureProblem):
        return malformed(raw, walked.detail, digest, limits)
    return _read(walked, Fields(walked.header), raw, digest, limits.max_parts)


def malformed(raw: bytes, detail: str, digest: str, limits: Limits) -> Malformed:
    """A Malformed value with whatever the header section tells, read without the body."""
    from .mime import split_header
    from .mimeheader import read_header

    end, _ = split_header(raw)
    if end > limits.max_header_bytes:
        return Malformed(detail, digest)
    return _malformed(Fields(read_header(raw[:end])), detail, digest)


def _malformed(fields: Fields, detail: str, digest: str) -> Malformed:
    senders = parse_addresses(fields.all("from"))
    return Malformed(
        detail,
        digest,
        first_msgid(fields.first("message-id")),
        sender=senders[0] if len(senders) == 1 and len(fields.all("from")) == 1 else None,
        subject=clean(fields.decoded("subject")) or "",
        headers=fields.items,
        return_path=return_path_of(fields.first("return-path")),
        authentication_results=tuple(fields.all("authentication-results")),
    )


def _read(walked: Walked, fields: Fields, raw: bytes, digest: str, max_parts: int) -> Email | Malformed:
    senders = parse_addresses(fields.all("from"))
    if len(fields.all("from")) > 1 or len(senders) > 1:
        return _malformed(fields, "the message has more than one From", digest)
    if not senders:
        return _malformed(fields, "the message has no readable From address", digest)
    text, html, attachments, sealed = _read_contents(walked, max_parts)
    return Email(
        message_id=first_msgid(fields.first("message-id")),
        subject=clean(fields.decoded("subject")) or "",
        date=header_date(fields.first("date")),
        senders=senders,
        to=parse_addresses(fields.all("to")),
        cc=parse_addresses(fields.all("cc")),
        bcc=parse_addresses(fields.all("bcc")),
        delivered_to=tuple(a.address for h in DELIVERY_HEADERS for a in parse_addresses(fields.all(h))),
        in_reply_to=first_msgid(fields.first("in-reply-to")),
        references=tuple(MSGID.findall(fields.first("references") or ""))[-50:],
        text=text,
        html=sanitise_html(html) if html else None,
        attachments=attachments,
        authentication_results=tuple(fields.all("authentication-results")),
        return_path=return_path_of(fields.first("return-path")),
        headers=fields.items,
        body_bytes=len(text.encode()) + len((html or "").encode()),
        sha256=digest,
        lazy_tree=LazyTree(raw),
        sealed=sealed,
    )


def _read_contents(
    walked: Walked, max_parts: int
) -> tuple[str, str | None, tuple[Attachment, ...], Sealed | None]:
    """``_contents``, and whether the message is encrypted: if so, its text says why it is missing."""
    text, html, attachments = _contents(walked.parts, max_parts)
    sealed = sealed_message(walked.header, walked.parts, text, html)
    return explained(text, sealed), html, attachments, sealed


def _contents(parts: tuple[Part, ...], max_parts: int) -> tuple[str, str | None, tuple[Attachment, ...]]:
    """The body text and HTML (the message's own, not an attached one's) and the attachments.

    Several inline text parts (Apple Mail splits a body around an inline image) are joined. Outlook's
    winmail.dat gives the files (and the body, where there is none) it carries (``tnef.opened``).
    """
    texts: list[str] = []
    html: str | None = None
    attachments: list[Attachment] = []
    for part in parts:
        kind = part.content_type
        if kind in _BODY_TYPES and not part.is_attachment and not _named(part):
            if kind == "text/plain":
                texts.append(part.text())
            elif html is None:
                html = part.text()
            continue
        attachments.append(_attachment(part))
    files, text, html = opened(attachments, "\n".join(texts), html, max_parts - len(parts), unpacked_file)
    if not text and html:
        text = html_to_text(html)
    return text, html, files


def _named(part: Part) -> bool:
    return bool(
        part.header.get_param("filename", header="content-disposition") or part.header.get_param("name")
    )


def _attachment(part: Part) -> Attachment:
    data = part.decoded() if part.content_type != "message/rfc822" else bytes(part.body)
    return Attachment(
        filename=safe_filename(_filename(part), part.content_type),
        content_type=part.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )


def unpacked_file(file: File) -> Attachment:
    """A file from inside a winmail.dat, as an attachment of the message (held in memory)."""
    return Attachment(
        filename=safe_filename(file.name, file.content_type),
        content_type=file.content_type,
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        data=file.data,
    )


def _filename(part: Part) -> str | None:
    try:
        name = part.header.get_filename()
    except (ValueError, LookupError, UnicodeError, TypeError):
        return None
    return decode_words(header_text(name)) if name else None


def contents_of(raw: bytes) -> tuple[str, str | None, tuple[Attachment, ...]] | None:
    """Body text, HTML and files of ``raw`` (an attached original), read as ``parse`` reads a message
    of our own; None when it cannot be walked.

    One reading for both paths: the stdlib's get_body/iter_attachments had kept only the first part of
    a body Apple Mail splits around a picture (the rest became a nameless file) and dropped Outlook's
    inline pictures and a text/calendar beside the bodies.
    """
    limits = Limits()
    walked = walk(raw, limits)
    if isinstance(walked, StructureProblem):
        return None
    # An encrypted original forwarded as an attachment is logged as a BCC'd one is: saying so.
    text, html, attachments, _ = _read_contents(walked, limits.max_parts)
    return text, html, attachments


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|]")


def safe_filename(name: str | None, content_type: str) -> str:
    """A display name for an attachment: no path parts, no control characters, bounded length.

    Files are stored by content hash, never under this name, so this only protects what is shown.
    """
    name = _UNSAFE_NAME.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._")
    if not name:
        # A picture pasted into the body, an invitation: named by its type, so a person who
        # downloads it can open it (every such part was "attachment.bin").
        extension = _MAIL_EXTENSIONS.get(content_type) or _EXTENSIONS.guess_extension(content_type)
        name = "attachment" + (extension or ".bin")
    return name[:200]


# The standard library's own table (of this Python), not the machine's /etc/mime.types, which
# differs from one machine to the next; with the names mail clients give the types it lacks or
# names otherwise.
_EXTENSIONS = mimetypes.MimeTypes()
_MAIL_EXTENSIONS = {"text/calendar": ".ics", "application/pkcs7-mime": ".p7m"}


__all__ = ["Attachment", "Email", "Limits", "Malformed", "StructureProblem", "parse"]
