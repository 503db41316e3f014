"""Opening the database named by EMAILLOG_DATABASE_URL and bringing its schema up to date."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import psycopg2
from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import parse as parse_url

from ..private import private_dir
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


class _Postgresql(PostgresqlDatabase):  # type: ignore[misc]
    """Email bodies are large text values that PostgreSQL compresses: with lz4 where the server has
    it (PostgreSQL 14+ built with lz4, as Debian's is), the default pglz made the server's share of
    recording a backlog ~15% slower (bench/backlog.py)."""

    def _initialize_connection(self, conn: Any) -> None:
        super()._initialize_connection(conn)
        # peewee runs connections in autocommit mode. An older server, or one built without lz4,
        # refuses the setting and keeps its default.
        with conn.cursor() as cursor, contextlib.suppress(psycopg2.Error):
            cursor.execute("SET default_toast_compression = 'lz4'")


class DatabaseMissing(Exception):
    """A read-only open of an SQLite database that does not exist (opening would create it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"there is no database at {path}")
        self.path = path


def open_database(url: str, *, migrate: bool = True, read_only: bool = False) -> Database:
    """Connect, bind the models to it, and apply pending schema upgrades.

    ``read_only``: the database refuses writes itself (SQLite opened ``mode=ro``, PostgreSQL
    transactions read-only by default), so nothing in a dry run can write by mistake.
    """
    if url.startswith("sqlite:///"):
        db = _sqlite(Path(url.removeprefix("sqlite:///")), read_only)
    else:
        params = postgres_params(url)
        if read_only:
            params["options"] = (params.get("options", "") + " -c default_transaction_read_only=on").strip()
        db = _Postgresql(**params)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    if migrate and not read_only:
        upgrade(db)
    return db


def postgres_params(url: str) -> dict[str, Any]:
    """The connection keywords of a postgresql:// URL, its query's too (sslmode, sslrootcert, ...):
    every connection to the database, the leases' included, is made with the same ones."""
    params: dict[str, Any] = parse_url(url.replace("postgres://", "postgresql://", 1))
    return params


def _sqlite(path: Path, read_only: bool) -> Database:
    _register_sqlite_adapters()
    if not read_only:
        _create_private(path)
        return SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS)
    if not path.is_file():
        raise DatabaseMissing(path)
    # journal_mode is the database's own (WAL, set by the daemon); setting it would be a write.
    pragmas = {k: v for k, v in SQLITE_PRAGMAS.items() if k != "journal_mode"}
    return SqliteDatabase(f"{path.absolute().as_uri()}?mode=ro", pragmas=pragmas, uri=True)


def _create_private(path: Path) -> None:
    """Create the database file (and its directory) readable by its owner only, whatever the umask.

    Run from a shell (umask 022) SQLite made it 0644: every local user could read the logged mail.
    SQLite gives its -wal and -shm files the database file's mode. An existing file is left as it is.
    """
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _register_sqlite_adapters() -> None:
    """Dates and times go to SQLite as text, the form peewee reads back: str(value), which is what
    Python 3.11's default adapter wrote (value.isoformat(" ")), a default deprecated since 3.12.

    For peewee's queries and for store/bulk.py's, which hands rows to the driver as they are
    instead of converting every value in Python first. Registering again replaces, so opening a
    second database costs nothing more.
    """
    for kind in (datetime, date, time):
        sqlite3.register_adapter(kind, str)
