"""PostgreSQL: a new database's looked-up tables get statistics once its first batch is committed,
so the next batches' lookups are not planned blind until autovacuum comes by (store/statistics.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg import PgCluster
from support import REP, addresses_env, cli_env, log_message, message

from emaillog.cli import main
from emaillog.store.db import open_database
from emaillog.store.statistics import LOOKED_UP

pytestmark = pytest.mark.live


@pytest.fixture
def database(postgres: PgCluster) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


def _reltuples(url: str) -> dict[str, float]:
    db = open_database(url, migrate=False)
    try:
        names = [model._meta.table_name for model in LOOKED_UP]
        query = "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)"
        return dict(db.execute_sql(query, (names,)).fetchall())
    finally:
        db.close()


def test_the_first_batch_into_a_new_database_leaves_its_looked_up_tables_analyzed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    cli_env(monkeypatch, tmp_path, addresses_env(database))
    assert main(["users", "add", REP]) == 0
    assert set(_reltuples(database).values()) == {-1}  # never analyzed: the planner guesses

    log_message(message())

    # One email, its ledger row and its contacts' addresses, each counted by an ANALYZE.
    after = _reltuples(database)
    assert after["logged_email"] == 1
    assert after["ledger"] == 1
    assert after["contact_address"] >= 1
