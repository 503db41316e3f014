"""Opening the database named by EMAILLOG_DATABASE_URL and bringing its schema up to date."""

from __future__ import annotations

from pathlib import Path

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as url_connect

from .models import database_proxy
from .schema import upgrade

# WAL lets the command line read while the daemon writes; synchronous=FULL makes a commit durable
# before we MOVE the message out of the intake folder (SPEC §10: record, then move).
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 30000,
    # 16 MB of page cache: enough for the indexes the hot path reads. The logged emails' bodies
    # pass through it too: at 64 MB the backlog benchmark's peak RSS grew with the drain (258 MB at 6,000).
    "cache_size": -16000,
}


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect, bind the models to it, and apply pending schema upgrades."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        db: Database = SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS)
    else:
        db = url_connect(url.replace("postgres://", "postgresql://", 1))
        assert isinstance(db, PostgresqlDatabase)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    if migrate:
        upgrade(db)
    return db
