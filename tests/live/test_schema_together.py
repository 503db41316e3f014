"""Processes that open one database at the same moment (SPEC §14: daemons on several machines, an
admin's command beside them) upgrade its schema once between them; an emaillog older than the
database refuses it instead of writing there."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from support import wait_until

from emaillog.store import migrations, schema
from emaillog.store.db import open_database
from emaillog.store.models import SchemaVersion

ROOT = Path(__file__).resolve().parents[2]
TOGETHER = 4
OLD = 9  # before v10's fingerprints made again, v11's ledger key and v12's column


def _database_at(url: str, version: int) -> None:
    db = open_database(url, migrate=False)
    try:
        for number, migration in enumerate(migrations.MIGRATIONS[:version], start=1):
            with db.atomic():
                migration(db)
                SchemaVersion.create(version=number)
    finally:
        db.close()


class _Run:
    """``python -m emaillog ARGS`` as a process, its stderr in a file (read while it runs)."""

    def __init__(self, proc: subprocess.Popen[str], err_path: Path) -> None:
        self.proc, self.err_path = proc, err_path

    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    def ended(self) -> tuple[int, str]:
        """Its exit code and stderr, once it has ended."""
        code = self.proc.wait(timeout=60)
        return code, self.err()


def _emaillog(url: str, tmp_path: Path, *args: str, **settings: str) -> _Run:
    env = {
        **os.environ,
        "EMAILLOG_DATABASE_URL": url,
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        **settings,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    err_path = tmp_path / f"{args[0]}.err"
    with err_path.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emaillog", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    return _Run(proc, err_path)


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Run ``sql`` on a connection of its own and commit; its rows, if it returns any."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
            rows = con.execute(sql).fetchall()
        con.close()
        return rows
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else []
    con.close()
    return rows


@contextmanager
def _versions_held(url: str) -> Iterator[None]:
    """Let the processes started inside read the schema's version, and migrate only when it ends.

    PostgreSQL: the table is locked, and every reader waits for it. SQLite (WAL) lets them read;
    the write lock held here keeps any from writing.
    """
    if url.startswith("sqlite:///"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            con.execute("COMMIT")
            con.close()
        return
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE")
            yield
        con.commit()
    finally:
        con.close()


def _all_read_the_version(url: str, runs: list[_Run]) -> bool:
    """Whether every one of ``runs`` has read the version ``_versions_held`` holds: on PostgreSQL
    each waits for the table's lock; on SQLite each has said what it read (a fixed 3 s guessed how
    long their start-up takes)."""
    if url.startswith("sqlite:///"):
        return all(f"schema version {OLD}, older than" in run.err() for run in runs)
    waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'schema_version'::regclass AND NOT granted"
    return bool(_query(url, waiting)[0][0] >= len(runs))


def test_processes_started_together_upgrade_an_old_database_once(database_url: str, tmp_path: Path) -> None:
    """Each migration ran in every process that had read the old version: the later ones failed on
    the first one's index or column ("already exists": a traceback, exit 1) or wrote its version
    row again; on SQLite some stopped at "database is locked" (75)."""
    _database_at(database_url, OLD)
    with _versions_held(database_url):
        started = [
            _emaillog(database_url, tmp_path / str(n), "users", "add", f"rep{n}@acme.example")
            for n in range(TOGETHER)
        ]
        what = f"{TOGETHER} processes reading the schema version"
        wait_until(lambda: _all_read_the_version(database_url, started), timeout=30, what=what)
    ended = [run.ended() for run in started]
    assert [code for code, _ in ended] == [0] * TOGETHER, ended
    assert not any("Traceback" in err for _, err in ended), ended
    versions = _query(database_url, "SELECT version FROM schema_version ORDER BY id")
    assert [v for (v,) in versions] == list(range(1, schema.CURRENT_VERSION + 1))
    assert _query(database_url, 'SELECT count(*) FROM "user"') == [(TOGETHER,)]


def test_an_older_emaillog_refuses_a_database_a_newer_one_upgraded(database_url: str, tmp_path: Path) -> None:
    """It wrote there with the schema it knew, exit 0; the daemon ran its passes the same way."""
    open_database(database_url).close()
    newer = schema.CURRENT_VERSION + 1
    _query(database_url, f"INSERT INTO schema_version (version, applied_at) VALUES ({newer}, '2030-01-01')")
    command = _emaillog(database_url, tmp_path, "users", "add", "rep@acme.example")
    daemon = _emaillog(
        database_url,
        tmp_path,
        "run",
        "--once",
        EMAILLOG_IMAP_HOST="127.0.0.1",
        EMAILLOG_IMAP_PORT="1",  # nothing listens: the database is refused before the mailbox is tried
        EMAILLOG_IMAP_SECURITY="none",
        EMAILLOG_IMAP_USER="log",
        EMAILLOG_IMAP_PASSWORD="secret",
    )
    for process in (command, daemon):
        code, err = process.ended()
        assert code == 78, err
        assert f"schema version {newer}, newer than this emaillog knows ({newer - 1})" in err
        assert "Traceback" not in err
    assert _query(database_url, 'SELECT count(*) FROM "user"') == [(0,)]
