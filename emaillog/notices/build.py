"""Build a delivery-failure notice: an RFC 3464 report sent to the rep (SPEC §11).

``build_notice`` only builds the message; whether it may be sent is :mod:`emaillog.notices.policy`'s
question, and the envelope (``MAIL FROM:<>``, RFC 3464 §2 / RFC 5321 §4.5.5) is the sender's job.

Serialise the result with ``as_bytes()`` / ``BytesGenerator`` (``smtplib.send_message`` does): a small
original is attached as it arrived and may hold 8-bit bytes, which only the bytes generator keeps as-is.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import BaseHeader, HeaderRegistry, MessageIDHeader
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, EmailPolicy
from pathlib import Path
from types import MappingProxyType
from typing import cast

from emaillog.addresses import Address, ascii_domain
from emaillog.notices.parts import StatusFields, original_part, status_part, text_part
from emaillog.notices.reasons import Reason, reason_for
from emaillog.notices.templates import load_template, render
from emaillog.notices.text import one_line
from emaillog.notices.values import Facts, template_values

DEFAULT_SMALL_ORIGINAL = 64 * 1024

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def is_hostname(text: str) -> bool:
    """A host name in A-labels (letters, digits, - and .): what a notice's Message-ID and
    Reporting-MTA may name; no IDN, which neither field is written to take here."""
    return bool(_HOSTNAME.match(text))


# RFC 5322 §3.6.4 msg-id, printable ASCII without brackets or space; bounded so the header stays short.
_MESSAGE_ID = re.compile(r"^<[\x21-\x3b\x3d\x3f-\x7e]{1,400}@[\x21-\x3b\x3d\x3f-\x7e]{1,400}>$")


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """Everything one notice needs; hostile fields (subject, Message-ID, details) are cleaned here.

    ``ledger_key`` identifies the processed message (account|mailbox|uidvalidity|uid), so the same
    notice built again gets the same Message-ID and a resend is recognisable. ``original_raw`` may be
    only the header section when the original is large. ``original_subject`` is the subject as the
    parser decoded it (``Email.subject``): text, never decoded again.
    """

    reason: str
    recipient: Address
    notice_from: Address
    logging_address: str
    original_raw: bytes
    original_message_id: str | None
    original_subject: str | None
    ledger_key: str
    hostname: str
    arrival: datetime
    now: datetime
    details: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    templates_dir: Path | None = None
    # The BCC address, for advice on logging by BCC when ``logging_address`` is the forwarding one.
    bcc_address: str | None = None
    small_original_limit: int = DEFAULT_SMALL_ORIGINAL

    def __post_init__(self) -> None:
        # These come from settings and the pipeline, not from the message: wrong values are bugs.
        reason_for(self.reason).template_for(variant_of(self.details))
        if not is_hostname(self.hostname):
            raise ValueError(f"not a hostname: {self.hostname!r}")
        if self.arrival.tzinfo is None or self.now.tzinfo is None:
            raise ValueError("arrival and now must be timezone-aware")


def build_notice(request: NoticeRequest) -> EmailMessage:
    """The complete ``multipart/report; report-type=delivery-status`` notice for ``request``."""
    reason = reason_for(request.reason)
    template = reason.template_for(variant_of(request.details))
    if template is None:
        raise ValueError(f"reason {reason.code!r} never gets a notice")
    policy = notice_policy()
    message = EmailMessage(policy=policy)
    _set_headers(message, request, reason)
    original = original_part(request.original_raw, request.small_original_limit, policy)
    text = render(load_template(template, request.templates_dir), _values(request, reason, original))
    status = StatusFields(request.hostname, request.arrival, request.logging_address, reason)
    message.set_payload([text_part(text, policy), status_part(status, policy), original])
    return message


def variant_of(details: Mapping[str, object]) -> str | None:
    """The text variant the details ask for (``Reason.variants``), or None for the reason's own."""
    variant = details.get("variant")
    return None if variant is None else str(variant)


@functools.cache
def notice_policy() -> EmailPolicy[EmailMessage]:
    """SMTP line endings, source headers never refolded, In-Reply-To and References as msg-ids.

    As unstructured text, a long Message-ID would be folded into RFC 2047 encoded words, which no
    client can match against the original any more. As msg-id tokens they are never encoded.
    """
    registry = HeaderRegistry()
    # typeshed does not declare MessageIDHeader a BaseHeader, though the registry treats it as one.
    msg_id = cast("type[BaseHeader]", MessageIDHeader)
    registry.map_to_type("in-reply-to", msg_id)
    registry.map_to_type("references", msg_id)
    # refold_source="none": headers of the attached original are written back as they arrived.
    return SMTP.clone(header_factory=registry, refold_source="none")


