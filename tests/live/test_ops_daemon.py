"""The daemon as a real subprocess (python daemon.py) against a real Dovecot: IDLE, polling, SIGTERM
mid-pass, SIGHUP, SIGUSR1, reconnects, refused logins, JSON logs and metrics (issue 5).

A datagram socket stands in for systemd's NOTIFY_SOCKET; the daemon's log goes to a file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from peewee import DatabaseError
from sandbox import under_unit_filter
from support import (
    NotifySocket,
    World,
    mailboxes_toml,
    make_world,
    message,
    offline_mailboxes_toml,
    throwaway_dovecot,
    wait_until,
)

from emaillog import admin, status, views
from emaillog.devmail import DevDovecot, ImapAccount, free_port
from emaillog.imapmailbox import ImapMailbox
from emaillog.lease import FileLeases, leases_for
from emaillog.parallel import PARALLEL_OVER
from emaillog.poll import Pass
from emaillog.settings import load
from emaillog.status import StateFile
from emaillog.store import open_read_only, open_store
from emaillog.store.db import open_database
from emaillog.store.models import Account, Ledger, LoggedEmail, SchemaVersion, database_proxy
from emaillog.store.schema import CURRENT_VERSION, current_version

ROOT = Path(__file__).resolve().parents[2]


def env_text(account: ImapAccount, data_dir: Path, **extra: str) -> str:
    values = {
        **account.settings(),
        "EMAILLOG_DATA_DIR": str(data_dir),
        "EMAILLOG_BCC_ADDRESS": "log@acme.example",
        "EMAILLOG_FORWARD_ADDRESS": "log+fwd@acme.example",
        "EMAILLOG_COMPANY_DOMAINS": "acme.example",
        "EMAILLOG_RECONNECT_MIN_SECONDS": "1",
        "EMAILLOG_RECONNECT_MAX_SECONDS": "2",
        "EMAILLOG_IMAP_TIMEOUT": "5",
    }
    values.update(extra)
    return "".join(f"{k}={v}\n" for k, v in values.items())


class DaemonProcess:
    def __init__(
        self, tmp_path: Path, env_file: Path, watchdog_usec: int | None = None, sandboxed: bool = False
    ) -> None:
        self.log_path = tmp_path / "daemon.log"
        self.notify = NotifySocket(tmp_path / "notify.sock")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NOTIFY_SOCKET": str(self.notify.path),
            "PYTHONUNBUFFERED": "1",
        }
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self._log = self.log_path.open("wb")
        command = [sys.executable, str(ROOT / "daemon.py"), "--env-file", str(env_file)]
        self.proc = subprocess.Popen(
            under_unit_filter(command) if sandboxed else command,  # the wrapper execs: same pid
            env=env,
            cwd=tmp_path,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def read_notify(self) -> list[str]:
        return self.notify.messages()

    def saw(self, text: str) -> bool:
        return self.notify.saw(text)

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_until(lambda: self.saw("READY=1") or self.proc.poll() is not None, timeout, "READY=1")
        assert self.proc.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.notify.close()


# -- the tests ------------------------------------------------------------------------------------

REP = "rita@acme.example"


@pytest.fixture
def world(tmp_path: Path, imap_account: ImapAccount) -> World:
    w = make_world(tmp_path, f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}", imap_account)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    return w


@pytest.fixture
def both_worlds(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    """The world on SQLite, then on PostgreSQL (the daemon is given the same database URL)."""
    w = make_world(tmp_path, database_url, imap_account)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    return w


def start(
    tmp_path: Path,
    account: ImapAccount,
    watchdog_usec: int | None = None,
    sandboxed: bool = False,
    **extra: str,
) -> DaemonProcess:
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(env_text(account, tmp_path / "data", **extra))
    return DaemonProcess(tmp_path, env_file, watchdog_usec, sandboxed)


def exit_before_ready(daemon: DaemonProcess, code: int) -> str:
    """The daemon's log, once it has exited with ``code`` in one line: no traceback, never READY=1."""
    try:
        assert daemon.proc.wait(timeout=30) == code, daemon.log()
    finally:
        daemon.close()
    log = daemon.log()
    assert "Traceback" not in log and not daemon.saw("READY=1"), log
    return log


