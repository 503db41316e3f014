"""The ledger: what happened to each message seen in an intake folder (SPEC §10).

The row is keyed by (account, mailbox, UIDVALIDITY, UID): a recreated folder reuses UIDs under a new
UIDVALIDITY, so the UID alone is never an identity. The account is part of the key because a mailbox
name is not unique across accounts: two deployments on one database each have a mailbox "default"
unless told otherwise, and two IMAP servers may give their folders the same UIDVALIDITY (Dovecot's is
the second the folder was made). Keyed by name alone, one account's pass took the other's rows for
its own and moved its messages away unlogged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from ..rules.model import Decision, TraceEntry
from .bulk import execute_in, insert_rows, models_in, select_in, write_transaction
from .models import Ledger, utcnow

FINAL_OUTCOMES = ("logged", "skipped", "rejected")
# Per-batch statements as plain SQL (see bulk.select_in).
_ATTEMPTS = (
    'SELECT "uid", "id", "attempts", "failures" FROM "ledger" '
    'WHERE "account_id" = ? AND "mailbox" = ? AND "uidvalidity" = ? AND "uid" IN ({values})'
)
_ROWS = (
    'SELECT * FROM "ledger" '
    'WHERE "account_id" = ? AND "mailbox" = ? AND "uidvalidity" = ? AND "uid" IN ({values})'
)
_DISPOSED = (
    'UPDATE "ledger" SET "disposed" = ?, "updated_at" = ? '
    'WHERE "account_id" = ? AND "mailbox" = ? AND "uidvalidity" = ? AND "uid" IN ({values})'
)
# The ledger's unique key (models.Ledger), the target of its upserts.
_KEY = ("account", "mailbox", "uidvalidity", "uid")


@dataclass(frozen=True, slots=True)
class LedgerKey:
    mailbox: str
    uidvalidity: int
    uid: int

    def __str__(self) -> str:
        return f"{self.mailbox}/{self.uidvalidity}/{self.uid}"


def _of(account_id: int, mailbox: str, uidvalidity: int) -> Any:
    """The condition for the rows of one intake folder of one account's mailbox."""
    return (Ledger.account == account_id) & (Ledger.mailbox == mailbox) & (Ledger.uidvalidity == uidvalidity)


def rows_for(account_id: int, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, Ledger]:
    """The ledger rows of these UIDs, one query per 500.

    In plain SQL (``bulk.models_in``): a pass asks for every UID of the intake folder, and peewee
    spent 63 ms building the queries for 10,000 of them on an empty ledger, at the start of a
    backlog drain, while the parser workers had nothing to do yet.
    """
    rows = models_in(Ledger, _ROWS, (account_id, mailbox, uidvalidity), uids)
    return {row.uid: row for row in rows}


@dataclass(frozen=True, slots=True)
class Attempt:
    ledger_id: int
    number: int  # 1 for the first attempt
    failures: int = 0  # earlier attempts ended by the message's own crash

    @property
    def interrupted(self) -> int:
        """Earlier attempts left unfinished: the process died while on them."""
        return self.number - 1 - self.failures


# Every column without a database default, in the order begin_attempts fills them for a new row.
_NEW_ROW_COLUMNS = (
    "account",
    "mailbox",
    "uidvalidity",
    "uid",
    "outcome",
    "trace_json",
    "attempts",
    "failures",
    "disposed",
    "first_seen",
    "updated_at",
)


def begin_attempts(account_id: int, keys: Iterable[LedgerKey]) -> dict[int, Attempt]:
    """Count an attempt for each message before it is processed; return each UID's row and count.

    Counting first (as Mailman's switchboard does) means a message that crashes the process
    still uses up an attempt, so it cannot loop forever.
    """
    now = utcnow()
    keys = list(keys)
    if not keys:
        return {}
    fresh = ("pending", "[]", 1, 0, False, now, now)
    _count(account_id, keys, _NEW_ROW_COLUMNS, fresh, update=("updated_at",), increment=("attempts",))
    db = Ledger._meta.database
    first = keys[0]
    fixed = (account_id, first.mailbox, first.uidvalidity)
    counted = select_in(db, _ATTEMPTS, fixed, [k.uid for k in keys])
    return {uid: Attempt(row_id, attempts, failures) for uid, row_id, attempts, failures in counted}


def give_back_attempts(account_id: int, keys: Sequence[LedgerKey]) -> None:
    """Undo ``begin_attempts`` for a batch that failed for a reason that was not the messages' own.

    A database, disk or network failure after the count says nothing about the messages; counting
    it would send innocent messages to Error as ``processing-failed`` after a few such failures.
    One transaction: given back whole or not at all, so that a batch owed is never given back twice.
    """
    with write_transaction(Ledger._meta.database):
        _give_back(account_id, keys)


def _give_back(account_id: int, keys: Sequence[LedgerKey]) -> None:
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        first = chunk[0]
        (
            Ledger.update(attempts=Ledger.attempts - 1)
            .where(
                _of(account_id, first.mailbox, first.uidvalidity)
                & Ledger.uid.in_([k.uid for k in chunk])
                & (Ledger.attempts > 0)
                & Ledger.outcome.in_(("pending", "failed"))
            )
            .execute()
        )


# The reason of a "failed" row whose last attempt the server refused to FETCH (count_refused).
FETCH_REFUSED = "fetch-refused"
_REFUSED_COLUMNS = (*_NEW_ROW_COLUMNS[:5], "reason", "detail", *_NEW_ROW_COLUMNS[5:])


