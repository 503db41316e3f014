"""The writes of one batch, inside the recorder's transaction (recorder.py), made in bulk.

Lookups are made per batch (one query for all identities, one for all contact addresses …) and
associations are inserted together: a statement per row was most of the database time. Besides writing
the emails and their attachments, it finds which emails are new (sameness: by identity, Message-ID or
fingerprint), threads them (SPEC §9), makes the contacts and companies they name (SPEC §7), and
writes the ledger rows and queues the notices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from peewee import Model

from ..addresses import Address
from ..contents import Attachment as ContentsAttachment
from ..rules.model import ContactPlan, EmailPlan
from .bulk import insert_returning, insert_rows, select_in
from .ledger import Outcome, write_outcomes
from .models import (
    Attachment,
    Contact,
    ContactAddress,
    EmailCompany,
    EmailContact,
    EmailDeal,
    LoggedEmail,
    to_utc_naive,
    utcnow,
)
from .outbox import enqueue, outbox_recipient, sent_today
from .sameness import Author, joined_in_batch, reused_message_ids, stored_author
from .threads import EMAILS_BY_MESSAGE_ID, Threads

if TYPE_CHECKING:
    from .recorder import Recorder, Result


# The batch's lookups, as plain SQL (see bulk.select_in); every one within the account.
_EMAILS_BY_IDENTITY = (
    'SELECT "identity", "id", "from_address", "date" FROM "logged_email" '
    'WHERE "account_id" = ? AND "identity" IN ({values})'
)
_EMAILS_BY_FINGERPRINT = (
    'SELECT "fingerprint", "id", "identity", "message_id" FROM "logged_email" '
    'WHERE "account_id" = ? AND "fingerprint" IN ({values})'
)
_CONTACTS_BY_ADDRESS = (
    'SELECT a."address", c."id", c."company_id" FROM "contact_address" AS a '
    'JOIN "contact" AS c ON c."id" = a."contact_id" WHERE a."account_id" = ? AND a."address" IN ({values})'
)
_EMAIL_FIELDS = (
    "account",
    "identity",
    "fingerprint",
    "route",
    "direction",
    "owner",
    "message_id",
    "subject",
    "date",
    "from_address",
    "from_name",
    "to_json",
    "cc_json",
    "text_body",
    "html_body",
    "note",
    "in_reply_to",
    "references_json",
    "thread_parent",
    "created_at",
)
_ATTACHMENT_FIELDS = ("email", "filename", "content_type", "size", "sha256", "logged", "content_id")


class _BatchWriter:
    """The writes of one batch, inside the recorder's transaction."""

    def __init__(self, recorder: Recorder, results: Sequence[Result]) -> None:
        self.r = recorder
        self.results = results
        self.plans = [plan for result in results for plan in result.decision.plans]
        self.emails: dict[str, int] = {}  # identity -> email id
        # Each plan's identity as stored (by id() of the plan): its own, or the one sameness gave it.
        self.key: dict[int, str] = {id(plan): plan.identity for plan in self.plans}
        self.authors: dict[str, Author] = {}  # stored identity -> who sent it when (see sameness)
        self.writers: set[int] = set()  # the plans (by id()) whose email this batch inserts
        self.gained: dict[str, int] = {}  # Message-ID -> stored email that took it (_give_message_ids)
        self.threads = Threads(recorder.db, recorder.account_id)
        self.files: dict[str, ContentsAttachment] = {}  # sha256 -> a file the inserted rows name
        self.contacts: dict[str, tuple[int, int | None]] = {}  # address key -> (contact id, company id)
        self.companies: dict[str, int | None] = {}  # domain -> company id
        self.links: dict[type[Model], set[tuple[int, int]]] = {
            EmailContact: set(),
            EmailCompany: set(),
            EmailDeal: set(),
        }

    def write(self) -> None:
        self.results = self._within_daily_limit()
        self._load_existing()
        self._create_emails()
        outcomes = [self._result(result) for result in self.results]
        self._insert_links()
        write_outcomes(self.r.account_id, outcomes)
        for result in self.results:
            if result.notice is not None:
                n = result.notice
                enqueue(
                    self.r.account_id,
                    f"{self.r.account_name}|{result.key}",
                    n.reason,
                    n.recipient.address,
                    n.message_id,
                    n.raw,
                )

    def _within_daily_limit(self) -> list[Result]:
        """The results, each notice over its rep's daily limit (SPEC §11) dropped: counted again here.

        The planner counted the notices queued before the batch was decided. Another mailbox of the
        account recording meanwhile had queued its own by then, unseen: two mailboxes each refusing a
        rep's mail at once queued the limit twice over. Here, after the account's batches before this
        one committed (``Recorder._one_batch_of_the_account_at_a_time``; SQLite's write lock), the
        count is the true one.
        """
        limit = self.r.notice_daily_limit
        if limit is None:
            return list(self.results)
        counts: dict[str, int] = {}
        kept = []
        for result in self.results:
            notice = result.notice
            if notice is None:
                kept.append(result)
                continue
            recipient = outbox_recipient(notice.recipient.address)
            if recipient not in counts:
                counts[recipient] = sent_today(self.r.account_id, recipient)
            if counts[recipient] >= limit:
                kept.append(_without_notice(result, "suppressed-daily-limit"))
            else:
                counts[recipient] += 1
                kept.append(result)
        return kept

    def _load_existing(self) -> None:
        db, account = self.r.db, self.r.account_id
        self._load_identities(sorted(set(self.key.values())))
        # A Message-ID already taken by another sender's email: the plan is known by its fingerprint.
        moved = reused_message_ids(self.plans, self.authors)
        self.key.update(moved)
        self._load_identities(sorted(set(moved.values()) - set(self.emails)))
        self._match_fingerprints()
        keys = sorted({c.key for plan in self.plans for c in (*plan.contacts, *plan.contacts_if_made)})
        rows = select_in(db, _CONTACTS_BY_ADDRESS, (account,), keys)
        self.contacts.update({address: (cid, company) for address, cid, company in rows})
        self.threads.load(self.plans)

    def _load_identities(self, identities: list[str]) -> None:
        """The stored emails known by ``identities``, and who sent each when (see sameness)."""
        rows = select_in(self.r.db, _EMAILS_BY_IDENTITY, (self.r.account_id,), identities)
        self.emails.update({identity: email_id for identity, email_id, _, _ in rows})
        self.authors.update({identity: stored_author(sender, date) for identity, _, sender, date in rows})

    def _match_fingerprints(self) -> None:
        """SPEC §9: a BCC'd email later forwarded inline (no Message-ID on one side) is one email.

        A fingerprint only joins two copies when one of them is known by its fingerprint alone, so
        two emails with different Message-IDs are never merged.
        """
        unmatched = [p for p in self.plans if self.key[id(p)] not in self.emails]
        prints = sorted({p.fingerprint for p in unmatched})
        rows = select_in(self.r.db, _EMAILS_BY_FINGERPRINT, (self.r.account_id,), prints)
        found = {fp: (email_id, ident, mid) for fp, email_id, ident, mid in rows}
        gains: dict[str, tuple[int, str]] = {}  # identity -> (stored email known by fingerprint, Message-ID)
        for plan in unmatched:
            match, key = found.get(plan.fingerprint), self.key[id(plan)]
            if match and (key.startswith("fp:") or match[1].startswith("fp:")):
                self.emails[key] = match[0]
                if key.startswith("mid:") and match[2] is None and plan.message_id:
                    gains[key] = (match[0], plan.message_id)
        self._give_message_ids(gains)
        still_new = [p for p in unmatched if self.key[id(p)] not in self.emails]
        self.key.update(joined_in_batch(still_new, self.key))

    def _give_message_ids(self, gains: dict[str, tuple[int, str]]) -> None:
        """An email logged from an inline forward (known by its fingerprint) takes the Message-ID of
        a copy that carries one, so replies to it are threaded (SPEC §9) and later copies are known
        by it. Not when another stored email holds that Message-ID: the first to have it keeps it
        (see sameness). The copy matched by fingerprint, so its sender and minute agree already."""
        wanted = sorted({message_id for _, message_id in gains.values()})
        held = {mid for mid, _ in select_in(self.r.db, EMAILS_BY_MESSAGE_ID, (self.r.account_id,), wanted)}
        for identity, (email_id, message_id) in gains.items():
            if message_id not in held:
                held.add(message_id)
                self.gained[message_id] = email_id
                LoggedEmail.update(identity=identity, message_id=message_id).where(
                    LoggedEmail.id == email_id
                ).execute()

    def _result(self, result: Result) -> Outcome:
        stored = [self._plan(plan) for plan in result.decision.plans]
        duplicate = bool(stored) and all(dup for _, dup in stored)
        return Outcome(
            result.key,
            result.sha256,
            result.message_id,
            result.decision,
            result.folder,
            stored[0][0] if stored else None,
            "duplicate" if duplicate else None,
            result.failures,
        )

    def _plan(self, plan: EmailPlan) -> tuple[int, bool]:
        email_id = self.emails[self.key[id(plan)]]
        # In batch order: a contact made by an earlier message of the batch is in self.contacts.
        made = tuple(c for c in plan.contacts_if_made if c.key in self.contacts)
        for contact in (*plan.contacts, *made):
            contact_id, company_id = self._contact(contact)
            self.links[EmailContact].add((email_id, contact_id))
            if company_id is not None:
                self.links[EmailCompany].add((email_id, company_id))
        self.links[EmailDeal].update((email_id, deal_id) for deal_id in plan.deal_ids)
        # A copy is a duplicate unless it is the one that wrote the email (an earlier batch's, or
        # another copy of this batch, may have).
        return email_id, id(plan) not in self.writers

    def _create_emails(self) -> None:
        """Insert the batch's new emails in one statement each 200, then their attachments."""
        new: dict[str, EmailPlan] = {}
        for plan in self.plans:
            key = self.key[id(plan)]
            # Of copies joined in the batch, the one known by that identity itself is written.
            if key not in self.emails and (key not in new or plan.identity == key != new[key].identity):
                new[key] = plan
        self.writers.update(id(plan) for plan in new.values())
        db = self.r.db
        rows = [self._email_row(key, plan) for key, plan in new.items()]
        for identity, email_id in insert_returning(db, LoggedEmail, _EMAIL_FIELDS, rows, ("identity", "id")):
            self.emails[identity] = int(email_id)
        created = {key: (self.emails[key], plan) for key, plan in new.items()}
        self.threads.link_within_batch(created)
        self.threads.adopt_earlier_replies(created, self.gained)
        files = [
            (self.emails[key], a.filename, a.content_type, a.size, a.sha256, logged, a.content_id)
            for key, plan in new.items()
            for logged, group in ((True, plan.attachments), (False, plan.left_out))
            for a in group
        ]
        insert_rows(db, Attachment, _ATTACHMENT_FIELDS, files)
        self.files.update((a.sha256, a) for plan in new.values() for a in plan.attachments)

    def _email_row(self, identity: str, plan: EmailPlan) -> tuple[object, ...]:
        sender = plan.sender
        return (
            self.r.account_id,
            identity,
            plan.fingerprint,
            plan.route,
            plan.direction,
            plan.owner_id,
            plan.message_id,
            plan.subject[:10000],
            to_utc_naive(plan.date),
            sender.address if sender else None,
            sender.name if sender else None,
            _addresses_json(plan.to),
            _addresses_json(plan.cc),
            plan.text,
            plan.html,
            plan.note,
            plan.in_reply_to,
            json.dumps(list(plan.references)),
            self.threads.parent(plan),
            utcnow(),
        )

    def _contact(self, plan: ContactPlan) -> tuple[int, int | None]:
        """The contact's id and its primary company's id, creating what is missing (SPEC §7)."""
        if plan.key not in self.contacts:
            if plan.contact_id is not None:
                contact = Contact.get_by_id(plan.contact_id)
                self.contacts[plan.key] = (contact.id, contact.company_id)
            else:
                self.contacts[plan.key] = self._create_contact(plan)
        contact_id, company_id = self.contacts[plan.key]
        if company_id is None and plan.company_domain:
            self.contacts[plan.key] = (contact_id, self._give_company(contact_id, plan.company_domain))
        return self.contacts[plan.key]

    def _give_company(self, contact_id: int, domain: str) -> int | None:
        """SPEC §7: a contact made without a company (companies were not created then, or its
        domain's came later) gets its domain's company as its first, so primary, one."""
        company_id = self._company(domain)
        if company_id is not None:
            Contact.update(company=company_id).where(
                (Contact.id == contact_id) & Contact.company.is_null()
            ).execute()
        return company_id

    def _create_contact(self, plan: ContactPlan) -> tuple[int, int | None]:
        company_id = self._company(plan.company_domain) if plan.company_domain else None
        contact_id = int(
            Contact.insert(account=self.r.account_id, name=plan.name, company=company_id).execute()
        )
        ContactAddress.insert(account=self.r.account_id, contact=contact_id, address=plan.key).execute()
        return contact_id, company_id

    def _company(self, domain: str) -> int | None:
        if domain not in self.companies:
            self.companies[domain] = self.r.ensure_company(domain)
        return self.companies[domain]

    def _insert_links(self) -> None:
        for model, pairs in self.links.items():
            fields = tuple(f.name for f in model._meta.sorted_fields if f.name != "id")
            insert_rows(self.r.db, model, fields, sorted(pairs), conflict=fields)


def _addresses_json(addresses: Sequence[Address]) -> str:
    return json.dumps([{"name": a.name, "address": a.address} for a in addresses])


def _without_notice(result: Result, why: str) -> Result:
    """``result`` with no notice, its trace saying why (as the planner's own suppressions do)."""
    trace = tuple(
        replace(entry, hit=False, reason=why) if entry.rule == "notice" else entry
        for entry in result.decision.trace
    )
    return replace(result, notice=None, decision=replace(result.decision, trace=trace))
