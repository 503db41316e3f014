"""Read-only listings for the command line (``--json``): users, team inboxes, companies, deals,
contacts, logged emails, the ledger; and one logged email or one contact in full."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from peewee import JOIN, fn

from .store import Store
from .store.files import attachment_path
from .store.models import (
    Attachment,
    Company,
    Contact,
    ContactAddress,
    Deal,
    DealContact,
    EmailCompany,
    EmailContact,
    EmailDeal,
    Ledger,
    LoggedEmail,
    TeamInbox,
    User,
    UserAddress,
)


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat() if value else None


def users(store: Store) -> list[dict[str, Any]]:
    """Each user with the addresses that make a message theirs (SPEC §4) and what they own."""
    addresses: dict[int, list[UserAddress]] = {}
    for row in UserAddress.select().where(UserAddress.account == store.account_id).order_by(UserAddress.id):
        addresses.setdefault(row.user_id, []).append(row)
    inboxes: dict[int, list[str]] = {}
    for inbox in TeamInbox.select().where(TeamInbox.account == store.account_id).order_by(TeamInbox.address):
        inboxes.setdefault(inbox.connected_by_id, []).append(inbox.address)
    owned = dict(
        LoggedEmail.select(LoggedEmail.owner, fn.COUNT(LoggedEmail.id))
        .where(LoggedEmail.account == store.account_id)
        .group_by(LoggedEmail.owner)
        .tuples()
    )
    query = User.select().where(User.account == store.account_id).order_by(User.email)
    return [_user(u, addresses.get(u.id, []), inboxes.get(u.id, []), owned.get(u.id, 0)) for u in query]


def _user(user: User, addresses: list[UserAddress], inboxes: list[str], emails: int) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "active": user.active,
        "may_log": user.may_log,
        "aliases": [a.address for a in addresses if a.kind == "alias"],
        "connected": [
            {"address": a.address, "connected_at": _iso(a.connected_at)}
            for a in addresses
            if a.kind == "connected"
        ],
        "team_inboxes": inboxes,
        "emails": emails,
    }


def team_inboxes(store: Store) -> list[dict[str, Any]]:
    query = (
        TeamInbox.select(TeamInbox, User)
        .join(User)
        .where(TeamInbox.account == store.account_id)
        .order_by(TeamInbox.address)
    )
    return [
        {"address": i.address, "connected_by": i.connected_by.email, "connected_at": _iso(i.connected_at)}
        for i in query
    ]


def companies(store: Store) -> list[dict[str, Any]]:
    """Each company with the number of contacts whose (primary) company it is."""
    count = fn.COUNT(Contact.id)
    query = (
        Company.select(Company, count.alias("contacts"))
        .join(Contact, JOIN.LEFT_OUTER, on=(Contact.company == Company.id))
        .where(Company.account == store.account_id)
        .group_by(Company.id)
        .order_by(Company.domain)
    )
    return [
        {
            "id": c.id,
            "domain": c.domain,
            "name": c.name,
            "contacts": c.contacts,
            "created": _iso(c.created_at),
        }
        for c in query
    ]


def deals(store: Store) -> list[dict[str, Any]]:
    linked: dict[int, list[str]] = {}
    for deal_id, address in _deal_addresses(store):
        linked.setdefault(deal_id, []).append(address)
    query = Deal.select().where(Deal.account == store.account_id).order_by(Deal.id)
    return [_deal(d, sorted(set(linked.get(d.id, [])))) for d in query]


def _deal_addresses(store: Store) -> list[tuple[int, str]]:
    """(deal id, contact address) for every contact linked to one of the account's deals."""
    query = (
        DealContact.select(DealContact.deal, ContactAddress.address)
        .join(Deal)
        .switch(DealContact)
        .join(ContactAddress, on=(ContactAddress.contact == DealContact.contact))
        .where(Deal.account == store.account_id)
        .tuples()
    )
    return list(query)


def _deal(deal: Deal, contacts: list[str]) -> dict[str, Any]:
    return {**_deal_row(deal), "contacts": contacts}


def _deal_row(deal: Deal) -> dict[str, Any]:
    state = "open" if deal.is_open else "closed"
    return {"id": deal.id, "name": deal.name, "state": state, "created": _iso(deal.created_at)}


def contacts(store: Store) -> list[dict[str, Any]]:
    addresses: dict[int, list[str]] = {}
    for row in (
        ContactAddress.select().where(ContactAddress.account == store.account_id).order_by(ContactAddress.id)
    ):
        addresses.setdefault(row.contact_id, []).append(row.address)
    query = (
        Contact.select(Contact, Company)
        .join(Company, JOIN.LEFT_OUTER)
        .where(Contact.account == store.account_id)
        .order_by(Contact.id)
    )
    return [
        {
            "id": c.id,
            "addresses": addresses.get(c.id, []),
            "name": c.name,
            "company": c.company.domain if c.company else None,
        }
        for c in query
    ]


def emails(store: Store) -> list[dict[str, Any]]:
    query = (
        LoggedEmail.select(LoggedEmail, User)
        .join(User)
        .where(LoggedEmail.account == store.account_id)
        .order_by(LoggedEmail.id)
    )
    return [_email(e) for e in query]


