"""How the store talks to each database: the settings it relies on are in force."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pg import PgCluster

from emaillog.store.db import SQLITE_PRAGMAS, open_database


@pytest.mark.live
def test_postgresql_sessions_compress_email_bodies_with_lz4(postgres: PgCluster) -> None:
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = open_database(postgres.create_database(name))
    try:
        db.close()
        db.connect()  # every new connection, not only the first
        assert db.execute_sql("SHOW default_toast_compression").fetchone() == ("lz4",)
    finally:
        db.close()
        postgres.drop_database(name)


def test_sqlite_runs_with_the_durable_pragmas(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'emaillog.sqlite3'}")
    try:
        assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute_sql("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert db.execute_sql("PRAGMA cache_size").fetchone() == (SQLITE_PRAGMAS["cache_size"],)
    finally:
        db.close()