def _set_headers(message: EmailMessage, request: NoticeRequest, reason: Reason) -> None:
    _set_address(message, "From", request.notice_from)
    _set_address(message, "To", request.recipient)
    _set_subject(message, f"{reason.subject_prefix}: {_subject(request.original_subject)}")
    message["Date"] = request.now
    message["Message-ID"] = notice_message_id(request.ledger_key, reason.code, request.hostname)
    original_id = clean_message_id(request.original_message_id)
    if original_id is not None:
        message["In-Reply-To"] = original_id
        message["References"] = original_id
    # RFC 3834 §5: an automatic response; well-behaved responders (vacation, ticket systems) stay quiet.
    message["Auto-Submitted"] = "auto-replied"
    # Exchange honours only its own header for suppressing out-of-office and read receipts.
    message["X-Auto-Response-Suppress"] = "All"
    message["MIME-Version"] = "1.0"
    message["Content-Type"] = "multipart/report; report-type=delivery-status"


# The shape of notice_message_id's ids, whatever the hostname (each mailbox may name its own): what
# an auto-reply to a notice names in In-Reply-To / References.
NOTICE_ID = re.compile(r"<notice\.[0-9a-f]{32}@[^<>\s]{1,400}>")


def notice_message_id(ledger_key: str, reason: str, hostname: str) -> str:
    """A Message-ID derived from the ledger key and reason, so a resent notice is recognisable."""
    digest = hashlib.sha256(f"{ledger_key}|{reason}".encode()).hexdigest()[:32]
    return f"<notice.{digest}@{hostname}>"


def clean_message_id(value: str | None) -> str | None:
    """The original's Message-ID if it has the msg-id shape, else ``None`` (then no threading)."""
    if not value:
        return None
    candidate = value.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    return candidate if _MESSAGE_ID.match(candidate) else None


def _subject(original: str | None) -> str:
    # The parser decoded the original subject's encoded words already (Email.subject): decoding
    # again turned a subject written as "=?utf-8?q?Hi?=" into "Hi". The text is hostile: it may
    # hold CR LF "Bcc: …", so every control character is flattened and nothing starts a header line.
    return one_line(original or "", 150) or "(no subject)"


def _set_subject(message: EmailMessage, text: str) -> None:
    """Set Subject so that every reader shows ``text`` exactly.

    The stdlib writes ASCII text as it is, so a subject that reads like an encoded word would be
    decoded by the rep's client (and by the stdlib's own header factory when it is set). Such a
    subject is encoded here, whole, and stored as a raw header that the generator writes unchanged.
    """
    if "=?" not in text:
        message["Subject"] = text
        return
    message.set_raw("Subject", Header(text, "utf-8", header_name="Subject").encode())


def _set_address(message: EmailMessage, field: str, address: Address) -> None:
    """Set ``field`` to ``address`` so that no reader, and not the stdlib writing it, decodes its text.

    The stdlib parses the address it is given again, and decodes what reads like an encoded word
    there, even in quotes: a display name or local part that reads "=?utf-8?q?Rita=0D=0ABcc=3A_x?="
    (a sender's name, encoded twice) was written as "Rita" CR LF "Bcc: x", a header of its own. Such an
    address is written raw: the name encoded whole, as the subject is, and the addr-spec as it is.
    """
    header_address = _header_address(address)
    if "=?" not in str(header_address):
        message[field] = header_address
        return
    name = header_address.display_name
    # An addr-spec is never decoded (RFC 2047 §5); it holds no space or control (addresses._ADDR).
    addr_spec = f"{header_address.username}@{header_address.domain}"
    shown = Header(name, "utf-8", header_name=field).encode() + " " if name else ""
    message.set_raw(field, f"{shown}<{addr_spec}>")


def _header_address(address: Address) -> HeaderAddress:
    local, _, domain = address.address.rpartition("@")
    # An encoded word is not allowed in an addr-spec (RFC 2047 §5), which is what the generator
    # would write for a Unicode domain: A-labels are the domain's ASCII spelling.
    domain = ascii_domain(domain)
    # username/domain instead of addr_spec: nothing is re-parsed, the generator quotes as needed.
    return HeaderAddress(display_name=one_line(address.name or "", 200), username=local, domain=domain)


def _values(request: NoticeRequest, reason: Reason, original: MIMEPart) -> dict[str, str]:
    facts = Facts(
        reason=reason,
        subject=_subject(request.original_subject),
        recipient=request.recipient,
        logging_address=request.logging_address,
        bcc_address=request.bcc_address or request.logging_address,
        arrival=request.arrival,
        message_id=clean_message_id(request.original_message_id),
        whole_original=original.get_content_type() == "message/rfc822",
        details=request.details,
    )
    return template_values(facts)
