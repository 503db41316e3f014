"""SPEC §10 with an admin's long import: SQLite's write lock held for minutes is not the mail's fault.

A CSV import writes in one transaction and holds SQLite's write lock for all of it (200,000
companies: about four minutes). A pass that counted a batch's attempts before the import took the
lock waits out the busy timeout to record it, fails, and cannot give the attempts back either.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from peewee import OperationalError
from support import World, make_world, message

from emaillog import poll
from emaillog.batch import INTERRUPTIONS_TOLERATED
from emaillog.devmail import ImapAccount
from emaillog.store import store_for
from emaillog.store.db import SQLITE_PRAGMAS
from emaillog.store.models import Ledger

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> World:
    # The busy timeout only sets how long each wait is: a tenth of a second, not 30 s, for the test.
    monkeypatch.setitem(SQLITE_PRAGMAS, "busy_timeout", 100)
    return make_world(tmp_path, database_url, imap_account)


@pytest.fixture
def importer(world: World) -> Iterator[sqlite3.Connection]:
    """A connection of its own that takes the write lock as `companies import` does (BEGIN IMMEDIATE)."""
    path = world.settings.database_url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    yield connection
    connection.close()


def _import_starts_after_the_count(monkeypatch: pytest.MonkeyPatch, importer: sqlite3.Connection) -> None:
    """The import takes the lock just after the pass committed its first batch's attempts."""
    real = poll.begin_attempts

    def counted_then_locked(*args: Any, **kwargs: Any) -> Any:
        attempts = real(*args, **kwargs)
        if not importer.in_transaction:
            importer.execute("BEGIN IMMEDIATE")
        return attempts

    monkeypatch.setattr(poll, "begin_attempts", counted_then_locked)


def test_passes_cut_short_by_long_imports_do_not_send_the_mail_to_error(
    world: World, importer: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `run --once` (a timer's) meets an import that outlasts its waits and exits 75; the attempts
    it could not give back were forgotten with the process. Each counted as an interruption: the
    messages were retried one at a time, and after INTERRUPTIONS_TOLERATED imports went to Error as
    processing-failed, "the process died while on this message"."""
    world.deliver(*(message(message_id=f"<during-import-{i}@acme.example>") for i in range(3)))
    for _ in range(INTERRUPTIONS_TOLERATED):
        with monkeypatch.context() as m:
            _import_starts_after_the_count(m, importer)
            with pytest.raises(OperationalError, match="database is locked"):
                world.run_pass()
        importer.execute("COMMIT")  # the import ends
        world.store.db.close()
        world.store = store_for(world.store.db, world.settings)  # the next run is a new process
    assert world.run_pass().outcomes == {"logged": 3}
    assert [(row.attempts, row.failures) for row in Ledger.select()] == [(1, 0)] * 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 3, "Error": 0}
