"""A daemon already running when a newer emaillog upgrades the schema (a rolling upgrade: the first
process of the new version upgrades while the others work on) stops as start-up would refuse that
database: one line naming both versions, exit 78 (systemd does not restart it), and nothing lost.

It never looked again: it went on writing rows of the schema it knew into the upgraded database.
The daemon runs as a real process: the one-mailbox daemon on SQLite, the fleet on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from support import World, make_world, message, wait_until
from test_ops_daemon import REP, DaemonProcess, ledger_rows, start

from emaillog import admin
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.store import schema
from emaillog.store.models import Ledger, LoggedEmail, SchemaVersion
from emaillog.store.schema import CURRENT_VERSION

NEWER = CURRENT_VERSION + 1
REFUSED = f"the database is at schema version {NEWER}, newer than this emaillog knows ({CURRENT_VERSION})"


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    w = make_world(tmp_path, database_url, imap_account)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    return w


def _daemon(tmp_path: Path, world: World, **extra: str) -> DaemonProcess:
    return start(tmp_path, world.account, EMAILLOG_DATABASE_URL=world.settings.database_url, **extra)


def _upgraded_by_a_newer_emaillog() -> None:
    """What a newer emaillog's upgrade leaves: its version row (its migrations change nothing here)."""
    SchemaVersion.create(version=NEWER)


def _idle_daemon(tmp_path: Path, world: World) -> DaemonProcess:
    """A daemon that has done its first pass (closed if it never does)."""
    daemon = _daemon(tmp_path, world)
    try:
        daemon.wait_ready()
        wait_until(lambda: "pass done" in daemon.log(), 30, "the first pass")
    except BaseException:
        daemon.close()
        raise
    return daemon


def _refused(daemon: DaemonProcess, line: str) -> str:
    """The daemon's log once it has stopped by itself with 78, saying ``line``, without a traceback."""
    try:
        wait_until(lambda: daemon.proc.poll() is not None, 30, "the daemon to stop by itself")
        assert daemon.proc.returncode == 78, daemon.log()
    finally:
        daemon.close()
    log = daemon.log()
    assert line in log and "Traceback" not in log, log
    return log


def _nothing_lost(world: World, total: int) -> None:
    """Every message recorded was moved, or is still in the intake folder with the rest (recorded,
    held for moving: the next pass moves it without deciding it again, as after a crash); the newer
    version (here: this one, the version row taken back) logs the rest, each message once."""
    counts = world.folder_counts()
    assert sum(counts.values()) == total and counts["Error"] == 0, counts
    logged = Ledger.select().where(Ledger.outcome == "logged")
    assert logged.count() == LoggedEmail.select().count()
    assert logged.where(Ledger.disposed).count() == counts["Processed"]
    assert Ledger.select().where(~Ledger.disposed).count() <= counts["INBOX"]
    SchemaVersion.delete().where(SchemaVersion.version == NEWER).execute()
    world.run_pass()
    world.run_pass()  # a message counted as tried is retried alone, after the others
    assert world.folder_counts() == {"INBOX": 0, "Processed": total, "Error": 0}
    assert Ledger.select(Ledger.uid).distinct().count() == LoggedEmail.select().count() == total


def test_a_daemon_working_a_backlog_stops_at_its_next_batch(
    tmp_path: Path, world: World, dovecot: DevDovecot
) -> None:
    total = 300
    raws = [message(to=[f"c{i}@globex.example"], message_id=f"<up-{i}@acme.example>") for i in range(total)]
    dovecot.seed_maildir(world.account.user, "INBOX", raws)
    daemon = _daemon(tmp_path, world, EMAILLOG_BATCH_SIZE="10", EMAILLOG_POLL_SECONDS="3600")
    try:
        wait_until(lambda: ledger_rows("logged") > 0, 30, "the first batch")
    except BaseException:
        daemon.close()
        raise
    _upgraded_by_a_newer_emaillog()
    _refused(daemon, REFUSED)
    assert world.folder_counts()["INBOX"] > 0  # stopped mid-backlog, not at its end
    _nothing_lost(world, total)


def test_an_idle_daemon_leaves_mail_that_comes_after_the_upgrade_in_the_intake_folder(
    tmp_path: Path, world: World
) -> None:
    daemon = _idle_daemon(tmp_path, world)
    _upgraded_by_a_newer_emaillog()
    world.deliver(message(message_id="<after@acme.example>"))
    _refused(daemon, REFUSED)
    assert world.folder_counts() == {"INBOX": 1, "Processed": 0, "Error": 0}
    assert ledger_rows() == 0
    _nothing_lost(world, 1)


@pytest.fixture
def upgrade_under_way(world: World) -> Iterator[None]:
    """A newer emaillog upgrading the schema: it holds the upgrade's lock until its last migration."""
    con = psycopg2.connect(world.settings.database_url)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (schema._UPGRADE_LOCK,))
        con.commit()
        yield
    finally:
        con.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_batch_is_refused_while_a_newer_emaillog_upgrades(
    tmp_path: Path, world: World, dovecot: DevDovecot, upgrade_under_way: None
) -> None:
    """The version it reads is still its own until the upgrade commits: a migration that rewrites
    rows for minutes would never see the rows the batches of the old process wrote meanwhile."""
    total = 30
    raws = [message(to=[f"c{i}@globex.example"], message_id=f"<mid-{i}@acme.example>") for i in range(total)]
    dovecot.seed_maildir(world.account.user, "INBOX", raws)
    daemon = _daemon(tmp_path, world, EMAILLOG_BATCH_SIZE="10", EMAILLOG_POLL_SECONDS="3600")
    _refused(
        daemon,
        f"a newer emaillog is upgrading the database's schema (this emaillog knows version {NEWER - 1})",
    )
    assert world.folder_counts() == {"INBOX": total, "Processed": 0, "Error": 0}
    assert LoggedEmail.select().count() == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_idle_fleet_stops_within_a_claiming_round_without_waiting_for_mail(
    tmp_path: Path, world: World
) -> None:
    """A fleet reads the version at each claiming round: its IDLE mailboxes need no pass to stop."""
    daemon = _idle_daemon(tmp_path, world)
    _upgraded_by_a_newer_emaillog()
    log = _refused(daemon, REFUSED)
    assert log.count("pass done") == 1, log