def _email(e: LoggedEmail) -> dict[str, Any]:
    contacts = (
        ContactAddress.select(ContactAddress.address)
        .join(EmailContact, on=(EmailContact.contact == ContactAddress.contact))
        .where(EmailContact.email == e.id)
        .order_by(ContactAddress.id)
    )
    companies = Company.select(Company.domain).join(EmailCompany).where(EmailCompany.email == e.id)
    deals = (
        Deal.select(Deal.name).join(EmailDeal).where(EmailDeal.email == e.id).order_by(Deal.created_at.desc())
    )
    attachments = Attachment.select().where(Attachment.email == e.id).order_by(Attachment.id)
    return {
        "id": e.id,
        "route": e.route,
        "direction": e.direction,
        "owner": e.owner.email,
        "message_id": e.message_id,
        "subject": e.subject,
        "date": _iso(e.date),
        "from": e.from_address,
        "to": [a["address"] for a in json.loads(e.to_json)],
        "cc": [a["address"] for a in json.loads(e.cc_json)],
        "contacts": sorted({c.address for c in contacts}),
        "companies": sorted({c.domain for c in companies}),
        "deals": [d.name for d in deals],
        "thread_parent": e.thread_parent_id,
        "note": e.note,
        "attachments": [
            {
                "filename": a.filename,
                "size": a.size,
                "logged": a.logged,
                "sha256": a.sha256,
                "content_id": a.content_id,
            }
            for a in attachments
        ],
    }


def email_detail(store: Store, email_id: int) -> dict[str, Any] | None:
    """Everything stored about one of the account's logged emails; None when there is no such email."""
    email = (
        LoggedEmail.select(LoggedEmail, User)
        .join(User)
        .where((LoggedEmail.account == store.account_id) & (LoggedEmail.id == email_id))
        .get_or_none()
    )
    if email is None:
        return None
    attachments = Attachment.select().where(Attachment.email == email.id).order_by(Attachment.id)
    return {
        **_email(email),
        "owner_name": email.owner.name,
        "from_name": email.from_name,
        "in_reply_to": email.in_reply_to,
        "references": json.loads(email.references_json),
        "logged_at": _iso(email.created_at),
        "attachments": [_attachment(store, a) for a in attachments],
        "text_body": email.text_body,
        "html_body": email.html_body,
    }


def _attachment(store: Store, a: Attachment) -> dict[str, Any]:
    # A file left out (over the size limit) was never written: it has no path.
    path = attachment_path(store.recorder.attachments_dir, a.sha256) if a.logged else None
    return {
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "logged": a.logged,
        "sha256": a.sha256,
        "path": str(path) if path else None,
        # What the HTML's "cid:" URLs name this file by: a CRM shows the picture from ``path``.
        "content_id": a.content_id,
    }


def contact_detail(store: Store, address_key: str) -> dict[str, Any] | None:
    """The contact with the address ``address_key``, its company, deals and logged emails."""
    row = ContactAddress.get_or_none(
        (ContactAddress.account == store.account_id) & (ContactAddress.address == address_key)
    )
    if row is None:
        return None
    contact = (
        Contact.select(Contact, Company).join(Company, JOIN.LEFT_OUTER).where(Contact.id == row.contact_id)
    )
    found = contact.get()
    addresses = ContactAddress.select().where(ContactAddress.contact == found.id).order_by(ContactAddress.id)
    company = found.company
    return {
        "id": found.id,
        "name": found.name,
        "addresses": [a.address for a in addresses],
        "company": {"domain": company.domain, "name": company.name} if company else None,
        "created": _iso(found.created_at),
        "deals": _contact_deals(found.id),
        "emails": _contact_emails(store, found.id),
    }


def _contact_deals(contact_id: int) -> list[dict[str, Any]]:
    query = Deal.select().join(DealContact).where(DealContact.contact == contact_id).order_by(Deal.id)
    return [_deal_row(d) for d in query]


def _contact_emails(store: Store, contact_id: int) -> list[dict[str, Any]]:
    query = (
        LoggedEmail.select(LoggedEmail, User)
        .join(User)
        .switch(LoggedEmail)
        .join(EmailContact, on=(EmailContact.email == LoggedEmail.id))
        .where((EmailContact.contact == contact_id) & (LoggedEmail.account == store.account_id))
        .order_by(LoggedEmail.id)
    )
    return [
        {
            "id": e.id,
            "date": _iso(e.date),
            "direction": e.direction,
            "owner": e.owner.email,
            "subject": e.subject,
        }
        for e in query
    ]


def ledger(store: Store, outcome: str | None = None) -> list[dict[str, Any]]:
    query = Ledger.select().where(Ledger.account == store.account_id)
    if outcome:
        query = query.where(Ledger.outcome == outcome)
    return [ledger_row(row) for row in query.order_by(Ledger.id)]


def ledger_row(row: Ledger) -> dict[str, Any]:
    return {
        "id": row.id,
        "mailbox": row.mailbox,
        "uidvalidity": row.uidvalidity,
        "uid": row.uid,
        "message_id": row.message_id,
        "outcome": row.outcome,
        "reason": row.reason,
        "detail": row.detail,
        "route": row.route,
        "owner": row.owner,
        "folder": row.folder,
        "attempts": row.attempts,
        "failures": row.failures,
        "disposed": row.disposed,
        "email_id": row.email_id,
        "sha256": row.sha256,
        "updated_at": _iso(row.updated_at),
    }
