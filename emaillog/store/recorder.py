"""record(): the results of one batch written in one transaction, idempotently.

Re-running a batch after a crash writes nothing twice: emails are unique by (account, identity),
contacts by (account, address), associations by their pair, and ledger rows by
(mailbox, UIDVALIDITY, UID). A later delivery of an already logged email only adds associations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import Database

from ..addresses import Address
from ..rules.model import ContactPlan, Decision, EmailPlan

if TYPE_CHECKING:
    from ..notices.plan import PlannedNotice
from .files import store_file
from .ledger import LedgerKey, write_outcome
from .outbox import enqueue
from .models import (
    Attachment,
    Company,
    Contact,
    ContactAddress,
    EmailCompany,
    EmailContact,
    EmailDeal,
    LoggedEmail,
    to_utc_naive,
)


@dataclass(frozen=True, slots=True)
class Result:
    """One intake message's decision, ready to be recorded."""

    key: LedgerKey
    sha256: str | None
    message_id: str | None
    decision: Decision
    folder: str | None  # None: stays in the intake folder for another attempt
    notice: PlannedNotice | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    key: LedgerKey
    email_ids: tuple[int, ...]
    duplicate: bool


class Recorder:
    def __init__(self, db: Database, account_id: int, account_name: str, attachments_dir: Path,
                 create_companies: bool) -> None:
        self.db = db
        self.account_id = account_id
        self.account_name = account_name
        self.attachments_dir = attachments_dir
        self.create_companies = create_companies

    def record(self, results: Sequence[Result]) -> list[Recorded]:
        """Write files first (fsynced), then every row of the batch in one transaction."""
        for result in results:
            for plan in result.decision.plans:
                for attachment in plan.attachments:
                    store_file(self.attachments_dir, attachment.sha256, attachment.data, attachment.path)
        with self.db.atomic():
            return [self._record_one(result) for result in results]

    def _record_one(self, result: Result) -> Recorded:
        stored = [self._store_plan(plan) for plan in result.decision.plans]
        duplicate = bool(stored) and all(dup for _, dup in stored)
        write_outcome(self.account_id, result.key, result.sha256, result.message_id, result.decision,
                      result.folder, stored[0][0] if stored else None, "duplicate" if duplicate else None)
        notice = result.notice
        if notice is not None:
            enqueue(self.account_id, f"{self.account_name}|{result.key}", notice.reason, notice.recipient.address,
                    notice.message_id, notice.raw)
        return Recorded(result.key, tuple(i for i, _ in stored), duplicate)

    def _store_plan(self, plan: EmailPlan) -> tuple[int, bool]:
        existing = LoggedEmail.get_or_none((LoggedEmail.account == self.account_id)
                                           & (LoggedEmail.identity == plan.identity))
        email = existing or self._create_email(plan)
        for contact in plan.contacts:
            contact_id, company_id = self._ensure_contact(contact)
            EmailContact.insert(email=email.id, contact=contact_id).on_conflict_ignore().execute()
            if company_id is not None:
                EmailCompany.insert(email=email.id, company=company_id).on_conflict_ignore().execute()
        for deal_id in plan.deal_ids:
            EmailDeal.insert(email=email.id, deal=deal_id).on_conflict_ignore().execute()
        return email.id, existing is not None

    def _create_email(self, plan: EmailPlan) -> LoggedEmail:
        email = LoggedEmail.create(
            account=self.account_id, identity=plan.identity, route=plan.route, direction=plan.direction,
            owner=plan.owner_id, message_id=plan.message_id, subject=plan.subject[:10000],
            date=to_utc_naive(plan.date), from_address=plan.sender.address if plan.sender else None,
            from_name=plan.sender.name if plan.sender else None, to_json=_addresses_json(plan.to),
            cc_json=_addresses_json(plan.cc), text_body=plan.text, html_body=plan.html, note=plan.note,
            in_reply_to=plan.in_reply_to, references_json=json.dumps(list(plan.references)),
            thread_parent=self._thread_parent(plan))
        rows = [dict(email=email.id, filename=a.filename, content_type=a.content_type, size=a.size,
                     sha256=a.sha256, logged=True) for a in plan.attachments]
        rows += [dict(email=email.id, filename=a.filename, content_type=a.content_type, size=a.size,
                      sha256=a.sha256, logged=False) for a in plan.left_out]
        if rows:
            Attachment.insert_many(rows).execute()
        return email

    def _thread_parent(self, plan: EmailPlan) -> int | None:
        """SPEC §9: link a reply to the most recent logged email it answers."""
        wanted = [m for m in (plan.in_reply_to, *reversed(plan.references)) if m][:20]
        if not wanted:
            return None
        parent = (LoggedEmail.select(LoggedEmail.id)
                  .where((LoggedEmail.account == self.account_id) & LoggedEmail.message_id.in_(wanted))
                  .order_by(LoggedEmail.id.desc()).first())
        return parent.id if parent else None

    def _ensure_contact(self, plan: ContactPlan) -> tuple[int, int | None]:
        """The contact's id and its primary company's id, creating what is missing."""
        if plan.contact_id is None:
            row = ContactAddress.get_or_none((ContactAddress.account == self.account_id)
                                             & (ContactAddress.address == plan.key))
            if row is not None:
                contact = Contact.get_by_id(row.contact_id)
            else:
                contact = self._create_contact(plan)
        else:
            contact = Contact.get_by_id(plan.contact_id)
        return contact.id, contact.company_id

    def _create_contact(self, plan: ContactPlan) -> Contact:
        company = self.ensure_company(plan.company_domain) if plan.company_domain else None
        contact = Contact.create(account=self.account_id, name=plan.name, company=company)
        ContactAddress.create(account=self.account_id, contact=contact, address=plan.key)
        return contact

    def ensure_company(self, domain: str, name: str | None = None) -> int | None:
        """The company for ``domain``; created only when creating companies is enabled."""
        found = Company.get_or_none((Company.account == self.account_id) & (Company.domain == domain))
        if found is not None:
            return int(found.id)
        if not self.create_companies:
            return None
        return int(Company.create(account=self.account_id, domain=domain, name=name or domain).id)


def _addresses_json(addresses: Sequence[Address]) -> str:
    return json.dumps([{"name": a.name, "address": a.address} for a in addresses])
