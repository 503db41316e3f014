"""The whole hostile corpus through a real Dovecot and the real daemon (``python daemon.py --once``):
the daemon exits 0, every message ends in Processed or Error with the reason the unit test expects
(tests/unit/test_hostile_corpus.py), and no file is written outside the data dir's attachments/
(and its own database and state files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import make_settings

from emaillog import admin
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.store import open_store
from emaillog.store.models import Ledger

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "hostile"
sys.path.insert(0, str(ROOT / "tests" / "unit"))
from test_hostile_corpus import EXPECTED  # noqa: E402


def test_the_hostile_corpus_through_dovecot_and_the_daemon(
    tmp_path: Path, database_url: str, dovecot: DevDovecot, imap_account: ImapAccount
) -> None:
    env = {
        **imap_account.settings(),
        "EMAILLOG_DATABASE_URL": database_url,
    }
    settings = make_settings(tmp_path, database_url, imap_account)
    store = open_store(settings)
    admin.add_user(store, settings, "rita@acme.example", "Rita Rep", active=True, may_log=True)
    store.db.close()
    names = sorted(EXPECTED)
    raws = {name: (CORPUS / f"{name}.eml").read_bytes() for name in names}
    # Written as maildir files: Dovecot's APPEND would refuse some of them (an empty one, NULs).
    dovecot.seed_maildir(imap_account.user, "INBOX", [raws[n] for n in names])
    run_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "EMAILLOG_DATA_DIR": str(settings.data_dir),
        "EMAILLOG_BCC_ADDRESS": settings.bcc_address,
        "EMAILLOG_FORWARD_ADDRESS": "log+fwd@acme.example",
        "EMAILLOG_COMPANY_DOMAINS": "acme.example",
        **env,
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "daemon.py"), "--once"],
        env=run_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    store = open_store(settings)
    rows = {row.uid: row for row in Ledger.select()}
    assert len(rows) == len(names)
    found = {}
    for uid, name in enumerate(names, start=1):
        row = rows[uid]
        found[name] = (row.outcome, row.reason, row.folder)
    expected = {
        name: (outcome, reason, "Error" if outcome == "rejected" else "Processed")
        for name, (outcome, reason, _) in EXPECTED.items()
    }
    assert found == expected
    allowed = {settings.attachments_dir}
    for path in settings.data_dir.rglob("*"):
        if path.is_file() and path.parent.parent not in allowed:
            assert (
                path.parent == settings.data_dir
                or path.parent.name in ("tmp", "state", "leases")
                or path.parent.parent.name == "tmp"
            ), path
    assert not any((settings.data_dir / "tmp").rglob("part-*"))
