"""Derive the facts the gate rules judge: route, owner, forwarded originals, recipients, plans.

Each derivation leaves a trace entry, so "why?" shows how the route and the owner were found.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..contents import Attachment
from ..forwards import ForwardedMessage, forwards_of, zone_written
from ..message import Email
from ..settings import Settings
from .attribution import attribute
from .identity import fingerprint, identity
from .model import Attribution, EmailPlan, Facts, Lookup, Recipient, Route, TraceEntry, UserRef
from .recipients import classify, contact_plans, contacts_by_then
from .route import detect_route

DEALS_PER_CONTACT = 5


@dataclass(frozen=True, slots=True)
class _Scope:
    email: Email
    settings: Settings
    lookup: Lookup
    never_log: frozenset[str]


def assess(email: Email, settings: Settings, lookup: Lookup) -> tuple[Facts, tuple[TraceEntry, ...]]:
    scope = _Scope(email, settings, lookup, lookup.never_log_entries())
    route, route_entry = detect_route(email, settings)
    sender_key = settings.key(email.sender.address) if email.sender else ""
    attribution = attribute(sender_key, lookup)
    owner = attribution.user.email if attribution.user else None
    found = {"sender": sender_key, "user": owner}
    if attribution.passed_over:
        found["passed_over"] = attribution.passed_over
    owner_entry = TraceEntry("attribution", attribution.user is not None, attribution.rule, found)
    entries = (route_entry, owner_entry, *_content_entry(email))
    if route == "forward":
        facts, forward_entry = _forward_facts(scope, attribution)
        return facts, (*entries, forward_entry)
    return _bcc_facts(scope, attribution), entries


def _content_entry(email: Email) -> tuple[TraceEntry, ...]:
    """A step in the trace only for sealed mail, so "explain" and the log line show why its text is a
    statement instead of its content ("encrypted", "opaque-signed")."""
    sealed = email.sealed
    if sealed is None:
        return ()
    return (TraceEntry("content", True, sealed.label, {"kind": sealed.kind, "form": sealed.form}),)


def _bcc_facts(scope: _Scope, attribution: Attribution) -> Facts:
    email = scope.email
    recipients = classify(
        email.to + email.cc, scope.lookup, scope.settings, may_create=True, never_log=scope.never_log
    )
    plans: tuple[EmailPlan, ...] = ()
    if attribution.user is not None:
        plans = (_plan(scope, attribution.user, "bcc", recipients, _bcc_original(email)),)
    return Facts(email, "bcc", attribution, False, None, recipients, plans, scope.settings.max_body_bytes)


def _bcc_original(email: Email) -> ForwardedMessage:
    """The BCC'd email itself, in the same shape as a forwarded original."""
    return ForwardedMessage(
        sender=email.sender,
        to=email.to,
        cc=email.cc,
        date=email.date,
        date_text=None,
        subject=email.subject,
        body=email.text,
        html=email.html,
        note=None,
        message_id=email.message_id,
        in_reply_to=email.in_reply_to,
        references=email.references,
        source="bcc",
        client_hint=None,
    )


def _forward_facts(scope: _Scope, attribution: Attribution) -> tuple[Facts, TraceEntry]:
    """One plan per forwarded original; an original whose sender is never-log gets none (§6).

    ``original_sender`` is the first sender that may be logged on, else the first one at all, so
    the never-log rule skips the message only when every original came from a listed sender.
    """
    originals = tuple(_in_forwarders_zone(scope, o) for o in forwards_of(scope.email))
    plans: list[EmailPlan] = []
    senders: list[Recipient] = []
    all_recipients: list[Recipient] = []
    for original in originals:
        sender, recipients, outgoing = _original_recipients(scope, original)
        if sender is not None:
            senders.append(sender)
        all_recipients.extend(recipients)
        if sender is not None and sender.excluded == "never-log":
            continue
        if attribution.user is not None:
            plans.append(_plan(scope, attribution.user, "forward", recipients, original, outgoing))
    first_sender = next((s for s in senders if s.excluded != "never-log"), senders[0] if senders else None)
    # An original whose sender has no address (Outlook can write "From: John Doe" alone) cannot be
    # put on anyone's record: as unrecognised, the rep is told to forward it as an attachment.
    readable = any(o.sender is not None for o in originals)
    facts = Facts(
        scope.email,
        "forward",
        attribution,
        readable,
        first_sender,
        tuple(all_recipients),
        tuple(plans),
        scope.settings.max_body_bytes,
    )
    entry = TraceEntry(
        "forwards",
        readable,
        f"{len(originals)} forwarded message(s)",
        {
            "found": [
                {
                    "source": o.source,
                    "client": o.client_hint,
                    "sender": o.sender.address if o.sender else None,
                    "sender_name": o.sender_name,
                    "date": o.date.isoformat() if o.date else None,
                    "date_text": o.date_text,
                }
                for o in originals
            ]
        },
    )
    return facts, entry