def one_pass(env_file: Path, mode: str = "--once") -> subprocess.CompletedProcess[str]:
    """``daemon.py --once`` (or ``--dry-run``) with the settings of ``env_file``, run where it lives."""
    return subprocess.run(
        [sys.executable, str(ROOT / "daemon.py"), mode, "--env-file", str(env_file)],
        cwd=env_file.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ledger_rows(outcome: str | None = None) -> int:
    query = Ledger.select()
    if outcome:
        query = query.where(Ledger.outcome == outcome)
    return int(query.count())


def test_idle_logs_new_mail_at_once_and_pings_the_watchdog(tmp_path: Path, world: World) -> None:
    # Polling and reconciliation are far away: only IDLE can pick the message up this soon.
    daemon = start(tmp_path, world.account, watchdog_usec=2_000_000, EMAILLOG_POLL_SECONDS="3600")
    try:
        daemon.wait_ready()
        world.deliver(message(to=["carl@globex.example"], message_id="<idle-1@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 1, 10, "the message to be logged through IDLE")
        wait_until(lambda: world.folder_counts()["Processed"] == 1, 5, "the move")
        wait_until(lambda: daemon.saw("WATCHDOG=1"), 5, "a watchdog ping")
        assert daemon.saw("STATUS=IDLE; last pass")
        assert "IDLE, with a reconciliation every 300s" in daemon.log()
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert daemon.saw("STOPPING=1")


def test_polls_when_idle_is_off(tmp_path: Path, world: World) -> None:
    daemon = start(tmp_path, world.account, EMAILLOG_IMAP_IDLE="no", EMAILLOG_POLL_SECONDS="1")
    try:
        daemon.wait_ready()
        world.deliver(message(message_id="<poll-1@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 1, 10, "the poll to log the message")
        assert "polling every 1s" in daemon.log()
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_sigterm_mid_pass_loses_nothing_and_doubles_nothing(
    tmp_path: Path, both_worlds: World, dovecot: DevDovecot
) -> None:
    world = both_worlds
    total = 300
    raws = [message(to=[f"c{i}@globex.example"], message_id=f"<bulk-{i}@acme.example>") for i in range(total)]
    dovecot.seed_maildir(world.account.user, "INBOX", raws)
    daemon = start(
        tmp_path,
        world.account,
        EMAILLOG_BATCH_SIZE="10",
        EMAILLOG_POLL_SECONDS="3600",
        EMAILLOG_DATABASE_URL=world.settings.database_url,
    )
    try:
        wait_until(lambda: ledger_rows() > 0, 30, "the first batch")
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=30) == 0
    finally:
        daemon.close()
    log = daemon.log()
    assert "Traceback" not in log and "stopped" in log
    counts = world.folder_counts()
    # Stopped mid-pass: some left for the next run, and what was recorded was also moved.
    assert 0 < counts["INBOX"] < total
    assert sum(counts.values()) == total
    rows = list(Ledger.select())
    assert all(r.outcome == "logged" and r.disposed for r in rows)
    assert len(rows) == counts["Processed"]
    # The next run finishes the rest: every message in exactly one folder, one ledger row each.
    Pass(world.settings, *_mailbox(world), world.store).run()
    assert world.folder_counts() == {"INBOX": 0, "Processed": total, "Error": 0}
    assert Ledger.select().count() == total
    assert Ledger.select(Ledger.uid).distinct().count() == total
    assert LoggedEmail.select().count() == total


def stopped_once_run(env_file: Path, how: str) -> tuple[int, str]:
    """``daemon.py --once`` stopped once its first message is logged: by SIGTERM (systemctl stop),
    or by Ctrl-C (SIGINT to the whole process group, parser workers included). Its exit code and log."""
    log_path = env_file.parent / "once.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "daemon.py"), "--once", "--env-file", str(env_file)],
            cwd=env_file.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: "outcome=" in log_path.read_text(), 60, "the first message")
            if how == "SIGTERM":
                proc.send_signal(signal.SIGTERM)
            else:
                os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return code, log_path.read_text()


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_a_once_run_stopped_mid_pass_finishes_the_batch_in_hand_and_exits_0(
    tmp_path: Path, world: World, dovecot: DevDovecot, how: str
) -> None:
    # systemctl stop of a --once timer unit (SIGTERM), or Ctrl-C in a terminal (SIGINT to the whole
    # process group, parser workers included): a stop, not a crash.
    total = 1000
    raws = [message(to=[f"c{i}@globex.example"], message_id=f"<once-{i}@acme.example>") for i in range(total)]
    dovecot.seed_maildir(world.account.user, "INBOX", raws)
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(env_text(world.account, tmp_path / "data", EMAILLOG_BATCH_SIZE="10"))
    code, text = stopped_once_run(env_file, how)
    assert code == 0, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text and "stopped by" in text
    counts = world.folder_counts()
    assert 0 < counts["INBOX"] < total and sum(counts.values()) == total
    # Nothing half done: every message taken was recorded and moved, none left counted as tried
    # (which would make the next pass retry it alone, as if it had crashed the process).
    rows = list(Ledger.select())
    assert all(r.outcome == "logged" and r.disposed and r.attempts == 1 for r in rows)
    assert len(rows) == counts["Processed"]


def _mailbox(world: World) -> tuple[ImapMailbox]:
    assert world.settings.imap is not None
    return (ImapMailbox(world.settings.imap),)


def test_sighup_reloads_settings_and_sigusr1_runs_a_pass(tmp_path: Path, world: World) -> None:
    daemon = start(tmp_path, world.account, EMAILLOG_IMAP_IDLE="no", EMAILLOG_POLL_SECONDS="3600")
    env_file = tmp_path / "emaillog.env"
    try:
        daemon.wait_ready()
        env_file.write_text(
            env_text(
                world.account,
                tmp_path / "data",
                EMAILLOG_IMAP_IDLE="no",
                EMAILLOG_POLL_SECONDS="3600",
                EMAILLOG_PROCESSED_FOLDER="Done",
            )
        )
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "settings reloaded; changed: processed_folder" in daemon.log(), 10, "the reload")
        # Sent before that line, but read by the test's own thread: on a busy machine a little later.
        wait_until(lambda: daemon.saw("RELOADING=1"), 10, "RELOADING=1")
        world.deliver(message(message_id="<hup-1@acme.example>"))
        daemon.signal(signal.SIGUSR1)
        wait_until(lambda: ledger_rows("logged") == 1, 10, "SIGUSR1's pass")
        assert Ledger.get().folder == "Done"
        # A bad reload keeps the old settings and says why.
        env_file.write_text(env_text(world.account, tmp_path / "data", EMAILLOG_POLL_SECONDS="0"))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 10, "the failed reload")
        assert "EMAILLOG_POLL_SECONDS" in daemon.log()
        world.deliver(message(message_id="<hup-2@acme.example>"))
        daemon.signal(signal.SIGUSR1)
        wait_until(lambda: ledger_rows("logged") == 2, 10, "the second pass")
        assert {r.folder for r in Ledger.select()} == {"Done"}
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_a_reload_keeps_the_data_dir_and_the_lease_in_it(tmp_path: Path, world: World) -> None:
    """The lease (SQLite: a lock file in the data dir) is taken at start. Applied on SIGHUP, a new
    EMAILLOG_DATA_DIR moved the daemon to that dir's database with its lease left in the old one:
    a daemon started on the new dir worked the same mailbox beside it."""
    daemon = start(tmp_path, world.account, EMAILLOG_IMAP_IDLE="no", EMAILLOG_POLL_SECONDS="3600")
    env_file, moved = tmp_path / "emaillog.env", tmp_path / "moved"
    try:
        daemon.wait_ready()
        env_file.write_text(
            env_text(world.account, moved, EMAILLOG_IMAP_IDLE="no", EMAILLOG_POLL_SECONDS="3600")
        )
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 10, "the refusal")
        assert f"EMAILLOG_DATA_DIR: a running daemon keeps its data dir {tmp_path / 'data'}" in daemon.log()
        assert f"restart it to use {moved}" in daemon.log()
        # Still all on the old dir: its database, and its lease, which a pass there meets.
        world.deliver(message(message_id="<hup-1@acme.example>"))
        daemon.signal(signal.SIGUSR1)
        wait_until(lambda: ledger_rows("logged") == 1, 10, "the pass after the refused reload")
        assert not moved.exists()
        env_file.write_text(env_text(world.account, tmp_path / "data"))
        assert one_pass(env_file).returncode == 75
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_a_reload_keeps_the_metrics_port_and_the_log_format(tmp_path: Path, world: World) -> None:
    """Both are set up at start (the port bound, the log handler made): applied on SIGHUP, the
    daemon said "settings reloaded; changed: ops" and served the old port, and wrote the old format."""
    port, other = free_port(), free_port()
    quiet = {"EMAILLOG_IMAP_IDLE": "no", "EMAILLOG_POLL_SECONDS": "3600"}
    daemon = start(tmp_path, world.account, EMAILLOG_METRICS_PORT=str(port), **quiet)
    try:
        daemon.wait_ready()
        changed = {"EMAILLOG_METRICS_PORT": str(other), "EMAILLOG_LOG_FORMAT": "json"}
        (tmp_path / "emaillog.env").write_text(env_text(world.account, tmp_path / "data", **quiet, **changed))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 10, "the refusal")
        assert f"EMAILLOG_METRICS_PORT: a running daemon keeps the port it serves metrics on ({port}): " in (
            daemon.log()
        )
        assert f"restart it to use {other}" in daemon.log()
        assert "EMAILLOG_LOG_FORMAT: a running daemon keeps its log format (text)" in daemon.log()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"emaillog_passes_total" in response.read()
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reload_keeps_a_daemon_on_sqlite_off_postgresql(
    tmp_path: Path, world: World, database_url: str
) -> None:
    """On SQLite the lease is a lock file; on PostgreSQL the fleet's processes lease a mailbox with a
    PostgreSQL lock. Applied on SIGHUP, the daemon wrote into PostgreSQL under its lock file alone:
    a process started on PostgreSQL took the same mailbox."""
    daemon = start(tmp_path, world.account, EMAILLOG_IMAP_IDLE="no", EMAILLOG_POLL_SECONDS="3600")
    env_file = tmp_path / "emaillog.env"
    try:
        daemon.wait_ready()
        pg = {"EMAILLOG_DATABASE_URL": database_url}
        env_file.write_text(env_text(world.account, tmp_path / "data", EMAILLOG_IMAP_IDLE="no", **pg))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 10, "the refusal")
        assert "EMAILLOG_DATABASE_URL: a running daemon on SQLite cannot move to PostgreSQL" in daemon.log()
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_login_refused_at_start_exits_77_with_the_servers_words(tmp_path: Path, world: World) -> None:
    daemon = start(tmp_path, world.account, EMAILLOG_IMAP_PASSWORD="wrong")
    try:
        assert daemon.proc.wait(timeout=30) == 77
    finally:
        daemon.close()
    assert "refused the login" in daemon.log() and "Authentication failed" in daemon.log()


