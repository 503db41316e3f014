"""Parsing raw RFC 822 bytes into an ``Email`` value, or a ``Malformed`` one that says why not.

Everything read here comes from strangers: header values are cleaned, limits are enforced while
the MIME structure is walked, and a message we cannot read becomes a ``Malformed`` value with a
reason rather than an exception. This module holds the two values a parse gives, and puts one
together from what is read elsewhere:
- ``mime.py`` walks the message: header sections read by ``mimeheader.py``, bodies split by
  boundary search and left encoded in the leaves of ``mimepart.py``;
- ``headerfields.py`` reads the top-level fields (Message-ID, Date, Return-Path, encoded words);
- ``contents.py`` reads the body text, the HTML and the attachments;
- ``fulltree.py`` holds the stdlib's full ``policy.default`` tree, built only when something asks
  for ``Email.tree`` (the forward reader).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from .addresses import Address, parse_addresses
from .contents import Attachment, read_contents
from .encrypted import Sealed
from .fulltree import LazyTree
from .headerfields import MSGID, Fields, first_msgid, header_date, return_path_of, subject_text
from .htmltext import sanitise_html
from .limits import Limits, StructureProblem
from .mime import Walked, split_header, walk
from .mimeheader import read_header
from .pickling import pickled_by_fields

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
        subject=subject_text(fields.first("subject")),
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
    read = read_contents(walked, max_parts)
    return Email(
        message_id=first_msgid(fields.first("message-id")),
        subject=subject_text(fields.first("subject")),
        date=header_date(fields.first("date")),
        senders=senders,
        to=parse_addresses(fields.all("to")),
        cc=parse_addresses(fields.all("cc")),
        bcc=parse_addresses(fields.all("bcc")),
        delivered_to=tuple(a.address for h in DELIVERY_HEADERS for a in parse_addresses(fields.all(h))),
        in_reply_to=first_msgid(fields.first("in-reply-to")),
        references=tuple(MSGID.findall(fields.first("references") or ""))[-50:],
        text=read.text,
        html=sanitise_html(read.html) if read.html else None,
        attachments=read.attachments,
        authentication_results=tuple(fields.all("authentication-results")),
        return_path=return_path_of(fields.first("return-path")),
        headers=fields.items,
        body_bytes=read.body_bytes,
        sha256=digest,
        lazy_tree=LazyTree(raw),
        sealed=read.sealed,
    )


__all__ = ["Email", "Limits", "Malformed", "StructureProblem", "parse"]
