"""A fleet of many mailboxes on one PostgreSQL (SPEC §14): what it costs the database server.

Measured with 150 mailboxes in one process (max_connections 100, the server's default): each
mailbox thread kept a session through IDLE, so the 98th took the last slot, the mailboxes after it
failed every pass, and every other client of the database (status, psql, the other workers) was
refused. An idle fleet now holds two sessions, however many mailboxes it works.

After an outage every mailbox has a backlog at once: 35 mailboxes of 40 messages (600 KB each) ran
34 passes together, each holding a batch in memory and a session. A fleet now runs at most
EMAILLOG_MAX_PASSES_AT_ONCE passes; the others wait their turn.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from imapclient import IMAPClient
from pg import lease_holders
from psycopg2 import sql
from support import NotifySocket, mailboxes_toml, message, wait_until

from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.fleet import CLAIM_SECONDS
from emaillog.fleetclaims import BALANCE_ROUNDS

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


class Fleet:
    """``daemon.py`` over a mailboxes file, its log in a file, its sd_notify messages read."""

    def __init__(self, tmp_path: Path, database_url: str, mailboxes: str, **extra: str) -> None:
        (tmp_path / "mailboxes.toml").write_text(mailboxes)
        self.log_path = tmp_path / "fleet.log"
        self.notify = NotifySocket(tmp_path / "notify.sock")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "NOTIFY_SOCKET": str(self.notify.path),
            "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
            "EMAILLOG_DATABASE_URL": database_url,
            "EMAILLOG_MAILBOXES_FILE": str(tmp_path / "mailboxes.toml"),
            "EMAILLOG_IMAP_TIMEOUT": "5",
            **extra,
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "daemon.py")], env=env, cwd=tmp_path, stdout=log, stderr=log
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log().splitlines() if text in line]

    def waits(self) -> list[float]:
        """The waits before each reconnect, as logged."""
        return [
            float(re.findall(r"reconnecting in ([0-9.]+)s", line)[0])
            for line in self.lines("reconnecting in")
        ]

    def rounds(self) -> int:
        """The claiming rounds run so far: each ends telling systemd what it works (STATUS=)."""
        return self.notify.count("STATUS=working ")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.notify.close()
        return code


def leases_by_process(url: str) -> list[int]:
    """The mailbox leases each process holds, most first."""
    return sorted(lease_holders(url).values(), reverse=True)


def sessions(url: str) -> int:
    """The sessions on ``url``'s database other than the one counting."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = postgres.create_database("fleet_scale")
    yield url
    postgres.drop_database("fleet_scale")


def test_an_idle_fleet_holds_no_database_session_per_mailbox(
    tmp_path: Path, dovecot: DevDovecot, pg_url: str
) -> None:
    names = [f"box{n}" for n in range(6)]
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-6:]}", "pw") for name in names}
    fleet = Fleet(tmp_path, pg_url, mailboxes_toml(accounts))
    try:
        # Claimed one a round (every 2 s); each mailbox's first pass, then IDLE.
        wait_until(lambda: len(fleet.lines("pass done")) == len(names), 40, "every mailbox's first pass")
        wait_until(lambda: len(fleet.lines("IDLE, with a reconciliation")) == len(names), 10, "IDLE")
        # The lease's session and the claiming thread's: not one more per mailbox (was 2 + 6).
        assert sessions(pg_url) <= 2
    finally:
        code = fleet.stop()
    assert code == 0 and "Traceback" not in fleet.log(), fleet.log()


def test_a_lone_process_claims_every_mailbox_at_once_and_shares_them_with_one_started_later(
    tmp_path: Path, dovecot: DevDovecot, pg_url: str
) -> None:
    """Claimed one a round (2 s), 20 mailboxes took 40 s to start (150: 5 minutes), and a process
    started once the first had them all never got one."""
    names = [f"box{n:02d}" for n in range(20)]
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-6:]}", "pw") for name in names}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Fleet(tmp_path / "a", pg_url, mailboxes_toml(accounts))
    second = None
    try:
        wait_until(lambda: leases_by_process(pg_url) == [20], 12, "the first process to hold every mailbox")
        second = Fleet(tmp_path / "b", pg_url, mailboxes_toml(accounts))
        wait_until(lambda: leases_by_process(pg_url) in ([11, 9], [10, 10]), 30, "the mailboxes shared")
        wait_until(
            lambda: len(second.lines("IDLE, with a reconciliation")) >= 9, 20, "the second working them"
        )
    finally:
        codes = [fleet.stop() for fleet in (first, second) if fleet is not None]
    assert codes == [0, 0]
    for fleet in (first, second):
        assert fleet is not None and "Traceback" not in fleet.log(), fleet.log()


