"""The value a forward reader returns: the original message, recovered from a forward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from emaillog.addresses import Address
from emaillog.contents import Attachment
from emaillog.pickling import pickled_by_fields


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ForwardedMessage:
    """The original message inside a forward, and the forwarder's own note kept apart."""

    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    date_text: str | None
    subject: str | None
    body: str
    html: str | None
    note: str | None
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    source: str
    client_hint: str | None
    # Some clients write only a display name ("From: John Doe"). No contact can be made from it,
    # but it is still what the rep saw, so it is kept beside the address fields rather than lost.
    sender_name: str | None = None
    to_names: tuple[str, ...] = ()
    # An attached original's own files (its parts, not the outer forward's). An inline original's
    # files are the outer message's attachments: the rules take them from there.
    attachments: tuple[Attachment, ...] = ()
