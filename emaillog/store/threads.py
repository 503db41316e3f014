"""Threads (SPEC §9: replies are linked by In-Reply-To/References), for one batch being recorded.

A reply is linked to the most recent logged email it answers: one stored before the batch, one of
the batch itself once both have ids, or, for a reply logged before the email it answers (a rep BCCs
her answer, then forwards the customer's email), the stored reply is linked when that email arrives.
Emails may name each other (forged or broken In-Reply-To/References): a link that would close a
loop is never made, so walking up a thread always ends.
"""

from __future__ import annotations

from peewee import Database

from ..rules.model import EmailPlan
from .bulk import select_in
from .models import LoggedEmail

# The stored emails holding some Message-IDs, newest first (see Threads.load).
EMAILS_BY_MESSAGE_ID = (
    'SELECT "message_id", "id" FROM "logged_email" '
    'WHERE "account_id" = ? AND "message_id" IN ({values}) ORDER BY "id" DESC'
)
# Stored replies to some emails (schema v15's index). Those still without a parent are picked out
# in Python: with "thread_parent_id" IS NULL in the query, SQLite searched the thread_parent_id index
# instead, every unthreaded email of the database.
_REPLIES_BY_IN_REPLY_TO = (
    'SELECT "id", "in_reply_to", "thread_parent_id" FROM "logged_email" '
    'WHERE "account_id" = ? AND "in_reply_to" IN ({values}) ORDER BY "id"'
)
# Whether walking up the thread from an email (the first ?) meets another (the third), at most the
# second ? steps up: the walk's length and whether it met it. Threads are never loops: the bound
# only keeps a broken database from holding the batch up.
_THREAD_REACHES = (
    'WITH RECURSIVE "up"("id", "depth") AS (SELECT ?, 0 UNION ALL '
    'SELECT e."thread_parent_id", "up"."depth" + 1 FROM "logged_email" AS e JOIN "up" ON e."id" = "up"."id" '
    'WHERE e."thread_parent_id" IS NOT NULL AND "up"."depth" < ?) '
    'SELECT MAX("depth"), MAX(CASE WHEN "id" = ? THEN 1 ELSE 0 END) FROM "up"'
)
_THREAD_WALK_LIMIT = 1000

# The batch's new emails: identity -> (email id, plan).
Created = dict[str, tuple[int, EmailPlan]]


class Threads:
    """The Message-IDs a batch's replies answer, and the links made once its emails have ids."""

    def __init__(self, db: Database, account_id: int) -> None:
        self.db = db
        self.account_id = account_id
        self.known: dict[str, int] = {}  # Message-ID -> the email holding it

    def load(self, plans: list[EmailPlan]) -> None:
        """The stored emails the batch's emails answer."""
        wanted = sorted({m for p in plans for m in (p.in_reply_to, *p.references[-20:]) if m})
        # Newest first, so the dict keeps the oldest: of several emails under one Message-ID, the
        # first logged had it first; a later one reused it (see sameness).
        self.known = dict(select_in(self.db, EMAILS_BY_MESSAGE_ID, (self.account_id,), wanted))

    def parent(self, plan: EmailPlan) -> int | None:
        """SPEC §9: the most recent logged email this one answers."""
        return _parent_in(plan, self.known)

    def link_within_batch(self, created: Created) -> None:
        """Replies whose parent arrived in the same batch are linked once both have ids."""
        stored_before = dict(self.known)
        for email_id, plan in created.values():
            if plan.message_id:
                self.known.setdefault(plan.message_id, email_id)
        parents = {email_id: _parent_in(plan, stored_before) for email_id, plan in created.values()}
        for email_id, plan in created.values():
            # The nearest parent may be new in this batch although an older one was known before.
            parent = self.parent(plan)
            if parent != parents[email_id] and not _leads_to(parents, parent, email_id):
                parents[email_id] = parent
                LoggedEmail.update(thread_parent=parent).where(LoggedEmail.id == email_id).execute()

    def adopt_earlier_replies(self, created: Created, gained: dict[str, int]) -> None:
        """Stored replies logged before the email they answer are linked to it now.

        Only an email that is the first of the account to hold its Message-ID adopts them: a later
        one reused it (see sameness); so does a stored email that gained its Message-ID in this
        batch (``gained``: Message-ID -> email). Replies created in this batch were linked by
        ``link_within_batch``.
        """
        new_ids = {email_id for email_id, _ in created.values()}
        holders = new_ids | set(gained.values())
        wanted = {plan.message_id for _, plan in created.values() if plan.message_id} | set(gained)
        rows = select_in(self.db, _REPLIES_BY_IN_REPLY_TO, (self.account_id,), sorted(wanted))
        waiting = [
            (email_id, mid) for email_id, mid, parent in rows if parent is None and email_id not in new_ids
        ]
        if not waiting:
            return  # almost every batch: one query
        # Newest first, so the dict keeps the oldest holder of each Message-ID (as in load).
        oldest = dict(
            select_in(self.db, EMAILS_BY_MESSAGE_ID, (self.account_id,), sorted({m for _, m in waiting}))
        )
        for email_id, message_id in waiting:
            parent = oldest[message_id]
            # In id order, each link made before the next is checked: two links that are each
            # harmless alone may close a loop together.
            if parent in holders and not self._reaches(parent, email_id):
                LoggedEmail.update(thread_parent=parent).where(LoggedEmail.id == email_id).execute()

    def _reaches(self, start: int, target: int) -> bool:
        """Whether walking up the stored thread from ``start`` meets ``target`` (or may: too long)."""
        sql = _THREAD_REACHES.replace("?", self.db.param)
        depth, met = self.db.execute_sql(sql, (start, _THREAD_WALK_LIMIT, target)).fetchone()
        return bool(met) or depth >= _THREAD_WALK_LIMIT


def _parent_in(plan: EmailPlan, known: dict[str, int]) -> int | None:
    return next((known[m] for m in (plan.in_reply_to, *reversed(plan.references)) if m in known), None)


def _leads_to(parents: dict[int, int | None], start: int | None, target: int) -> bool:
    """Whether following ``parents`` up from ``start`` reaches ``target`` (``start`` itself included).
    Emails stored before the batch are not in ``parents``: their own parents are older still."""
    seen: set[int] = set()
    while start is not None and start not in seen:
        if start == target:
            return True
        seen.add(start)
        start = parents.get(start)
    return False
