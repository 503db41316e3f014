"""`emaillog status` over a real mailbox and database: outcomes by period, Error folder, outbox, login."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from support import World, make_world, message

from emaillog import admin
from emaillog.cli import main
from emaillog.devmail import ImapAccount
from emaillog.lease import AdvisoryLeases, leases_for, lock_key_legacy
from emaillog.poll import PassReport
from emaillog.status import StateFile
from emaillog.store.models import Ledger
from emaillog.store.outbox import enqueue

REP = "rita@acme.example"


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    w = make_world(tmp_path, database_url, imap_account)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    return w


def env_file(w: World, tmp_path: Path) -> Path:
    imap = w.settings.imap
    assert imap is not None
    path = tmp_path / "status.env"
    path.write_text(
        f"EMAILLOG_IMAP_HOST={imap.host}\nEMAILLOG_IMAP_PORT={imap.port}\nEMAILLOG_IMAP_SECURITY=none\n"
        f"EMAILLOG_IMAP_USER={imap.user}\nEMAILLOG_IMAP_PASSWORD={imap.password}\n"
        f"EMAILLOG_DATA_DIR={w.settings.data_dir}\nEMAILLOG_DATABASE_URL={w.settings.database_url}\n"
        "EMAILLOG_BCC_ADDRESS=log@acme.example\nEMAILLOG_FORWARD_ADDRESS=log+fwd@acme.example\n"
    )
    return path


def test_status_counts_outcomes_error_folder_and_outbox(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.deliver(
        message(message_id="<s-1@acme.example>"),
        message(sender="stranger@elsewhere.example", message_id="<s-2@acme.example>"),
    )
    world.run_pass()
    # The backlog: one more waits; one a person flagged \Deleted never will (no pass takes it).
    world.deliver(message(message_id="<s-3@acme.example>"), message(message_id="<s-4@acme.example>"))
    client = world.client()
    client.select_folder("INBOX")
    client.add_flags(client.search(["HEADER", "Message-ID", "s-4@acme.example"]), [b"\\Deleted"])
    client.logout()
    # One ledger row from eight days ago counts for neither period.
    old = Ledger.get(Ledger.message_id == "<s-1@acme.example>")
    Ledger.create(
        account=old.account,
        mailbox="default",
        uidvalidity=1,
        uid=999,
        outcome="logged",
        updated_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=8),
    )
    enqueue(world.store.account_id, "default/1/1", "sender-not-a-user", REP, "<n1@acme.example>", b"x")
    state = StateFile.for_settings(world.settings)
    state.pass_done(PassReport(seen=2, outcomes={"logged": 1}))
    # As a daemon that has since stopped left it (this process wrote it, and is running).
    state.path.write_text(json.dumps({**state.read(), "pid": -1, "login_state": "stopped"}))

    assert main(["--env-file", str(env_file(world, tmp_path)), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    [mailbox] = data["mailboxes"]
    assert mailbox["outcomes_24h"] == {"logged": 1, "rejected": 1} == mailbox["outcomes_7d"]
    assert mailbox["error_folder_messages"] == 1 and mailbox["login"] == "ok"
    assert mailbox["intake_folder_messages"] == 1
    assert mailbox["last_successful_pass"] is not None and mailbox["daemon"]["last_outcomes"] == {"logged": 1}
    assert data["outbox_pending"] == 1

    assert main(["--env-file", str(env_file(world, tmp_path)), "status"]) == 0
    text = capsys.readouterr().out
    assert "messages, last 24h: logged 1, rejected 1" in text
    assert "Error folder: 1 messages" in text and "outbox: 1 notices waiting" in text
    assert "INBOX folder: 1 messages waiting" in text
    assert "login now: ok" in text and "daemon: not running" in text


def test_status_shows_a_refused_login(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env_file(world, tmp_path)
    path.write_text(
        path.read_text().replace(
            f"EMAILLOG_IMAP_PASSWORD={world.account.password}", "EMAILLOG_IMAP_PASSWORD=wrong"
        )
    )
    assert main(["--env-file", str(path), "status", "--json"]) == 0
    [mailbox] = json.loads(capsys.readouterr().out)["mailboxes"]
    assert mailbox["login"] == "refused" and "Authentication failed" in mailbox["login_detail"]
    assert mailbox["error_folder_messages"] is None


def test_status_tells_the_last_pass_of_a_once_run_and_a_dry_run_writes_no_state(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --once from a timer (or cron) is a way to run emaillog too: its passes are passes.
    world.deliver(message(message_id="<o-1@acme.example>"))
    path = env_file(world, tmp_path)
    assert main(["--env-file", str(path), "run", "--dry-run"]) == 0
    assert not StateFile.for_settings(world.settings).path.exists()  # a dry run writes nothing
    assert main(["--env-file", str(path), "run", "--once"]) == 0
    capsys.readouterr()
    assert main(["--env-file", str(path), "status", "--json", "--no-imap"]) == 0
    [mailbox] = json.loads(capsys.readouterr().out)["mailboxes"]
    assert mailbox["last_successful_pass"] is not None
    assert mailbox["daemon"]["last_outcomes"] == {"logged": 1} and not mailbox["daemon"]["running"]


def test_status_reads_whether_the_daemon_runs_from_its_lease_not_only_a_pid(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A daemon that died with the machine left "logged-in" and its pid; after the reboot that pid
    # is some other process's (here: this test's own, which is running).
    state = StateFile.for_settings(world.settings)
    state.pass_done(PassReport(seen=1, outcomes={"logged": 1}))
    state.update(login_state="logged-in")
    path = env_file(world, tmp_path)

    def shown() -> dict[str, Any]:
        assert main(["--env-file", str(path), "status", "--json", "--no-imap"]) == 0
        [mailbox] = json.loads(capsys.readouterr().out)["mailboxes"]
        return dict(mailbox)

    mailbox = shown()
    assert mailbox["lease"] == {"held": False} and not mailbox["daemon"]["running"]
    # A process that works the mailbox holds its lease: the daemon, wherever it runs.
    leases = leases_for(world.settings.database_url, world.settings.data_dir)
    assert leases.acquire(world.settings.account, world.settings.mailbox_name)
    try:
        mailbox = shown()
        assert mailbox["lease"]["held"] and f"pid {os.getpid()}" in mailbox["lease"]["holder"]
        assert mailbox["daemon"]["running"]
        assert main(["--env-file", str(path), "status", "--no-imap"]) == 0
        assert f"lease: held by pid {os.getpid()}" in capsys.readouterr().out
    finally:
        leases.release_all()


# Advisory locks are PostgreSQL's: on SQLite a data dir is one deployment's and its lock files
# are named by the mailbox alone.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_status_on_postgresql_reads_its_own_accounts_lease_and_an_old_versions(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Leases are the account's mailbox's: another tenant working a mailbox of the same name is no
    holder of this one's, a process of the previous version (the name's key, exclusive) is."""
    path = env_file(world, tmp_path)

    def lease() -> dict[str, Any]:
        assert main(["--env-file", str(path), "status", "--json", "--no-imap"]) == 0
        [mailbox] = json.loads(capsys.readouterr().out)["mailboxes"]
        return dict(mailbox["lease"])

    name, other_account = world.settings.mailbox_name, world.settings.account + "-other"
    other_tenant = AdvisoryLeases(world.settings.database_url)
    try:
        assert other_tenant.acquire(other_account, name)
        assert lease() == {"held": False}
        other_tenant.release(other_account, name)  # at once: a closed session's locks linger a moment
    finally:
        other_tenant.release_all()
    # The previous version names its lease session as this one does.
    old = psycopg2.connect(world.settings.database_url, application_name="emaillog-lease-424242")
    try:
        with old.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (lock_key_legacy(name),))
            assert cursor.fetchone()[0]
        held = lease()
        assert held["held"] and held["holder"].startswith("pid 424242"), held
    finally:
        old.close()