def count_refused(account_id: int, keys: Sequence[LedgerKey], detail: str) -> None:
    """Count a failed attempt of each message whose FETCH the server refused (NO, or BYE naming it).

    The refusal happens before (or, for a large message, instead of) the attempt ``begin_attempts``
    counts, so this counts both the attempt and its failure: the messages are then fetched one at a
    time, and the one the server never hands over goes to Error when its failures reach the limit.
    """
    if not keys:
        return
    now = utcnow()
    failed = ("failed", FETCH_REFUSED, detail[:1000], "[]", 1, 1, False, now, now)
    update = ("outcome", "reason", "detail", "updated_at")
    _count(account_id, keys, _REFUSED_COLUMNS, failed, update=update, increment=("attempts", "failures"))


def _count(
    account_id: int,
    keys: Sequence[LedgerKey],
    columns: tuple[str, ...],
    values: tuple[object, ...],
    *,
    update: tuple[str, ...],
    increment: tuple[str, ...],
) -> None:
    """Each key's row made with ``values``, or, if it is there, ``update`` set and ``increment`` added
    to. One transaction: outside one, the driver commits (and SQLite syncs) after every row."""
    rows = [(account_id, k.mailbox, k.uidvalidity, k.uid, *values) for k in keys]
    db = Ledger._meta.database
    with write_transaction(db):
        insert_rows(db, Ledger, columns, rows, conflict=_KEY, update=update, increment=increment)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the recorder writes into one ledger row."""

    key: LedgerKey
    sha256: str | None
    message_id: str | None
    decision: Decision
    folder: str | None
    email_id: int | None
    note: str | None = None  # "duplicate": the email was logged before
    failures: int = 0


_OUTCOME_COLUMNS = (
    "sha256",
    "message_id",
    "outcome",
    "reason",
    "detail",
    "route",
    "owner",
    "trace_json",
    "folder",
    "email",
    "failures",
    "updated_at",
)


# Written only when the row is new (it normally exists already: begin_attempts made it).
_KEY_COLUMNS = ("account", "mailbox", "uidvalidity", "uid", "attempts", "disposed", "first_seen")


def write_outcomes(account_id: int, outcomes: Sequence[Outcome]) -> None:
    """Upsert the ledger rows of a batch (executemany: see store/bulk.py)."""
    now = utcnow()
    insert_rows(
        Ledger._meta.database,
        Ledger,
        _KEY_COLUMNS + _OUTCOME_COLUMNS,
        [_row(account_id, o, now) for o in outcomes],
        conflict=_KEY,
        update=_OUTCOME_COLUMNS,
    )


def _row(account_id: int, o: Outcome, now: datetime) -> tuple[object, ...]:
    """The values of _KEY_COLUMNS then _OUTCOME_COLUMNS, in their order."""
    decision = o.decision
    trace = [entry.as_json() for entry in decision.trace]
    if o.note:
        trace.append(TraceEntry("store", True, o.note, {"email_id": o.email_id}).as_json())
    key = (account_id, o.key.mailbox, o.key.uidvalidity, o.key.uid, 1, False, now)
    return (
        *key,
        o.sha256,
        (o.message_id or "")[:1000] or None,
        decision.outcome,
        o.note if o.note and decision.outcome == "logged" else decision.reason,
        decision.detail,
        decision.route,
        decision.owner.email if decision.owner else None,
        json.dumps(trace, default=str),
        o.folder,
        o.email_id,
        o.failures,
        now,
    )


def settle_vanished(account_id: int, mailbox: str, uidvalidity: int, in_intake: set[int]) -> int:
    """Mark disposed the final rows whose message already left the intake folder.

    A crash (or a lost database) between a MOVE and its ``mark_disposed`` leaves such rows; the
    message itself is already where the row says. Returns how many rows were settled.
    """
    rows = (
        Ledger.select(Ledger.uid)
        .where(_of(account_id, mailbox, uidvalidity) & ~Ledger.disposed & Ledger.outcome.in_(FINAL_OUTCOMES))
        .tuples()
    )
    gone = [uid for (uid,) in rows if uid not in in_intake]
    mark_disposed(account_id, mailbox, uidvalidity, gone)
    return len(gone)


def disposed_to(account_id: int, mailbox: str, folder: str, sha256s: Iterable[str]) -> dict[str, int]:
    """How many messages with each of these SHA-256s the ledger says were put into ``folder``.

    The same bytes delivered twice are two messages, each with its own copy there.
    """
    wanted = sorted(set(sha256s))
    counts: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        query = (
            Ledger.select(Ledger.sha256, fn.COUNT(Ledger.id))
            .where(
                (Ledger.account == account_id)
                & (Ledger.mailbox == mailbox)
                & (Ledger.folder == folder)
                & Ledger.disposed
                & Ledger.outcome.in_(FINAL_OUTCOMES)
                & Ledger.sha256.in_(wanted[start : start + 500])
            )
            .group_by(Ledger.sha256)
            .tuples()
        )
        counts.update(dict(query))
    return counts


_LEFT = (
    'UPDATE "ledger" SET "disposed" = ?, "folder" = NULL, "updated_at" = ? '
    'WHERE "account_id" = ? AND "mailbox" = ? AND "uidvalidity" = ? AND "uid" IN ({values})'
)


def mark_left(account_id: int, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    """Mark disposed, naming no folder, the rows of messages that left the intake folder before
    their move (another mail client expunged or moved them): the row must not say they are where
    they never went."""
    fixed = (True, utcnow(), account_id, mailbox, uidvalidity)
    execute_in(Ledger._meta.database, _LEFT, fixed, uids)


def mark_disposed(account_id: int, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> None:
    fixed = (True, utcnow(), account_id, mailbox, uidvalidity)
    execute_in(Ledger._meta.database, _DISPOSED, fixed, uids)