def _in_forwarders_zone(scope: _Scope, original: ForwardedMessage) -> ForwardedMessage:
    """An inline date written without a zone is read where the forwarder is.

    Gmail, Outlook and Apple Mail write the original's date in the forwarder's local time and
    leave the zone out; the forwarder's client stamped the forward itself in that same zone. Its
    offset is that of the day of the forward, though: a configured time zone with that offset
    (EMAILLOG_TIME_ZONES) gives the offset of the original's own day, across daylight saving.
    """
    date, stamped = original.date, scope.email.date
    if date is None or stamped is None or original.source == "attachment" or zone_written(original.date_text):
        return original
    offset = stamped.utcoffset()
    zone = next((z for z in scope.settings.time_zones if stamped.astimezone(z).utcoffset() == offset), None)
    return replace(original, date=date.replace(tzinfo=zone or stamped.tzinfo))


def _original_recipients(
    scope: _Scope, original: ForwardedMessage
) -> tuple[Recipient | None, tuple[Recipient, ...], bool]:
    """§5: the customer who wrote becomes a contact; people they copied are only associated.

    When the original sender is one of our users, the rep forwarded their own sent email: it is
    logged as outgoing and its recipients are treated as in §4.
    """
    settings, lookup = scope.settings, scope.lookup
    if original.sender is None:
        return None, (), False
    sender_key = settings.key(original.sender.address)
    if lookup.is_internal(sender_key):
        recipients = classify(
            original.to + original.cc, lookup, settings, may_create=True, never_log=scope.never_log
        )
        return None, recipients, True
    sender = classify([original.sender], lookup, settings, may_create=True, never_log=scope.never_log)[0]
    others = classify(
        [a for a in original.to + original.cc if settings.key(a.address) != sender_key],
        lookup,
        settings,
        may_create=False,
        never_log=scope.never_log,
    )
    return sender, (sender, *others), False


def _plan(
    scope: _Scope,
    owner: UserRef,
    route: Route,
    recipients: tuple[Recipient, ...],
    original: ForwardedMessage,
    outgoing: bool = True,
) -> EmailPlan:
    contacts = contact_plans(recipients)
    deal_ids: dict[int, None] = {}
    for contact in contacts:
        if contact.contact_id is not None:
            for deal in scope.lookup.open_deals(contact.contact_id, DEALS_PER_CONTACT):
                deal_ids[deal.id] = None
    kept, left_out = _split_attachments(
        _attachments_of(scope.email, original), scope.settings.max_attachment_bytes
    )
    return EmailPlan(
        identity=identity(
            original.message_id, original.sender, original.date, original.subject or "", original.body
        ),
        fingerprint=fingerprint(original.sender, original.date, original.subject or "", original.body),
        route=route,
        direction="outgoing" if outgoing else "incoming",
        owner_id=owner.id,
        message_id=original.message_id,
        subject=original.subject or "",
        date=original.date,
        sender=original.sender,
        to=original.to,
        cc=original.cc,
        text=original.body,
        html=original.html,  # made safe: the email's when it was parsed, an original's when it was read
        note=original.note,
        in_reply_to=original.in_reply_to,
        references=original.references,
        attachments=kept,
        left_out=left_out,
        contacts=contacts,
        deal_ids=tuple(deal_ids),
        contacts_if_made=contacts_by_then(recipients),
    )


def _attachments_of(email: Email, original: ForwardedMessage) -> tuple[Attachment, ...]:
    # An attached original carries its own files inside it; the outer files belong to an inline
    # original (the client re-attaches them to the forward) or to the BCC'd email itself.
    if original.source == "attachment":
        return original.attachments
    return email.attachments


def _split_attachments(
    attachments: tuple[Attachment, ...], limit: int
) -> tuple[tuple[Attachment, ...], tuple[Attachment, ...]]:
    return (tuple(a for a in attachments if a.size <= limit), tuple(a for a in attachments if a.size > limit))