@pytest.fixture
def own_dovecot() -> Iterator[DevDovecot]:
    with throwaway_dovecot("ops-dovecot") as server:
        yield server


def test_reconnects_after_dovecot_restarts_and_shows_a_refused_login(
    tmp_path: Path, own_dovecot: DevDovecot
) -> None:
    account = own_dovecot.add_user("restart", "secret1")
    w = make_world(tmp_path, f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}", account)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    daemon = start(tmp_path, account, EMAILLOG_POLL_SECONDS="3600")
    try:
        daemon.wait_ready()
        w.deliver(message(message_id="<r-1@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 1, 10, "the first message")
        own_dovecot.restart()
        w.deliver(message(message_id="<r-2@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 2, 20, "the message after the restart")
        assert "mailbox connection lost" in daemon.log() and "reconnected" in daemon.log()
        # The password changes under the running daemon: it retries and status says so.
        own_dovecot.add_user("restart", "secret2")
        own_dovecot.restart()
        state = StateFile.for_settings(w.settings)
        wait_until(lambda: state.read().get("login_state") == "refused", 20, "the refused login in the state")
        assert daemon.proc.poll() is None
        shown = status.gather(w.settings, w.store, probe=False)["mailboxes"][0]["daemon"]
        assert shown["running"] and "Authentication failed" in shown["login_detail"]
        own_dovecot.add_user("restart", "secret1")
        wait_until(lambda: state.read().get("login_state") == "logged-in", 20, "the login to come back")
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_json_logs_and_metrics(tmp_path: Path, world: World) -> None:
    port = free_port()
    daemon = start(tmp_path, world.account, EMAILLOG_LOG_FORMAT="json", EMAILLOG_METRICS_PORT=str(port))
    try:
        daemon.wait_ready()
        world.deliver(message(message_id="<json-1@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 1, 10, "the message")
        wait_until(lambda: 'outcome="logged"} 1' in _get(port), 5, "the metrics")
        text = _get(port)
        assert "emaillog_imap_logged_in 1" in text and "emaillog_last_pass_timestamp_seconds" in text
        assert daemon.stop() == 0
    finally:
        daemon.close()
    lines = [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]
    [per_message] = [entry for entry in lines if entry.get("outcome")]
    assert per_message["outcome"] == "logged" and per_message["message_id"] == "<json-1@acme.example>"
    assert "time" in per_message and per_message["level"] == "info"


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def _served(port: int) -> str:
    """The metrics, or "" while nothing answers on ``port``."""
    try:
        return _get(port)
    except OSError:
        return ""


def test_a_fleet_serves_every_mailboxs_metrics_on_one_port(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    """A fleet (a mailboxes file, or any PostgreSQL) ignored EMAILLOG_METRICS_PORT without a word:
    connection refused. Now one endpoint for the process, each mailbox's series labelled with it;
    a mailbox taken out is gone from them, and the port is closed with the process."""
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    mailboxes, port = tmp_path / "mailboxes.toml", free_port()
    mailboxes.write_text(mailboxes_toml(accounts, globex={"EMAILLOG_ACCOUNT": "globex-corp"}))
    env_file = fleet_env(tmp_path, database_url, mailboxes)
    env_file.write_text(env_file.read_text() + f"EMAILLOG_METRICS_PORT={port}\n")
    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        client = IMAPClient(accounts["acme"].host, port=accounts["acme"].port, ssl=False)
        client.login(accounts["acme"].user, accounts["acme"].password)
        client.append("INBOX", message(message_id="<metrics@acme.example>"))  # a stranger's: rejected
        client.logout()
        rejected = 'emaillog_messages_total{mailbox="acme",account="acme",outcome="rejected"} 1'
        wait_until(lambda: rejected in _served(port), 15, "acme's message in the metrics")
        globex = 'emaillog_imap_logged_in{mailbox="globex",account="globex-corp"} 1'
        wait_until(lambda: globex in _get(port), 15, "globex logged in")
        text = _get(port)
        assert "emaillog_mailboxes_held 2" in text and "emaillog_mailboxes_configured 2" in text, text
        # One family, one HELP and TYPE: mailboxes are its labelled series, not blocks of their own.
        assert text.count("# TYPE emaillog_passes_total counter") == 1, text
        # globex taken out: stopped, its lease given back, and gone from the metrics.
        mailboxes.write_text(mailboxes_toml({"acme": accounts["acme"]}))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "stopped: globex" in daemon.log(), 15, "globex stopped")
        text = _get(port)
        assert 'mailbox="globex"' not in text and "emaillog_mailboxes_held 1" in text, text
        assert "emaillog_mailboxes_configured 1" in text and rejected in text, text
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert _served(port) == "" and "Traceback" not in daemon.log(), daemon.log()


@pytest.mark.parametrize("fleet", [False, True])
def test_a_metrics_port_taken_is_one_line_and_78_before_ready(
    tmp_path: Path, world: World, fleet: bool
) -> None:
    """A port another program holds was a traceback and exit 1, after the login: systemd restarted
    the daemon for ever, logging in to the mailbox each time."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    extra = {"EMAILLOG_MAILBOXES_FILE": str(tmp_path / "mailboxes.toml")} if fleet else {}
    (tmp_path / "mailboxes.toml").write_text(mailboxes_toml({"acme": world.account}))
    try:
        log = exit_before_ready(start(tmp_path, world.account, EMAILLOG_METRICS_PORT=str(port), **extra), 78)
    finally:
        taken.close()
    assert f"EMAILLOG_METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}" in log, log
    # Never connected to the mailbox: the first try writes "connecting" to the state file.
    assert not list((tmp_path / "data" / "state").glob("*.json")), log


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_mailbox_on_postgresql_serves_its_metrics(tmp_path: Path, both_worlds: World) -> None:
    """On PostgreSQL one mailbox is a fleet of one (worked under its lease): the recommended set-up
    answered "connection refused" on its metrics port."""
    port = free_port()
    url = both_worlds.settings.database_url
    daemon = start(tmp_path, both_worlds.account, EMAILLOG_DATABASE_URL=url, EMAILLOG_METRICS_PORT=str(port))
    try:
        daemon.wait_ready()
        both_worlds.deliver(message(message_id="<pg-metrics@acme.example>"))
        wait_until(lambda: 'outcome="logged"} 1' in _served(port), 15, "the message in the metrics")
        text = _get(port)
        labels = f'mailbox="default",account="{both_worlds.settings.account}"'
        assert f"emaillog_imap_logged_in{{{labels}}} 1" in text, text
        assert "emaillog_mailboxes_held 1" in text and "emaillog_mailboxes_configured 1" in text, text
        assert daemon.stop() == 0
    finally:
        daemon.close()


@pytest.mark.parametrize("timer", ["EMAILLOG_IDLE_RENEW_SECONDS", "EMAILLOG_RECONCILE_SECONDS"])
def test_idle_is_renewed_and_the_folder_reconciled_on_time(tmp_path: Path, world: World, timer: str) -> None:
    # With nothing arriving, only the timer under test ends IDLE; every end is followed by a full pass.
    daemon = start(tmp_path, world.account, EMAILLOG_POLL_SECONDS="3600", **{timer: "1"})
    try:
        daemon.wait_ready()
        first = daemon.log().count("pass done")
        wait_until(lambda: daemon.log().count("pass done") >= first + 3, 15, f"passes driven by {timer}")
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_read_only_intake_folder_exits_78(tmp_path: Path, database_url: str) -> None:
    with throwaway_dovecot("acl-dovecot", read_only_folders=["Shared"]) as server:
        account = server.add_user("acl", "acl-password")
        server.seed_maildir("acl", "Shared", [message()])
        daemon = start(tmp_path, account, EMAILLOG_INTAKE_FOLDER="Shared", EMAILLOG_DATABASE_URL=database_url)
        try:
            assert daemon.proc.wait(timeout=30) == 78
        finally:
            daemon.close()
        # One pass (--once) says the same: a configuration problem, not a temporary failure.
        once = one_pass(tmp_path / "emaillog.env")
    assert "the intake folder Shared is read-only for acl" in daemon.log()
    assert "Traceback" not in daemon.log() and not daemon.saw("READY=1"), daemon.log()
    assert once.returncode == 78, once.stderr
    assert "the folder Shared is read-only for acl" in once.stderr and "Traceback" not in once.stderr


def test_an_intake_folder_that_does_not_exist_exits_78(tmp_path: Path, both_worlds: World) -> None:
    world = both_worlds
    daemon = start(
        tmp_path,
        world.account,
        EMAILLOG_INTAKE_FOLDER="Inbox/CRM",
        EMAILLOG_DATABASE_URL=world.settings.database_url,
    )
    log = exit_before_ready(daemon, 78)
    once = one_pass(tmp_path / "emaillog.env")
    missing = f"the folder Inbox/CRM does not exist for {world.account.user}"
    assert missing in log
    assert once.returncode == 78 and missing in once.stderr and "Traceback" not in once.stderr, once.stderr


def test_a_fleet_reloads_its_mailboxes_on_sighup(tmp_path: Path, dovecot: DevDovecot) -> None:
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    acme_only = {"acme": accounts["acme"]}
    mailboxes, env_file = tmp_path / "mailboxes.toml", tmp_path / "emaillog.env"
    mailboxes.write_text(mailboxes_toml(acme_only))
    env_file.write_text(
        f"EMAILLOG_DATA_DIR={tmp_path / 'data'}\nEMAILLOG_MAILBOXES_FILE={mailboxes}\n"
        "EMAILLOG_IMAP_IDLE=no\nEMAILLOG_POLL_SECONDS=1\nEMAILLOG_IMAP_TIMEOUT=5\n"
    )
    boxes = {box.mailbox_name: box for box in load(env_file).all_mailboxes()}

    def folders(name: str) -> list[str | None]:
        return [row["folder"] for row in views.ledger(open_store(boxes[name]))]

    def deliver(name: str, message_id: str) -> None:
        client = IMAPClient(accounts[name].host, port=accounts[name].port, ssl=False)
        client.login(accounts[name].user, accounts[name].password)
        client.append("INBOX", message(message_id=message_id))  # from a stranger: rejected to Error
        client.logout()

    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        deliver("acme", "<before@acme.example>")
        wait_until(lambda: folders("acme") == ["Error"], 15, "acme's first message")
        # A new mailbox, and acme's Error folder renamed: acme restarts on it, globex is claimed.
        mailboxes.write_text(mailboxes_toml(accounts, acme={"EMAILLOG_ERROR_FOLDER": "Rejects"}))
        boxes.update((box.mailbox_name, box) for box in load(env_file).all_mailboxes())
        daemon.signal(signal.SIGHUP)
        reloaded = "settings reloaded; restarted: acme; stopped: none; new: globex"
        wait_until(lambda: reloaded in daemon.log(), 15, "the reload")
        assert daemon.saw("RELOADING=1")
        deliver("acme", "<after@acme.example>")
        deliver("globex", "<first@globex.example>")
        wait_until(lambda: folders("acme") == ["Error", "Rejects"], 15, "acme on its new settings")
        wait_until(lambda: folders("globex") == ["Error"], 15, "globex, claimed after the reload")
        # A bad file is refused and everything keeps running on the settings in force.
        mailboxes.write_text('[mailbox."Bad Name"]\n')
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 15, "the refusal")
        deliver("globex", "<still@globex.example>")
        wait_until(lambda: len(folders("globex")) == 2, 15, "globex still worked")
        # A mailbox taken out is stopped and its lease given back.
        mailboxes.write_text(mailboxes_toml(acme_only, acme={"EMAILLOG_ERROR_FOLDER": "Rejects"}))
        daemon.signal(signal.SIGHUP)
        stopped = "restarted: none; stopped: globex; new: none"
        wait_until(lambda: stopped in daemon.log(), 15, "globex stopped")
        assert FileLeases(boxes["globex"].data_dir / "leases").acquire("globex", "globex")
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert "Traceback" not in daemon.log()


def test_a_fleet_keeps_its_data_dir_on_sighup(tmp_path: Path, dovecot: DevDovecot) -> None:
    """The fleet's leases on SQLite are lock files in the data dir, taken at start: a database named
    outside it let a new EMAILLOG_DATA_DIR through on SIGHUP, the leases left in the old dir."""
    account = dovecot.add_user(f"acme-{tmp_path.name[-8:]}", "pw")
    mailboxes, env_file, moved = tmp_path / "mailboxes.toml", tmp_path / "emaillog.env", tmp_path / "moved"
    mailboxes.write_text(mailboxes_toml({"acme": account}))

    def settings(data_dir: Path) -> str:
        return (
            f"EMAILLOG_DATA_DIR={data_dir}\nEMAILLOG_MAILBOXES_FILE={mailboxes}\n"
            f"EMAILLOG_DATABASE_URL=sqlite:///{tmp_path / 'emaillog.sqlite3'}\n"
            "EMAILLOG_IMAP_IDLE=no\nEMAILLOG_POLL_SECONDS=1\nEMAILLOG_IMAP_TIMEOUT=5\n"
        )

    env_file.write_text(settings(tmp_path / "data"))
    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        env_file.write_text(settings(moved))
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed, keeping the old settings" in daemon.log(), 15, "the refusal")
        assert f"EMAILLOG_DATA_DIR: a running daemon keeps its data dir {tmp_path / 'data'}" in daemon.log()
        assert not FileLeases(tmp_path / "data" / "leases").acquire("acme", "acme")  # still the fleet's
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_a_pass_runs_under_the_units_system_call_filter(tmp_path: Path, both_worlds: World) -> None:
    """The shipped unit lets the daemon make only the system calls its SystemCallFilter= lines
    allow; everything else fails with EPERM. Under the same filter (tests/sandbox.py) a --once pass
    logs a batch large enough for the parser workers, and the workers lower their priority. (The
    filter includes MemoryDenyWriteExecute=yes; tests/unit/test_sandbox.py checks what it refuses.)

    os.nice was once refused there: the worker pool broke, and every batch parsed on it counted
    as its messages' crash.
    """
    raws = [
        message(message_id=f"<filtered-{n}@acme.example>", body="A long proposal.\n" * 20_000)
        for n in range(10)
    ]
    both_worlds.deliver(*raws)
    assert sum(len(raw) for raw in raws) > PARALLEL_OVER  # parsed on the worker processes
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(
        env_text(
            both_worlds.account, tmp_path / "data", EMAILLOG_DATABASE_URL=both_worlds.settings.database_url
        )
    )
    once = subprocess.run(
        under_unit_filter([sys.executable, str(ROOT / "daemon.py"), "--once", "--env-file", str(env_file)]),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 0, once.stderr
    assert "Traceback" not in once.stderr and "priority" not in once.stderr, once.stderr
    assert ledger_rows("logged") == 10
    assert both_worlds.folder_counts() == {"INBOX": 0, "Processed": 10, "Error": 0}


def test_the_daemon_runs_under_the_units_system_call_filter(tmp_path: Path, world: World) -> None:
    """Started, told READY, woken by IDLE, watched, stopped by SIGTERM: all under the unit's filter."""
    daemon = start(
        tmp_path, world.account, watchdog_usec=2_000_000, sandboxed=True, EMAILLOG_POLL_SECONDS="3600"
    )
    try:
        daemon.wait_ready()
        world.deliver(
            *(
                message(message_id=f"<idle-{n}@acme.example>", body="A long proposal.\n" * 20_000)
                for n in range(10)
            )
        )
        wait_until(lambda: ledger_rows("logged") == 10, 30, "the messages to be logged through IDLE")
        wait_until(lambda: daemon.saw("WATCHDOG=1"), 5, "a watchdog ping")
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert "Traceback" not in daemon.log() and "priority" not in daemon.log(), daemon.log()
    assert world.folder_counts() == {"INBOX": 0, "Processed": 10, "Error": 0}


def dry_run(
    tmp_path: Path, world: World, data_dir: Path, database_url: str
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "dry-run.env"
    env_file.write_text(env_text(world.account, data_dir, EMAILLOG_DATABASE_URL=database_url))
    return one_pass(env_file, "--dry-run")


def test_a_dry_run_reads_the_database_without_writing_or_upgrading_it(
    tmp_path: Path, both_worlds: World
) -> None:
    world = both_worlds
    world.deliver(message(), message(sender="Stranger <x@elsewhere.example>", message_id="<m2@acme.example>"))
    url, data_dir = world.settings.database_url, world.settings.data_dir
    done = dry_run(tmp_path, world, data_dir, url)
    assert done.returncode == 0, done.stderr
    assert "outcome=logged" in done.stderr and "reason=sender-not-a-user" in done.stderr
    assert views.ledger(world.store) == [] and LoggedEmail.select().count() == 0
    assert world.folder_counts() == {"INBOX": 2, "Processed": 0, "Error": 0}
    # The database refuses writes itself: nothing in a dry run can write by mistake.
    read_only = open_read_only(world.settings)
    with pytest.raises(DatabaseError), read_only.atomic():
        Account.create(name="written-by-a-dry-run")
    read_only.close()
    # A database one schema version behind: the dry run says so and leaves it as it is.
    database_proxy.initialize(open_database(url, migrate=False))
    SchemaVersion.delete().where(SchemaVersion.version == CURRENT_VERSION).execute()
    behind = dry_run(tmp_path, world, data_dir, url)
    assert behind.returncode == 78, behind.stderr
    assert f"schema version {CURRENT_VERSION - 1}, this emaillog needs {CURRENT_VERSION}" in behind.stderr
    assert "Traceback" not in behind.stderr
    assert current_version(database_proxy.obj) == CURRENT_VERSION - 1
    # One a newer emaillog upgraded: a pass of this version would refuse it too, so it is not offered.
    SchemaVersion.create(version=CURRENT_VERSION + 1)
    ahead = dry_run(tmp_path, world, data_dir, url)
    assert ahead.returncode == 78, ahead.stderr
    assert f"schema version {CURRENT_VERSION + 1}, newer than this emaillog knows" in ahead.stderr
    assert "upgrade it with a pass" not in ahead.stderr and "Traceback" not in ahead.stderr


def test_a_once_pass_that_fails_on_a_local_file_says_so_not_mailbox_unavailable(
    tmp_path: Path, world: World
) -> None:
    world.deliver(message(attachments=[("offer.pdf", b"%PDF-1.7 offer")]))
    (world.settings.data_dir / "attachments").write_text("a file where the directory should be")
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(env_text(world.account, world.settings.data_dir))
    done = one_pass(env_file)
    assert done.returncode == 75, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert "pass failed on a local file: [Errno 20] Not a directory" in line, line
    assert "mailbox unavailable" not in line and "Traceback" not in done.stderr
    assert world.folder_counts()["INBOX"] == 1  # left for the next pass


def test_a_dry_run_leaves_the_mailbox_and_the_data_dir_as_they_were(tmp_path: Path, world: World) -> None:
    world.deliver(
        message(attachments=[("offer.pdf", b"%PDF" * 750_000)]),  # 3 MB: parsed on a worker, spooled
        message(sender="Stranger <x@elsewhere.example>", message_id="<m2@acme.example>"),
    )
    data_dir = world.settings.data_dir
    before = _files(data_dir)
    done = dry_run(tmp_path, world, data_dir, world.settings.database_url)
    assert done.returncode == 0, done.stderr
    assert "1 logged, 1 rejected; 0 moved" in done.stderr
    client = world.client()
    try:
        assert [name for _, _, name in client.list_folders()] == ["INBOX"]  # no folder created
        client.select_folder("INBOX", readonly=True)
        assert set(client.get_flags(client.search()).values()) == {()}  # no \Seen
    finally:
        client.logout()
    # Nothing stored, not even an empty temp dir; SQLite's own -wal/-shm of a read-only reader aside.
    assert _files(data_dir) - before <= {"emaillog.sqlite3-wal", "emaillog.sqlite3-shm"}


def _files(top: Path) -> set[str]:
    return {str(path.relative_to(top)) for path in top.rglob("*")}


def test_a_dry_run_creates_no_database(tmp_path: Path, world: World) -> None:
    data_dir = tmp_path / "fresh"
    done = dry_run(tmp_path, world, data_dir, f"sqlite:///{data_dir / 'emaillog.sqlite3'}")
    assert done.returncode == 78, done.stderr
    assert f"there is no database at {data_dir / 'emaillog.sqlite3'}" in done.stderr
    assert "Traceback" not in done.stderr and not data_dir.exists()


# -- start-up under leases (PostgreSQL, or several mailboxes): as strict as the one-mailbox daemon ----

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@ON_POSTGRESQL
def test_on_postgresql_a_refused_login_at_start_exits_77_before_ready(
    tmp_path: Path, both_worlds: World
) -> None:
    """With PostgreSQL one mailbox is worked under a lease, and start-up is what it is with SQLite:
    READY=1 only after the login worked, a refused one is exit 77 in one line."""
    url = both_worlds.settings.database_url
    daemon = start(tmp_path, both_worlds.account, EMAILLOG_DATABASE_URL=url, EMAILLOG_IMAP_PASSWORD="wrong")
    log = exit_before_ready(daemon, 77)
    assert log.count("refused the login") == 1 and "Authentication failed" in log, log


@ON_POSTGRESQL
def test_on_postgresql_an_unreachable_mailbox_at_start_exits_75(tmp_path: Path, both_worlds: World) -> None:
    url = both_worlds.settings.database_url
    closed = str(free_port())  # nothing listens there
    daemon = start(tmp_path, both_worlds.account, EMAILLOG_DATABASE_URL=url, EMAILLOG_IMAP_PORT=closed)
    log = exit_before_ready(daemon, 75)
    assert log.count(f"cannot connect to {both_worlds.account.host}:{closed}") == 1, log


def fleet_env(tmp_path: Path, database_url: str, mailboxes: Path) -> Path:
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(
        f"EMAILLOG_DATA_DIR={tmp_path / 'data'}\nEMAILLOG_MAILBOXES_FILE={mailboxes}\n"
        f"EMAILLOG_DATABASE_URL={database_url}\nEMAILLOG_IMAP_IDLE=no\nEMAILLOG_POLL_SECONDS=1\n"
        "EMAILLOG_IMAP_TIMEOUT=5\nEMAILLOG_RECONNECT_MIN_SECONDS=1\nEMAILLOG_RECONNECT_MAX_SECONDS=2\n"
    )
    return env_file


def test_a_fleet_keeps_working_beside_a_mailbox_whose_login_is_refused(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    """globex's password is wrong, initech's lease is held by another process, acme is fine: the
    process gets ready on acme, retries globex with backoff in one line a try (its state file and
    systemd's STATUS say so), leaves initech alone, and stops with 0 on SIGTERM. initech's account
    is not its name: the lease is the account's mailbox's."""
    names = ("globex", "acme", "initech")  # globex first: it is tried first at start-up
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in names}
    mailboxes = tmp_path / "mailboxes.toml"
    initech = {"EMAILLOG_ACCOUNT": "initech-corp"}
    mailboxes.write_text(
        mailboxes_toml(accounts, globex={"EMAILLOG_IMAP_PASSWORD": "wrong"}, initech=initech)
    )
    env_file = fleet_env(tmp_path, database_url, mailboxes)
    boxes = {box.mailbox_name: box for box in load(env_file).all_mailboxes()}
    acme = open_store(boxes["acme"])
    admin.add_user(acme, boxes["acme"], "rita@acme.example", "Rita Rep", active=True, may_log=True)
    other_process = leases_for(database_url, tmp_path / "data")
    assert other_process.acquire("initech-corp", "initech")
    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        client = IMAPClient(accounts["acme"].host, port=accounts["acme"].port, ssl=False)
        client.login(accounts["acme"].user, accounts["acme"].password)
        client.append("INBOX", message(message_id="<fleet-1@acme.example>", delivered_to="log@acme.example"))
        client.logout()
        wait_until(lambda: [r["outcome"] for r in views.ledger(acme)] == ["logged"], 15, "acme's mail")
        wait_until(lambda: "mailbox acme: pass done: 1 seen: 1 logged" in daemon.log(), 10, "acme's pass")
        refusals = lambda: [line for line in daemon.log().splitlines() if "refused the login" in line]  # noqa: E731
        wait_until(lambda: len(refusals()) >= 3, 20, "globex retried")
        assert all(line.count("globex") >= 2 and "WARNING" in line for line in refusals()), refusals()
        state = StateFile.for_settings(boxes["globex"]).read()
        assert state["login_state"] == "refused" and "Authentication failed" in state["login_detail"]
        shown = status.gather(boxes["globex"], open_store(boxes["globex"]), probe=False)["mailboxes"][0]
        assert shown["daemon"]["running"] and shown["daemon"]["login_state"] == "refused"
        wait_until(lambda: daemon.saw("globex: IMAP refused"), 10, "the refusal in systemd's STATUS")
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    finally:
        daemon.close()
        other_process.release_all()
    log = daemon.log()
    assert "Traceback" not in log, log
    assert "working mailbox initech" not in log, log
    assert not [
        line for line in log.splitlines() if "initech" in line and ("WARNING" in line or "ERROR" in line)
    ]


def test_a_fleet_gives_back_a_mailbox_it_cannot_reach_for_another_process_to_take(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    """A mailbox whose server this process could not reach (a firewall or a route on this machine)
    was held for ever: a process on another machine, which might reach it, could never take it."""
    acme = {"acme": dovecot.add_user(f"acme-{tmp_path.name[-8:]}", "pw")}
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(mailboxes_toml(acme) + "\n" + offline_mailboxes_toml("down"))
    env_file = fleet_env(tmp_path, database_url, mailboxes)
    with env_file.open("a") as env:
        env.write("EMAILLOG_HAND_OVER_SECONDS=3\n")
    other_process = leases_for(database_url, tmp_path / "data")
    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        wait_until(lambda: "working mailbox down" in daemon.log(), 10, "down claimed")
        assert not other_process.acquire("down", "down")
        wait_until(lambda: other_process.acquire("down", "down"), 30, "down given back")
        assert "mailbox down not worked from here for " in daemon.log()
        assert "s (IMAP unreachable): giving its lease back" in daemon.log()
        assert not other_process.acquire("acme", "acme")  # the mailbox it reaches is kept
        # Nobody else works it after all: taken back once the other process lets go.
        other_process.release("down", "down")
        wait_until(lambda: daemon.log().count("working mailbox down") == 2, 30, "down claimed again")
        assert daemon.stop() == 0
    finally:
        daemon.close()
        other_process.release_all()
    assert "Traceback" not in daemon.log(), daemon.log()


def test_a_fleet_gives_back_a_mailbox_whose_passes_keep_failing_on_a_local_file(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    """The login works, every pass fails (the attachments dir unwritable here): each reconnect's
    login counted as reaching the mailbox, and it was never given back for a process that can work it."""
    acme = {"acme": dovecot.add_user(f"acme-{tmp_path.name[-8:]}", "pw")}
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(mailboxes_toml(acme))
    env_file = fleet_env(tmp_path, database_url, mailboxes)
    with env_file.open("a") as env:
        env.write("EMAILLOG_HAND_OVER_SECONDS=3\n")
    box = load(env_file).all_mailboxes()[0]
    store = open_store(box)
    admin.add_user(store, box, "rita@acme.example", "Rita Rep", active=True, may_log=True)
    box.attachments_dir.parent.mkdir(parents=True, exist_ok=True)
    box.attachments_dir.write_bytes(b"a file where the directory should be")
    client = IMAPClient(acme["acme"].host, port=acme["acme"].port, ssl=False)
    client.login(acme["acme"].user, acme["acme"].password)
    attached = [("a.bin", os.urandom(500))]
    client.append(
        "INBOX",
        message(message_id="<att@acme.example>", delivered_to="log@acme.example", attachments=attached),
    )
    client.logout()
    other_process = leases_for(database_url, tmp_path / "data")
    daemon = DaemonProcess(tmp_path, env_file)
    try:
        daemon.wait_ready()
        wait_until(lambda: "pass failed on a local file" in daemon.log(), 10, "a failed pass")
        wait_until(lambda: other_process.acquire("acme", "acme"), 20, "acme given back")
        assert "mailbox acme not worked from here for " in daemon.log()
        assert {row["attempts"] for row in views.ledger(store)} <= {0}  # given back: no crash counted
        box.attachments_dir.unlink()
        other_process.release("acme", "acme")
        wait_until(
            lambda: [r["outcome"] for r in views.ledger(store)] == ["logged"], 20, "logged once taken back"
        )
        assert daemon.stop() == 0
    finally:
        daemon.close()
        other_process.release_all()
    assert "Traceback" not in daemon.log(), daemon.log()


def test_a_fleet_asks_systemd_for_time_before_each_mailbox_it_tries_at_start(
    tmp_path: Path, dovecot: DevDovecot
) -> None:
    """Mailboxes are tried in turn until one works: with a few black-holed servers in front, the
    tries outlasted TimeoutStartSec= and systemd killed the fleet before READY=1, at every start."""
    acme = {"acme": dovecot.add_user(f"acme-{tmp_path.name[-8:]}", "pw")}
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(offline_mailboxes_toml("down") + "\n" + mailboxes_toml(acme))
    daemon = DaemonProcess(tmp_path, fleet_env(tmp_path, f"sqlite:///{tmp_path / 'el.sqlite3'}", mailboxes))
    try:
        daemon.wait_ready()
        sent = daemon.read_notify()
        before_ready = sent[: next(i for i, m in enumerate(sent) if "READY=1" in m)]
        # Two tries (down, then acme), each given 6 IMAP timeouts of 5 s.
        assert before_ready.count("EXTEND_TIMEOUT_USEC=30000000") == 2, sent
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_a_fleets_one_pass_says_which_mailbox_each_pass_was(tmp_path: Path, dovecot: DevDovecot) -> None:
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(mailboxes_toml(accounts))
    env_file = fleet_env(tmp_path, f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}", mailboxes)
    for mode in ("--once", "--dry-run"):
        done = one_pass(env_file, mode)
        assert done.returncode == 0, done.stderr
        for name in accounts:
            assert f"mailbox {name}: pass done: 0 seen" in done.stderr, done.stderr


def test_a_fleets_once_pass_stopped_in_its_first_mailbox_leaves_the_next_alone(
    tmp_path: Path, dovecot: DevDovecot
) -> None:
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    for account in accounts.values():
        raws = [message(to=[f"c{i}@initech.example"], message_id=f"<f-{i}@acme.example>") for i in range(600)]
        dovecot.seed_maildir(account.user, "INBOX", raws)
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(mailboxes_toml(accounts))
    env_file = fleet_env(tmp_path, f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}", mailboxes)
    env_file.write_text(env_file.read_text() + "EMAILLOG_BATCH_SIZE=10\n")
    code, text = stopped_once_run(env_file, "SIGTERM")
    assert code == 0 and "mailbox acme: stopped by SIGTERM" in text, text
    # Stopped is stopped: the pass of the next mailbox does not start.
    assert "mailbox globex: pass done" not in text, text
    client = IMAPClient(accounts["globex"].host, port=accounts["globex"].port, ssl=False)
    client.login(accounts["globex"].user, "pw")
    try:
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 600
    finally:
        client.logout()


def test_a_fleet_whose_every_login_is_refused_at_start_exits_77(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    mailboxes = tmp_path / "mailboxes.toml"
    wrong = {"EMAILLOG_IMAP_PASSWORD": "wrong"}
    mailboxes.write_text(mailboxes_toml(accounts, acme=wrong, globex=wrong))
    log = exit_before_ready(DaemonProcess(tmp_path, fleet_env(tmp_path, database_url, mailboxes)), 77)
    assert len([line for line in log.splitlines() if "refused the login" in line]) == 2, log


def _first_logged(daemon: DaemonProcess, world: World) -> None:
    daemon.wait_ready()
    world.deliver(message(message_id="<before@acme.example>"))
    wait_until(lambda: ledger_rows("logged") == 1, 20, "the first message logged")


def _end_sessions(but_the_leases: bool) -> None:
    """What a PostgreSQL restart or failover does to the daemon's sessions (all, or all but the
    leases' when the server has not got to those yet)."""
    spared = " AND application_name NOT LIKE 'emaillog-lease-%%'" if but_the_leases else ""
    database_proxy.obj.execute_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()" + spared
    )


@ON_POSTGRESQL
def test_on_postgresql_a_reload_while_the_database_is_away_keeps_the_daemon_running(
    tmp_path: Path, both_worlds: World
) -> None:
    """A SIGHUP that restarts a mailbox (its settings changed) when the database has just dropped the
    process's sessions (a PostgreSQL restart, a failover) but not yet the lease's: the mailbox is
    claimed again once the database answers, as after any outage, instead of the daemon exiting 75."""
    url = both_worlds.settings.database_url
    daemon = start(tmp_path, both_worlds.account, EMAILLOG_DATABASE_URL=url)
    try:
        _first_logged(daemon, both_worlds)
        _end_sessions(but_the_leases=True)
        env_file = tmp_path / "emaillog.env"
        env_file.write_text(env_file.read_text() + "EMAILLOG_IMAP_TIMEOUT=6\n")
        daemon.signal(signal.SIGHUP)
        exited = daemon.proc.poll
        wait_until(lambda: "settings reloaded" in daemon.log() or exited() is not None, 20, "the reload")
        both_worlds.deliver(message(message_id="<after@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 2 or exited() is not None, 30, "the daemon working again")
        assert daemon.proc.poll() is None, daemon.log()
        assert daemon.stop() == 0
    finally:
        daemon.close()
    log = daemon.log()
    assert "Traceback" not in log, log
    assert "settings reloaded; restarted: default" in log and "the database answers again" in log, log


@ON_POSTGRESQL
def test_on_postgresql_the_daemon_works_again_after_the_server_drops_every_connection(
    tmp_path: Path, both_worlds: World
) -> None:
    """A restart of PostgreSQL cuts every session: the lease's, the claiming thread's and the
    mailbox's. The daemon takes its lease again and goes on by itself, in one-line warnings."""
    url = both_worlds.settings.database_url
    daemon = start(tmp_path, both_worlds.account, EMAILLOG_DATABASE_URL=url)
    try:
        _first_logged(daemon, both_worlds)
        _end_sessions(but_the_leases=False)
        wait_until(lambda: "lease session was lost" in daemon.log(), 20, "the lost session noticed")
        both_worlds.deliver(message(message_id="<after@acme.example>"))
        wait_until(lambda: ledger_rows("logged") == 2, 30, "the daemon working again")
        assert both_worlds.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 0}
        assert daemon.stop() == 0
    finally:
        daemon.close()
    log = daemon.log()
    assert "Traceback" not in log, log
    assert all(line[:4].isdigit() or line.startswith("{") for line in log.splitlines() if line), log


def test_a_once_pass_beside_the_daemon_stops_in_one_line_instead_of_racing_it(
    tmp_path: Path, world: World
) -> None:
    """One mailbox on SQLite: before its lease, both counted an attempt on every message and the
    ``--once`` run failed with EXPUNGEISSUED on MOVEs of messages the daemon had moved."""
    daemon = start(tmp_path, world.account)
    try:
        daemon.wait_ready()
        beside = one_pass(tmp_path / "emaillog.env")
        assert beside.returncode == 75, beside.stderr
        assert f"is being worked by another emaillog process (pid {daemon.proc.pid})" in beside.stderr
        assert "Traceback" not in beside.stderr
        assert daemon.stop() == 0
    finally:
        daemon.close()
    world.deliver(message())
    after = one_pass(tmp_path / "emaillog.env")  # the lease went with the daemon
    assert after.returncode == 0, after.stderr
    assert world.folder_counts()["Processed"] == 1


def test_a_pass_that_cannot_take_the_lease_opens_no_database(imap_account: ImapAccount) -> None:
    """The lease comes first: a pass beside the daemon must not create (or upgrade) the database."""
    # Under /tmp and searchable: the demo's Dovecot serves mail as its own user.
    root = Path(tempfile.mkdtemp(prefix="emaillog-lease-"))
    root.chmod(0o755)
    (root / "emaillog.env").write_text(env_text(imap_account, root / "data"))
    # Searchable too, for the demo below: made by the lease it would be its owner's alone (0700).
    (root / "data").mkdir(mode=0o755)
    (root / "data").chmod(0o755)
    daemon = FileLeases(root / "data" / "leases")
    assert daemon.acquire("default", "default")
    try:
        beside = one_pass(root / "emaillog.env")
        assert beside.returncode == 75, beside.stderr
        assert not (root / "data" / "emaillog.sqlite3").exists()
        # A dry run takes no lease, the demo mailbox's included (no IMAP settings: the demo).
        (root / "demo.env").write_text(f"EMAILLOG_DATA_DIR={root / 'data'}\n")
        dry = one_pass(root / "demo.env", "--dry-run")
        assert dry.returncode == 0 and "pass done" in dry.stderr, dry.stderr
    finally:
        daemon.release_all()
        shutil.rmtree(root, ignore_errors=True)


def test_a_pass_beside_the_demo_daemon_uses_its_mailbox_and_meets_its_lease() -> None:
    """No IMAP settings: ``make run`` works the demo mailbox, its own Dovecot under the data dir.
    A ``--once`` beside it started a second Dovecot there: it rewrote the running one's
    configuration (another port), failed on Dovecot's pid file and exited 78 with Dovecot's log."""
    # Under /tmp and searchable: the demo's Dovecot serves mail as its own user.
    root = Path(tempfile.mkdtemp(prefix="emaillog-demo-"))
    root.chmod(0o755)
    (root / "emaillog.env").write_text(f"EMAILLOG_DATA_DIR={root / 'data'}\n")
    conf = root / "data" / "demo-mailbox" / "dovecot" / "dovecot.conf"
    daemon = DaemonProcess(root, root / "emaillog.env")
    try:
        daemon.wait_ready()
        running_conf = conf.read_text()
        beside = one_pass(root / "emaillog.env")
        assert beside.returncode == 75, beside.stderr
        assert f"is being worked by another emaillog process (pid {daemon.proc.pid})" in beside.stderr
        assert "Traceback" not in beside.stderr and "dovecot" not in beside.stderr.lower()
        # A dry run may run beside the daemon: it reads the demo mailbox the daemon serves.
        dry = one_pass(root / "emaillog.env", "--dry-run")
        assert dry.returncode == 0 and "pass done" in dry.stderr, dry.stderr
        assert conf.read_text() == running_conf
        assert daemon.stop() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()  # SIGTERM: the daemon stops its Dovecot, which a kill -9 would leave running
        shutil.rmtree(root, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; reaping it is its new parent's business


def test_a_daemon_killed_with_9_leaves_no_parser_process_holding_its_mailbox(
    tmp_path: Path, both_worlds: World, dovecot: DevDovecot
) -> None:
    """Before: the parser workers outlived the daemon for good, and with them the descriptors they
    inherited — the lease's flock (SQLite) or its connection (PostgreSQL) — so no other process
    ever took the dead daemon's mailbox over."""
    world = both_worlds
    raws = [message(message_id=f"<big-{i}@acme.example>", body="x" * 200_000) for i in range(15)]
    assert sum(len(raw) for raw in raws) > PARALLEL_OVER  # parsed on the worker processes
    dovecot.seed_maildir(world.account.user, "INBOX", raws)
    daemon = start(tmp_path, world.account, EMAILLOG_DATABASE_URL=world.settings.database_url)
    try:
        daemon.wait_ready()
        wait_until(lambda: world.folder_counts()["Processed"] == len(raws), 60, "the backlog logged")
        workers = _children(daemon.proc.pid)
        assert workers, "no parser process was started"
        daemon.proc.kill()
        daemon.proc.wait()
    finally:
        daemon.close()
    other_process = leases_for(world.settings.database_url, tmp_path / "data")
    try:
        wait_until(lambda: not any(map(_running, workers)), 10, "the orphaned parser processes to end")
        settings = world.settings
        wait_until(lambda: other_process.acquire(settings.account, settings.mailbox_name), 30, "the lease")
    finally:
        other_process.release_all()
        for pid in filter(_running, workers):  # the test failed: leave no orphan behind
            os.kill(pid, signal.SIGKILL)