def test_two_deployments_on_one_database_each_keep_all_their_mailboxes(
    tmp_path: Path, dovecot: DevDovecot, pg_url: str
) -> None:
    """Two tenants' fleets (their own mailboxes) on one PostgreSQL: counted as two processes sharing
    one set, each took its share as half its own mailboxes and gave the rest back to nobody."""
    fleets = []
    try:
        for tenant in ("acme", "globex"):
            names = [f"{tenant}{n}" for n in range(6)]
            accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-6:]}", "pw") for name in names}
            (tmp_path / tenant).mkdir()
            fleets.append(Fleet(tmp_path / tenant, pg_url, mailboxes_toml(accounts)))
        wait_until(lambda: leases_by_process(pg_url) == [6, 6], 20, "each fleet to hold its mailboxes")
        # Past the rounds after which a fleet over its share gives mailboxes back (BALANCE_ROUNDS),
        # each fleet's counted from now: a fixed wait guessed how many rounds a loaded machine ran.
        held_at = [fleet.rounds() for fleet in fleets]
        wait_until(
            lambda: all(f.rounds() > n + BALANCE_ROUNDS for f, n in zip(fleets, held_at, strict=True)),
            CLAIM_SECONDS * (BALANCE_ROUNDS + 1) + 20,
            f"{BALANCE_ROUNDS + 1} more claiming rounds in each fleet",
        )
        assert leases_by_process(pg_url) == [6, 6]
    finally:
        codes = [fleet.stop() for fleet in fleets]
    assert codes == [0, 0]
    for fleet in fleets:
        assert "giving back" not in fleet.log() and "Traceback" not in fleet.log(), fleet.log()


def _backlog(account: ImapAccount, name: str, count: int) -> None:
    """``count`` messages in ``name``'s INBOX, their Message-IDs naming the mailbox: <NAME-N@...>."""
    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    try:
        for n in range(count):
            raw = message(
                sender=f"Rita <rita@{name}.example>",
                delivered_to=f"log@{name}.example",
                message_id=f"<{name}-{n}@{name}.example>",
                attachments=[("notes.bin", os.urandom(20_000))],
            )
            client.append("INBOX", raw)
    finally:
        client.logout()


def passes_at_once(lines: list[str], names: list[str]) -> int:
    """The most passes under way at once, read from the order of the log's lines (no clock): a
    mailbox's pass is under way from the line of its first message (the Message-ID names the
    mailbox) to its "pass done" line. Each is written inside the pass."""
    running: set[str] = set()
    most = 0
    for line in lines:
        found = re.search(r"message_id=<(\w+)-\d+@", line)
        if found and found.group(1) in names:
            running.add(found.group(1))
        elif "pass done" in line:
            running.discard(re.findall(r"mailbox (\w+): pass done", line)[0])
        most = max(most, len(running))
    return most


def test_a_backlog_in_every_mailbox_runs_at_most_max_passes_at_once(
    tmp_path: Path, dovecot: DevDovecot, pg_url: str
) -> None:
    names = [f"box{n}" for n in range(6)]
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-6:]}", "pw") for name in names}
    per_box = 15
    for name, account in accounts.items():
        _backlog(account, name, per_box)
    fleet = Fleet(
        tmp_path,
        pg_url,
        mailboxes_toml(accounts),
        EMAILLOG_MAX_PASSES_AT_ONCE="2",
        EMAILLOG_BATCH_SIZE="5",  # several batches a pass: each pass records on a thread of its own
    )

    def moved() -> int:
        return sum(int(n) for n in re.findall(r"pass done: .* (\d+) moved", fleet.log()))

    try:
        wait_until(lambda: moved() == len(names) * per_box, 30, "every backlog to be worked")
    finally:
        code = fleet.stop()
    assert code == 0 and "Traceback" not in fleet.log(), fleet.log()
    lines = fleet.log().splitlines()
    assert passes_at_once(lines, names) == 2, fleet.log()  # 4 without the bound
    assert fleet.lines("pass waits for a slot: 2 passes running (EMAILLOG_MAX_PASSES_AT_ONCE=2)")


