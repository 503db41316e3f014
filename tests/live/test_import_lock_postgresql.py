"""SPEC §10 with an admin's long import on PostgreSQL: a row lock held for minutes is not the mail's fault.

An import writes in one transaction. A batch that writes a row the import is writing too (the
company of a new domain) waited for the import's commit with no limit: past systemd's WatchdogSec,
which killed the daemon, each kill an attempt counted against the mail in hand. It now waits as
long as SQLite's busy timeout, then fails as the database's trouble.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from peewee import OperationalError
from support import World, make_world, message

from emaillog.devmail import ImapAccount
from emaillog.store.db import SQLITE_PRAGMAS, postgres_params
from emaillog.store.models import Ledger

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> World:
    # The one timeout of both databases: a fifth of a second here, not 30 s.
    monkeypatch.setitem(SQLITE_PRAGMAS, "busy_timeout", 200)
    return make_world(tmp_path, database_url, imap_account)


@pytest.fixture
def importer(world: World) -> Iterator[psycopg2.extensions.connection]:
    """A connection of its own, in an import's transaction that holds the companies' table."""
    connection = psycopg2.connect(**postgres_params(world.settings.database_url))
    yield connection
    connection.rollback()
    connection.close()


def test_a_batch_waits_for_an_imports_locks_no_longer_than_the_busy_timeout(
    world: World, importer: psycopg2.extensions.connection
) -> None:
    world.deliver(*(message(message_id=f"<during-import-{i}@acme.example>") for i in range(3)))
    with importer.cursor() as cursor:  # as an import writing companies does, until its commit
        cursor.execute('LOCK TABLE "company" IN EXCLUSIVE MODE')
    with pytest.raises(OperationalError, match="lock timeout"):
        world.run_pass()
    assert world.folder_counts() == {"INBOX": 3, "Processed": 0, "Error": 0}
    assert [row.attempts for row in Ledger.select()] == [0] * 3  # given back: not the mail's fault
    importer.commit()  # the import ends
    assert world.run_pass().outcomes == {"logged": 3}
    assert [(row.attempts, row.failures) for row in Ledger.select()] == [(1, 0)] * 3
