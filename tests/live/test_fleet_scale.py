"""A fleet of many mailboxes on one PostgreSQL (SPEC §14): what it costs the database server.

Measured with 150 mailboxes in one process (max_connections 100, the server's default): each
mailbox thread kept a session through IDLE, so the 98th took the last slot, the mailboxes after it
failed every pass, and every other client of the database (status, psql, the other workers) was
refused. An idle fleet now holds two sessions, however many mailboxes it works.
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
from psycopg2 import sql
from support import mailboxes_toml, wait_until

from emaillog.devmail import DevDovecot
from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import LoginRefused, MailboxError
from emaillog.reconnect import EXIT_TEMPFAIL, start_up_failure
from emaillog.settings import ImapSettings

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]


class Fleet:
    """``daemon.py`` over a mailboxes file, its log in a file."""

    def __init__(self, tmp_path: Path, database_url: str, mailboxes: str, **extra: str) -> None:
        (tmp_path / "mailboxes.toml").write_text(mailboxes)
        self.log_path = tmp_path / "fleet.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
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

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


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


def test_a_login_over_the_servers_connection_limit_is_not_a_wrong_password(
    tmp_path: Path, dovecot: DevDovecot
) -> None:
    """Mailboxes sharing one login (folders of one account) reach Dovecot's connections per user and
    address (mail_max_userip_connections, 10): [LIMIT] was taken for a refused password, exit 77,
    which systemd does not restart on, and 'refused' in status."""
    account = dovecot.add_user(f"shared-{tmp_path.name[-6:]}", "pw")
    held = []
    try:
        for _ in range(10):
            client = IMAPClient(account.host, port=account.port, ssl=False)
            held.append(client)
            client.login(account.user, account.password)
        with pytest.raises(MailboxError) as caught:
            ImapMailbox(ImapSettings(account.host, account.port, "none", account.user, "pw", timeout=5))
    finally:
        for client in held:
            client.logout()
    assert not isinstance(caught.value, LoginRefused)
    assert "mail_max_userip_connections" in str(caught.value)
    assert start_up_failure(caught.value)[0] == EXIT_TEMPFAIL
