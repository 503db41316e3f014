"""`emaillog attachments verify [--remove-orphans]`: the stored files against their rows, on SQLite
and PostgreSQL, with the files logged by a real pass."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from support import REP, deliver, make_settings, message, wait_until, waiting_in_sql

from emaillog.devmail import ImapAccount
from emaillog.store import filecheck
from emaillog.store.db import postgres_params
from emaillog.store.files import attachment_path

FILES = {"a.txt": b"first file", "b.bin": os.urandom(70_000), "c.bin": os.urandom(200_000)}
HOURS_AGO = time.time() - 2 * 3600


@pytest.fixture
def stored(cli: Any, tmp_path: Path, imap_account: ImapAccount) -> Path:
    """The attachments dir once a pass logged an email carrying FILES."""
    assert cli("users", "add", REP)[0] == 0
    deliver(make_settings(tmp_path, None, imap_account), message(attachments=list(FILES.items())))
    assert cli("run", "--once")[0] == 0
    return tmp_path / "data" / "attachments"


def _path(root: Path, data: bytes) -> Path:
    return attachment_path(root, hashlib.sha256(data).hexdigest())


def _orphan(root: Path, data: bytes, mtime: float = HOURS_AGO) -> Path:
    path = _path(root, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _kinds(out: str) -> dict[str, str]:
    return {row["path"]: row["kind"] for row in json.loads(out)["findings"]}


def test_a_sound_store_verifies_clean(cli: Any, stored: Path) -> None:
    code, out, _ = cli("attachments", "verify")
    assert code == 0, out
    assert out.strip() == "3 files checked (0.3 MB): nothing wrong"


def test_missing_changed_and_orphan_files_are_reported_and_old_orphans_removed(
    cli: Any, stored: Path
) -> None:
    a, b, c = (_path(stored, data) for data in FILES.values())
    a.unlink()
    b.write_bytes(FILES["b.bin"][:-1])  # cut short
    c.write_bytes(bytes([FILES["c.bin"][0] ^ 1]) + FILES["c.bin"][1:])  # one bit flipped, same size
    old = _orphan(stored, b"left by a batch that never committed")
    recent = _orphan(stored, b"placed by a pass not yet committed", mtime=time.time())
    old_temp = _orphan(stored, b"").with_name(".tmp-x1y2")  # an earlier version's temp file
    _orphan(stored, b"").rename(old_temp)
    (stored / "notes.txt").write_text("an admin's")
    code, out, _ = cli("attachments", "verify", "--json")
    assert code == 1
    assert _kinds(out) == {
        str(a): "missing",
        str(b): "size",
        str(c): "sha256",
        str(old): "orphan",
        str(old_temp): "orphan",
        str(stored / "notes.txt"): "unknown",
    }
    assert json.loads(out)["recent"] == 1
    code, out, _ = cli("attachments", "verify")
    assert code == 1
    assert f"missing    {a}  no file  (emails #1)" in out.splitlines()
    assert out.splitlines()[-1] == (
        "2 files checked (0.3 MB): 1 missing, 1 size, 1 sha256, 2 orphan, 1 unknown; "
        "1 under an hour old that no row names yet, left alone"
    )
    code, out, _ = cli("attachments", "verify", "--remove-orphans", "--json")
    assert code == 1  # the missing and changed files are still there to be seen to
    assert sorted(k for k in _kinds(out).values()) == [
        "missing",
        "removed",
        "removed",
        "sha256",
        "size",
        "unknown",
    ]
    assert not old.exists() and not old_temp.exists()
    assert recent.exists() and (stored / "notes.txt").exists()
    for data in FILES.values():  # put back (from a backup, say): clean again but for the admin's file
        _path(stored, data).write_bytes(data)
    code, out, _ = cli("attachments", "verify", "--json")
    assert (code, set(_kinds(out).values())) == (1, {"unknown"})


def test_an_orphan_a_pass_names_while_it_is_removed_is_kept(
    cli: Any, stored: Path, database_url: str
) -> None:
    # A pass that logs a file stored before (an orphan) inserts its row, finds the file there and
    # commits: the removal waits for that commit, looks again and keeps the file.
    data = b"sent again while the orphans are removed"
    path = _orphan(stored, data)
    writer = _insert_uncommitted(database_url, hashlib.sha256(data).hexdigest(), len(data))
    done: list[tuple[int, str, str]] = []
    remover = threading.Thread(target=lambda: done.append(cli("attachments", "verify", "--remove-orphans")))
    remover.start()
    # At its lock, which the pass's insert holds: only then is the commit the one it waits for (a
    # fixed second let a remover slower than that look up after the commit, and prove nothing).
    lock = "BEGIN IMMEDIATE" if database_url.startswith("sqlite") else "LOCK TABLE"
    at_lock = lambda: waiting_in_sql(remover, lock, within="_removed")  # noqa: E731
    wait_until(lambda: at_lock() or bool(done), 30, "the removal at its lock")
    assert not done, done  # waiting for the pass's commit
    writer.commit()
    writer.close()
    remover.join(60)
    assert done and done[0][0] == 0, done
    assert path.exists()


def _insert_uncommitted(url: str, sha256: str, size: int) -> Any:
    """A second connection's transaction that inserted a row naming a file, not yet committed."""
    row = (1, "again.bin", "application/octet-stream", size, sha256, True)
    sql = "INSERT INTO attachment (email_id, filename, content_type, size, sha256, logged) VALUES "
    if url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql + "(?, ?, ?, ?, ?, ?)", row)
        return conn
    conn = psycopg2.connect(**postgres_params(url))
    conn.cursor().execute(sql + "(%s, %s, %s, %s, %s, %s)", row)
    return conn


def test_a_large_file_is_read_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = os.urandom(1024 * 1024) * 24
    path.write_bytes(data)
    tracemalloc.start()
    try:
        assert filecheck.file_sha256(path) == hashlib.sha256(data).hexdigest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * filecheck.CHUNK