def test_a_mailbox_whose_first_login_was_refused_waits_in_idle_once_it_logs_in(
    tmp_path: Path, dovecot: DevDovecot, pg_url: str
) -> None:
    """Its scheduler was set before any login worked, to poll: once logged in it passed every
    EMAILLOG_POLL_SECONDS beside IDLE. And each refused login wrote two lines, imapclient's
    "Connection closed" (INFO) before emaillog's own."""
    good = dovecot.add_user(f"good-{tmp_path.name[-6:]}", "pw")
    user = f"late-{tmp_path.name[-6:]}"
    dovecot.add_user(user, "not-yet")
    accounts = {"good": good, "late": ImapAccount(good.host, good.port, user, "pw")}
    fleet = Fleet(
        tmp_path,
        pg_url,
        # good polls (without IDLE) on the interval late's wrong job had: its passes count them.
        mailboxes_toml(accounts, {"EMAILLOG_POLL_SECONDS": "1"}, good={"EMAILLOG_IMAP_IDLE": "false"}),
        EMAILLOG_RECONNECT_MIN_SECONDS="1",
        EMAILLOG_RECONNECT_MAX_SECONDS="2",
    )
    try:
        wait_until(lambda: fleet.lines(f"refused the login of {user}"), 20, "the refused login")
        dovecot.add_user(user, "pw")  # the password put right on the server
        wait_until(lambda: fleet.lines("mailbox late: pass done"), 20, "late's first pass")
        wait_until(lambda: fleet.lines("mailbox late: IDLE, with a reconciliation every 300s"), 5, "IDLE")
        polled = len(fleet.lines("mailbox good: pass done"))
        # Three poll intervals, as good's polls count them: late would have passed three more times.
        wait_until(lambda: len(fleet.lines("mailbox good: pass done")) >= polled + 3, 20, "three polls")
        assert len(fleet.lines("mailbox late: pass done")) == 1, fleet.log()
    finally:
        code = fleet.stop()
    assert code == 0 and "Traceback" not in fleet.log(), fleet.log()
    assert "Connection closed" not in fleet.log(), fleet.log()


@pytest.fixture
def capped_url(postgres) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database whose role may hold two sessions: the lease's and the claiming thread's."""
    role, database = "emaillog_capped", "fleet_capped"
    postgres._admin(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 2").format(sql.Identifier(role)))
    postgres._admin(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
    )
    try:
        yield f"postgresql://{role}@127.0.0.1:{postgres.port}/{database}"
    finally:
        postgres.drop_database(database)
        postgres._admin(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_mailbox_whose_passes_the_database_refuses_backs_off(
    tmp_path: Path, dovecot: DevDovecot, capped_url: str
) -> None:
    """Every pass fails on a session the server refuses (too many connections) while the lease holds:
    the daemon logged in to IMAP again every second for as long, since the login reset its backoff."""
    account = {"acme": dovecot.add_user(f"acme-{tmp_path.name[-6:]}", "pw")}
    fleet = Fleet(
        tmp_path,
        capped_url,
        mailboxes_toml(account),
        EMAILLOG_RECONNECT_MIN_SECONDS="1",
        EMAILLOG_RECONNECT_MAX_SECONDS="300",
    )
    try:
        wait_until(lambda: len(fleet.waits()) >= 4, 30, "four retries")
        # Drawn from the upper half of 1, 2, 4, 8 s: they were all 0.5-1 s, for as long as it lasted.
        assert fleet.waits()[3] >= 4.0, fleet.log()
        assert "too many connections for role" in fleet.lines("database trouble")[0]
    finally:
        code = fleet.stop()
    assert code == 0 and "Traceback" not in fleet.log(), fleet.log()
