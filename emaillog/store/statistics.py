"""PostgreSQL: statistics for a new database's tables once its first batch is in.

PostgreSQL plans a query with the statistics ANALYZE gathers; until autovacuum first analyzes a
table (about a minute after enough rows arrive), it plans blind. A new database's first minute is a
whole backlog drain: its lookup of 200 fingerprints chose a bitmap scan on the ``account_id`` prefix
of the ``in_reply_to`` index and filtered every email of the account, 3.85 ms a batch against
0.45 ms through the fingerprint index once analyzed (10,000 emails, EXPLAIN ANALYZE). So after a
batch is committed, each table the batches' lookups read that has rows and was never analyzed is
analyzed once: a few milliseconds, done by each recorder at most once per table.
"""

from __future__ import annotations

import logging

from peewee import Database, DatabaseError

from .bulk import is_postgresql
from .models import BaseModel, ContactAddress, Ledger, LoggedEmail

log = logging.getLogger("emaillog.store")

# The tables a batch looks rows up in by something other than their primary key.
LOOKED_UP: tuple[type[BaseModel], ...] = (LoggedEmail, Ledger, ContactAddress)

# reltuples is -1 for a table never analyzed nor vacuumed (PostgreSQL 14+; older servers say 0,
# which this leaves alone). An empty heap has no pages: nothing to gather statistics from yet.
_NEVER_ANALYZED = (
    "SELECT relname, pg_relation_size(oid) > 0 FROM pg_class WHERE oid = ANY(%s::regclass[]) "
    "AND reltuples < 0"
)


class PlannerStatistics:
    """Analyzes the looked-up tables that need it, after a commit, until none is left to do."""

    def __init__(self) -> None:
        self._analyzed: set[str] = set()
        self._settled = False

    def after_commit(self, db: Database) -> None:
        """Best effort: the batch is committed already, and a plan without statistics is only slower.
        A failure is logged, and the step is not tried again by this recorder."""
        if self._settled:
            return
        if not is_postgresql(db):
            self._settled = True
            return
        try:
            self._analyze(db)
        except DatabaseError as exc:
            self._settled = True
            log.warning("could not give the planner statistics for a new table: %s", str(exc).splitlines()[0])

    def _analyze(self, db: Database) -> None:
        names = [model._meta.table_name for model in LOOKED_UP]
        never = dict(db.execute_sql(_NEVER_ANALYZED, (names,)).fetchall())
        due = sorted(name for name, has_rows in never.items() if has_rows and name not in self._analyzed)
        for table in due:
            # Once each: a role that does not own the table is warned and skipped by the server,
            # and asking again every batch would change nothing.
            self._analyzed.add(table)
            db.execute_sql(f'ANALYZE "{table}"')
            log.debug("analyzed %s, never analyzed before", table)
        # Done once nothing is left that an ANALYZE of ours could still change.
        self._settled = self._analyzed.issuperset(never)
