"""record(): the results of one batch written in one transaction, idempotently.

Re-running a batch after a crash writes nothing twice: emails are unique by (account, identity),
contacts by (account, address), associations by their pair, and ledger rows by
(mailbox, UIDVALIDITY, UID). A later delivery of an already logged email only adds associations.
This module owns the transaction (one account's batches one at a time, a batch redone after a
unique violation); the rows themselves are written by ``batchwriter._BatchWriter``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2.errors
from peewee import Database, IntegrityError

from ..rules.model import Decision
from .batchwriter import _BatchWriter
from .bulk import is_postgresql, write_transaction
from .db import SQLITE_PRAGMAS
from .files import store_files
from .ledger import LedgerKey
from .models import Company
from .schema import refuse_newer_in_transaction
from .statistics import PlannerStatistics

if TYPE_CHECKING:
    from ..notices.plan import PlannedNotice

log = logging.getLogger("emaillog.store")

# pg_advisory_xact_lock(_RECORDING, account id): the batches of one account are recorded one at a
# time. The two-key form: lease.py's and schema.py's one-key locks are apart from it in pg_locks.
_RECORDING = 0x656D6C72  # "emlr"
# A batch redone after a unique violation (see Recorder.record) at most this many times more.
_REDOS = 2


@dataclass(frozen=True, slots=True)
class Result:
    """One intake message's decision, ready to be recorded."""

    key: LedgerKey
    sha256: str | None
    message_id: str | None
    decision: Decision
    folder: str | None  # None: stays in the intake folder for another attempt
    notice: PlannedNotice | None = None
    failures: int = 0  # attempts so far ended by the message's own crash, this one included
    seconds: float = 0.0  # from its fetch to its decision, for its log line


class Recorder:
    def __init__(
        self,
        db: Database,
        account_id: int,
        account_name: str,
        data_dir: Path,
        attachments_dir: Path,
        create_companies: bool,
        notice_daily_limit: int | None = None,
    ) -> None:
        self.db = db
        self.account_id = account_id
        self.account_name = account_name
        self.data_dir = data_dir  # its tmp/<pid> holds the files being written
        self.attachments_dir = attachments_dir
        self.create_companies = create_companies
        # Counted again as a batch is recorded (None: notices are off, nothing to count).
        self.notice_daily_limit = notice_daily_limit
        self.statistics = PlannerStatistics()

    def record(self, results: Sequence[Result]) -> None:
        """Every row of the batch in one transaction, committed once the files its rows name are
        stored (fsynced).

        A unique violation means a contact, company or email was written, since the batch looked it
        up, by a transaction that does not wait for the account's batches (an admin command adding a
        company or a deal's contacts, a process of a version before this one): the batch is rolled
        back and redone, its lookups finding that row now. Nothing outside the transaction was done
        yet: the files are stored after every row is written, and a unique index is checked as each
        row is.
        """
        for redo in range(_REDOS + 1):
            try:
                self._record(results)
                break
            except IntegrityError as exc:
                if redo == _REDOS or not _unique_violation(exc):
                    raise
                log.info(
                    "account %s: a batch of %d messages found a row written meanwhile by another "
                    "transaction (%s); it is recorded again",
                    self.account_name,
                    len(results),
                    str(exc).splitlines()[0],
                )
        self.statistics.after_commit(self.db)

    def _record(self, results: Sequence[Result]) -> None:
        """Only the files of the emails the batch writes: a copy of a logged email is a duplicate
        whose rows name the first copy's files, and a file only the copy carried (a mailer sending
        again under one Message-ID) had been stored all the same, named by no row, one more each time.
        """
        with write_transaction(self.db):
            self._one_batch_of_the_account_at_a_time()
            self._wait_for_locks_no_longer_than_sqlite()
            # Before any row: a batch of a process older than the schema is rolled back whole and
            # its messages stay in the intake folder for the newer version (SchemaTooNew stops it).
            refuse_newer_in_transaction(self.db)
            writer = _BatchWriter(self, results)
            writer.write()
            # Inside the transaction, as only it knows which emails are new: a few ms under the
            # write lock, since the spooled files were flushed while the batch was decided
            # (start_syncing) and a failure here rolls the batch back as a failure before it did.
            store_files(self.attachments_dir, self.data_dir, writer.files.values())

    def _wait_for_locks_no_longer_than_sqlite(self) -> None:
        """PostgreSQL: a row lock is waited for at most as long as SQLite's busy timeout.

        An admin's import writing a row the batch writes too (the company of a new domain) made the
        batch wait for the import's commit with no limit: minutes for a big import, past systemd's
        WatchdogSec, which killed the daemon, and each kill counted an attempt against the mail in
        hand. Over the limit the batch fails as the database's trouble (attempts given back, the
        messages left in the intake folder), as on SQLite. Set after the account's batch lock, which
        waits for another mailbox's batch: that one is bounded the same way.
        """
        if is_postgresql(self.db):
            waited = f"{SQLITE_PRAGMAS['busy_timeout']}ms"
            self.db.execute_sql("SELECT set_config('lock_timeout', %s, true)", (waited,))

    def _one_batch_of_the_account_at_a_time(self) -> None:
        """PostgreSQL: wait for the account's batch being recorded (another mailbox's, on another
        thread or process) to commit, so that this one's lookups see what it wrote.

        Two mailboxes of one account given the same email at once (a rep BCCing both, two reps
        forwarding one reply) both found it new: the second insert broke a unique index and its
        pass ended in a traceback, an attempt counted; a BCC'd copy and an inline forward, which
        no unique index joins (SPEC §9: by fingerprint), were both logged. SQLite needs nothing:
        its write lock, taken at BEGIN (``write_transaction``), lets one batch in at a time.
        Held until the commit; one statement per batch.
        """
        if is_postgresql(self.db):
            self.db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", (_RECORDING, self.account_id))

    def ensure_company(self, domain: str, name: str | None = None) -> int | None:
        """The company for ``domain``; created only when creating companies is enabled."""
        found = Company.get_or_none((Company.account == self.account_id) & (Company.domain == domain))
        if found is not None:
            return int(found.id)
        if not self.create_companies:
            return None
        return int(Company.create(account=self.account_id, domain=domain, name=name or domain).id)


def _unique_violation(exc: IntegrityError) -> bool:
    """Whether peewee's IntegrityError is a unique index's (not a foreign key's, a NOT NULL's: bugs
    that redoing the batch would not mend). peewee keeps the driver's error as ``orig``."""
    cause = getattr(exc, "orig", None)
    if isinstance(cause, sqlite3.IntegrityError):
        unique = (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
        return cause.sqlite_errorcode in unique
    return isinstance(cause, psycopg2.errors.UniqueViolation)
