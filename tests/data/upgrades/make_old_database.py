"""Make one of the SQL dumps beside this file with an older emaillog, the way a user would have.

    PYTHONPATH=.:tests .venv/bin/python tests/data/upgrades/make_old_database.py OLD_CHECKOUT OUT.sql

OLD_CHECKOUT is a worktree of the older commit (git worktree add --detach DIR COMMIT). A throwaway
Dovecot (this checkout's devmail) gets tests/upgrade_mail.py's OLD_BATCH; the old version's own CLI
adds the users, an alias, a company and a deal, its daemon.py --once logs the batch (SMTP refused, so
the notice stays in the outbox), then PENDING is delivered and the old code counts an attempt at it
and stops, as a process killed mid-way does. The SQLite database is written out with iterdump.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from imapclient import IMAPClient
from upgrade_mail import OLD_BATCH, PENDING

from emaillog.devmail import DevDovecot

_BEGIN = """
from emaillog.settings import load
from emaillog.store import open_store
from emaillog.store.ledger import LedgerKey, begin_attempts
settings = load(None, {{}})
store = open_store(settings)
begin_attempts(store.account_id, [LedgerKey(settings.mailbox_name, {uidvalidity}, {uid})])
"""


def main(old: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # Dovecot run as root serves the mail as its own user
        _make(old, out, tmp)


def _make(old: Path, out: Path, tmp: str) -> None:
    with DevDovecot(Path(tmp) / "dovecot") as server:
        account = server.add_user("log", "pw")
        database = Path(tmp) / "data" / "emaillog.sqlite3"
        env = {
            **os.environ,
            **account.settings(),
            "PYTHONPATH": str(old),
            "EMAILLOG_DATA_DIR": str(database.parent),
            "EMAILLOG_DATABASE_URL": f"sqlite:///{database}",
            "EMAILLOG_BCC_ADDRESS": "log@acme.example",
            "EMAILLOG_FORWARD_ADDRESS": "log+fwd@acme.example",
            "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            "EMAILLOG_SMTP_HOST": "127.0.0.1",
            "EMAILLOG_SMTP_PORT": "1",
            "EMAILLOG_SMTP_SECURITY": "none",
            "EMAILLOG_IMAP_IDLE": "no",
        }

        def old_version(*args: str) -> None:
            subprocess.run([sys.executable, *args], cwd=tmp, env=env, check=True)

        cli = ("-m", "emaillog")
        old_version(*cli, "users", "add", "rita@acme.example", "--name", "Rita Rep")
        old_version(*cli, "users", "add", "sam@acme.example", "--name", "Sam Seller")
        old_version(*cli, "users", "add", "nina@acme.example", "--name", "Nina", "--no-logging")
        old_version(*cli, "users", "alias", "rita@acme.example", "rita.r@acme.example")
        old_version(*cli, "companies", "add", "globex.example", "--name", "Globex")
        old_version(*cli, "deals", "add", "Globex renewal", "--contact", "carl@globex.example")
        client = IMAPClient(account.host, port=account.port, ssl=False)
        client.login(account.user, account.password)
        for raw in OLD_BATCH:
            client.append("INBOX", raw)
        old_version(str(old / "daemon.py"), "--once")
        client.append("INBOX", PENDING)
        uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        [uid] = client.search(["HEADER", "Message-ID", "pending@acme.example"])
        client.logout()
        old_version("-c", _BEGIN.format(uidvalidity=uidvalidity, uid=uid))
        with sqlite3.connect(database) as con:
            out.write_text("\n".join(con.iterdump()) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
