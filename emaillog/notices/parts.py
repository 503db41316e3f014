"""The three body parts of an RFC 3464 report (RFC 6522 ``multipart/report``).

1. the human-readable text; 2. ``message/delivery-status``; 3. the original — whole as
``message/rfc822`` when small, else its header section as ``text/rfc822-headers`` (RFC 6522 §3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from email.policy import EmailPolicy, compat32
from email.utils import format_datetime

from emaillog.addresses import ascii_domain
from emaillog.notices.reasons import Reason
from emaillog.notices.text import one_line

# RFC 5322 §2.1.1: a line is at most 998 octets; a longer one cannot travel as 7bit/8bit (RFC 2045 §2.8).
_MAX_LINE = 998
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_CONTAINER = re.compile(rb"(?i)multipart/|message/")
_MAX_CONTAINERS = 50  # SPEC §8's nesting limit
# Kept in the text/rfc822-headers copy: TAB and line breaks. Everything else from C0/C1 is hostile.
_HEADER_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class StatusFields:
    """What the ``message/delivery-status`` part reports (RFC 3464 §2.2, §2.3)."""

    hostname: str
    arrival: datetime
    logging_address: str
    reason: Reason


def text_part(text: str, policy: EmailPolicy[EmailMessage]) -> MIMEPart:
    part = MIMEPart(policy=policy)
    part.set_content(text, charset="utf-8")
    return part


def status_part(fields: StatusFields, policy: EmailPolicy[EmailMessage]) -> MIMEPart:
    """One per-message block and one per-recipient block; the recipient is the logging address."""
    per_message = _block(
        policy,
        ("Reporting-MTA", f"dns; {fields.hostname}"),
        ("Arrival-Date", format_datetime(fields.arrival)),
    )
    per_recipient = _block(
        policy,
        ("Final-Recipient", f"rfc822; {_addr_spec(fields.logging_address)}"),
        ("Action", fields.reason.action),
        ("Status", fields.reason.status),
        # RFC 3464 §2.3.6 allows extension diagnostic types ("x-…"); ours carries the reason code.
        ("Diagnostic-Code", f"x-emaillog; {fields.reason.code}"),
    )
    part = MIMEPart(policy=policy)
    part["Content-Type"] = "message/delivery-status"
    part.set_payload([per_message, per_recipient])
    return part


def _addr_spec(address: str) -> str:
    # An addr-spec may not hold encoded words (RFC 2047 §5), which the generator wrote for a Unicode
    # domain: the domain's ASCII spelling is its A-labels, as in the SMTP envelope.
    local, at, domain = one_line(address, 320).rpartition("@")
    return f"{local}{at}{ascii_domain(domain)}" if at else domain


def _block(policy: EmailPolicy[EmailMessage], *fields: tuple[str, str]) -> MIMEPart:
    block = MIMEPart(policy=policy)
    for name, value in fields:
        block[name] = value
    return block


def original_part(raw: bytes, small_limit: int, policy: EmailPolicy[EmailMessage]) -> MIMEPart:
    """The whole original when it is small and safe to carry, else its header section."""
    if len(raw) <= small_limit and _fits_smtp(raw) and _nesting_is_shallow(raw):
        whole = _whole_original(raw, policy)
        if _serialises(whole):
            return whole
    return _original_headers(raw, small_limit, policy)


def _serialises(part: MIMEPart) -> bool:
    # Some broken originals parse but cannot be written back (an 8-bit byte in a multipart preamble
    # comes back as U+FFFD, which the bytes generator refuses): then only the headers are carried.
    try:
        part.as_bytes()
    except (UnicodeError, ValueError, LookupError, TypeError):
        return False
    return True


def _fits_smtp(raw: bytes) -> bool:
    # message/rfc822 may not be base64- or QP-encoded (RFC 2046 §5.2.1), so the original must already
    # fit SMTP: no NUL, no line over 998 octets. Otherwise only its headers are returned.
    if b"\x00" in raw:
        return False
    return all(len(line) <= _MAX_LINE for line in _NEWLINE.split(raw))


def _nesting_is_shallow(raw: bytes) -> bool:
    # The generator recurses once per nested multipart or message part; a hostile original nested
    # hundreds deep would exhaust the stack when the notice is serialised. Every level needs its own
    # declaration, so counting declarations bounds the depth without parsing anything.
    return len(_CONTAINER.findall(raw)) <= _MAX_CONTAINERS


def _whole_original(raw: bytes, policy: EmailPolicy[EmailMessage]) -> MIMEPart:
    part = MIMEPart(policy=policy)
    part["Content-Type"] = "message/rfc822"
    part["Content-Transfer-Encoding"] = "7bit" if raw.isascii() else "8bit"
    # compat32 keeps the original's headers as the raw strings they were, and the notice policy
    # (refold_source="none") writes them back unchanged; 8-bit bytes travel through surrogateescape.
    part.set_payload([BytesParser(policy=compat32).parsebytes(raw)])
    return part


def _original_headers(raw: bytes, limit: int, policy: EmailPolicy[EmailMessage]) -> MIMEPart:
    part = MIMEPart(policy=policy)
    text = _HEADER_JUNK.sub("", _header_section(raw, limit).decode("utf-8", "replace"))
    # The content manager picks 7bit, 8bit or quoted-printable, so long hostile lines still travel.
    part.set_content(text, subtype="rfc822-headers", charset="utf-8")
    return part


def _header_section(raw: bytes, limit: int) -> bytes:
    """The header section (up to the first empty line); when over ``limit``, cut at a line end."""
    end = _HEADER_END.search(raw, 0, limit + 4)
    if end is not None:
        section = raw[: end.start()]
    elif len(raw) <= limit:
        section = raw
    else:
        section = raw[:limit]
        cut = section.rfind(b"\n")
        section = section[:cut] if cut > 0 else section
    return section.rstrip(b"\r\n") + b"\n"
