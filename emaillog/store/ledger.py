"""The ledger: what happened to each message seen in an intake folder (SPEC §10).

The row is keyed by (mailbox, UIDVALIDITY, UID): a recreated folder reuses UIDs under a new
UIDVALIDITY, so the UID alone is never an identity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..rules.model import Decision, TraceEntry
from .models import Ledger, utcnow

FINAL_OUTCOMES = ("logged", "skipped", "rejected")


@dataclass(frozen=True, slots=True)
class LedgerKey:
    mailbox: str
    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.mailbox}/{self.uidvalidity}/{self.uid}"


def rows_for(mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, Ledger]:
    """The ledger rows of these UIDs, fetched in chunks so a large folder stays one query per 500."""
    found: dict[int, Ledger] = {}
    for start in range(0, len(uids), 500):
        chunk = list(uids[start:start + 500])
        query = Ledger.select().where((Ledger.mailbox == mailbox) & (Ledger.uidvalidity == uidvalidity)
                                      & Ledger.uid.in_(chunk))
        found.update({row.uid: row for row in query})
    return found


def begin_attempts(account_id: int, keys: Iterable[LedgerKey]) -> dict[int, int]:
    """Count an attempt for each message before it is processed; return the new counts.

    Counting first (as Mailman's switchboard does) means a message that crashes the process
    still uses up an attempt, so it cannot loop forever.
    """
    now = utcnow()
    rows = [dict(account=account_id, mailbox=k.mailbox, uidvalidity=k.uidvalidity, uid=k.uid, attempts=1,
                 first_seen=now, updated_at=now) for k in keys]
    if not rows:
        return {}
    for start in range(0, len(rows), 200):
        (Ledger.insert_many(rows[start:start + 200])
         .on_conflict(conflict_target=[Ledger.mailbox, Ledger.uidvalidity, Ledger.uid],
                      update={Ledger.attempts: Ledger.attempts + 1, Ledger.updated_at: now})
         .execute())
    first = rows[0]
    current = rows_for(first["mailbox"], first["uidvalidity"], [r["uid"] for r in rows])
    return {uid: row.attempts for uid, row in current.items()}


def write_outcome(account_id: int, key: LedgerKey, sha256: str | None, message_id: str | None,
                  decision: Decision, folder: str | None, email_id: int | None, note: str | None = None) -> None:
    trace = [entry.as_json() for entry in decision.trace]
    if note:
        trace.append(TraceEntry("store", True, note, {"email_id": email_id}).as_json())
    values = dict(
        sha256=sha256, message_id=(message_id or "")[:1000] or None, outcome=decision.outcome,
        reason=note if note and decision.outcome == "logged" else decision.reason,
        detail=decision.detail, route=decision.route, owner=decision.owner.email if decision.owner else None,
        trace_json=json.dumps(trace, default=str), folder=folder, email=email_id, updated_at=utcnow())
    (Ledger.insert(account=account_id, mailbox=key.mailbox, uidvalidity=key.uidvalidity, uid=key.uid,
                   attempts=1, **values)
     .on_conflict(conflict_target=[Ledger.mailbox, Ledger.uidvalidity, Ledger.uid],
                  update={getattr(Ledger, name): value for name, value in values.items()})
     .execute())


def mark_disposed(mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    for start in range(0, len(uids), 500):
        (Ledger.update(disposed=True, updated_at=utcnow())
         .where((Ledger.mailbox == mailbox) & (Ledger.uidvalidity == uidvalidity)
                & Ledger.uid.in_(list(uids[start:start + 500])))
         .execute())
