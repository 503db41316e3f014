"""The values a notice template may use, each made safe for one line of plain text.

Always present: ``$title $reason $status $subject $sender $recipient $logging_address $bcc_address
$arrival $message_id $original_note``. ``$logging_address`` is the address the message was sent to
(the forwarding address for a forward), ``$bcc_address`` the one to BCC. From the request's details,
with a readable default when absent: ``$attachments`` (one line per left-out file: name and size),
``$limit``, ``$body_size``, ``$detail``, ``$attempts``, ``$original_sender``, ``$recipients`` (one line
per recipient left out, and why), ``$encryption`` (S/MIME or OpenPGP, for a forward that came encrypted).
Any other detail whose key is an identifier is passed through as
text; integers under keys ending in ``size`` or ``limit`` are shown as sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from emaillog.addresses import Address
from emaillog.notices.reasons import Reason
from emaillog.notices.text import human_size, one_line

_DEFAULTS: Mapping[str, str] = {
    "attachments": "  - (the file names were not recorded)",
    "limit": "the configured limit",
    "body_size": "over the limit",
    "detail": "its structure is damaged or beyond the limits",
    "attempts": "several",
    "original_sender": "the original sender",
    "recipients": "  - (the recipients were not recorded)",
    "encryption": "S/MIME or OpenPGP",
}
_MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class Facts:
    """What the builder knows about the original, already validated by the request."""

    reason: Reason
    subject: str
    recipient: Address
    logging_address: str
    bcc_address: str
    arrival: datetime
    message_id: str | None
    whole_original: bool
    details: Mapping[str, object]


def template_values(facts: Facts) -> dict[str, str]:
    values = dict(_DEFAULTS)
    values.update(_base_values(facts))
    values.update(_detail_values(facts.details))
    return values


def _base_values(facts: Facts) -> dict[str, str]:
    return {
        "title": facts.reason.title,
        "reason": facts.reason.code,
        "status": facts.reason.status,
        "subject": facts.subject,
        "sender": one_line(facts.recipient.address, 320),
        "recipient": one_line(str(facts.recipient), 400),
        "logging_address": one_line(facts.logging_address, 320),
        "bcc_address": one_line(facts.bcc_address, 320),
        "arrival": format_datetime(facts.arrival),
        # The texts that show it ask the rep to quote it to the administrator: without one, what
        # finds the message instead (in the Error folder, by its subject and date).
        "message_id": facts.message_id or "(none: quote the subject and the time received above)",
        "original_note": (
            "The original message is attached below."
            if facts.whole_original
            else "The original message headers are attached below."
        ),
    }


def _detail_values(details: Mapping[str, object]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in details.items():
        if key.isidentifier():
            values[key] = _render(key, value)
    return values


def _render(key: str, value: object) -> str:
    if key == "attachments" and isinstance(value, Sequence) and not isinstance(value, str):
        return attachment_lines(value)
    if key == "recipients" and isinstance(value, Mapping):
        return recipient_lines(value)
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("size", "limit")):
        return human_size(value)
    return one_line(str(value), 500)


def attachment_lines(items: Sequence[object]) -> str:
    """``  - name (size)`` per file; file names are hostile text, so each is flattened and bounded."""
    lines = [_attachment_line(item) for item in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        lines.append(f"  - … and {len(items) - _MAX_LISTED} more")
    return "\n".join(lines) or _DEFAULTS["attachments"]


def recipient_lines(left_out: Mapping[object, object]) -> str:
    """``  - address (why)`` per recipient; addresses come from the message, so each is flattened."""
    items = list(left_out.items())
    lines = [f"  - {one_line(str(a), 320)} ({one_line(str(why), 60)})" for a, why in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        lines.append(f"  - … and {len(items) - _MAX_LISTED} more")
    return "\n".join(lines) or _DEFAULTS["recipients"]


def _attachment_line(item: object) -> str:
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
        name, size = item
        shown = one_line(str(name), 120) or "(unnamed)"
        if isinstance(size, int):
            return f"  - {shown} ({human_size(size)})"
        return f"  - {shown}"
    return f"  - {one_line(str(item), 120)}"
