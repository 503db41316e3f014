"""Three worker processes share one PostgreSQL over six mailboxes; one is killed with -9 mid-run.

Every message must be logged exactly once and end in exactly one folder: the dead worker's
mailboxes are taken over by the others (SPEC §14).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from imapclient import IMAPClient
from pg import lease_holders
from support import mailboxes_toml, message, wait_until

from emaillog import admin, views
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.settings import load
from emaillog.store import open_store

ROOT = Path(__file__).resolve().parents[2]
MAILBOXES, PER_MAILBOX, WORKERS = 6, 200, 3


def counts(account: ImapAccount) -> dict[str, int]:
    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    try:
        return {
            f: (client.folder_status(f, [b"MESSAGES"])[b"MESSAGES"] if client.folder_exists(f) else 0)
            for f in ("INBOX", "Processed", "Error")
        }
    finally:
        client.logout()


@pytest.fixture
def pg_url(postgres):  # type: ignore[no-untyped-def]
    url = postgres.create_database("workers")
    yield url
    postgres.drop_database("workers")


def test_three_workers_six_mailboxes_one_killed(tmp_path: Path, dovecot: DevDovecot, pg_url: str) -> None:
    names = [f"box{n}" for n in range(MAILBOXES)]
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-6:]}", "pw") for name in names}
    common = {"EMAILLOG_BCC_ADDRESS": "log@acme.example", "EMAILLOG_COMPANY_DOMAINS": "acme.example"}
    (tmp_path / "mailboxes.toml").write_text(mailboxes_toml(accounts, common))
    env = {
        **os.environ,
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        "EMAILLOG_DATABASE_URL": pg_url,
        "EMAILLOG_MAILBOXES_FILE": str(tmp_path / "mailboxes.toml"),
        "EMAILLOG_POLL_SECONDS": "2",
        "EMAILLOG_BATCH_SIZE": "5",
    }
    settings = load(None, {k: v for k, v in env.items() if k.startswith("EMAILLOG_")})
    for box in settings.all_mailboxes():
        admin.add_user(open_store(box), box, "rita@acme.example", None, True, True)
    for name in names:
        dovecot.seed_maildir(
            accounts[name].user,
            "INBOX",
            [
                message(
                    to=[f"c{n}@customer{n % 7}.example"],
                    message_id=f"<{name}-{n}@acme.example>",
                    body="hello " * (n + 1),
                )
                for n in range(PER_MAILBOX)
            ],
        )
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "daemon.py")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / f"worker{i}.log", "w"),  # noqa: SIM115 - the child keeps it open
        )
        for i in range(WORKERS)
    ]
    try:
        # Once every worker holds a lease and work is under way, kill one that holds leases.
        wait_until(lambda: len(lease_holders(pg_url)) == WORKERS, 60, "every worker to hold a lease")
        wait_until(lambda: sum(counts(a)["Processed"] for a in accounts.values()) >= 50, 60, "work to start")
        holders = lease_holders(pg_url)
        victim = next(w for w in workers if w.pid in holders)
        left = sum(counts(a)["INBOX"] for a in accounts.values())
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert left > 0, "the kill came after all the work was done: the test proves nothing"
        wait_until(
            lambda: victim.pid not in lease_holders(pg_url) and len(lease_holders(pg_url)) == WORKERS - 1,
            30,
            "the survivors to take the dead worker's mailboxes",
        )
        wait_until(lambda: sum(lease_holders(pg_url).values()) == MAILBOXES, 30, "every mailbox to be leased")
        wait_until(
            lambda: all(
                counts(a) == {"INBOX": 0, "Processed": PER_MAILBOX, "Error": 0} for a in accounts.values()
            ),
            90,
            "every mailbox to drain",
        )
    finally:
        survivors = [w for w in workers if w.poll() is None]
        for worker in survivors:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in survivors]
    assert codes == [0] * (WORKERS - 1)
    for box in settings.all_mailboxes():
        store = open_store(box)
        logged = [e["message_id"] for e in views.emails(store)]
        assert sorted(logged) == sorted(f"<{box.mailbox_name}-{n}@acme.example>" for n in range(PER_MAILBOX))
        rows = views.ledger(store)
        assert len(rows) == PER_MAILBOX and {r["outcome"] for r in rows} == {"logged"}
        # (``disposed`` may still be false for a message whose MOVE ran just before the kill: the
        # folder counts above are what says where each message is.)
        assert all(r["folder"] == "Processed" for r in rows)
