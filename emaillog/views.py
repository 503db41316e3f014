"""Read-only listings for the command line (``--json``): contacts, logged emails, the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from peewee import JOIN

from .store import Store
from .store.models import (
    Attachment,
    Company,
    Contact,
    ContactAddress,
    Deal,
    EmailCompany,
    EmailContact,
    EmailDeal,
    Ledger,
    LoggedEmail,
    User,
)


def _iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat() if value else None


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
            {"filename": a.filename, "size": a.size, "logged": a.logged, "sha256": a.sha256}
            for a in attachments
        ],
    }


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
