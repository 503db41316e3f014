"""The data dir holds customers' mail: what emaillog makes there is its owner's alone, whatever the
umask (a shell's 022 made its directories 0755 and its state and lease files 0644)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from support import BCC, COMPANY, FWD, REP, deliver, make_settings, message

from emaillog.devmail import ImapAccount


def _emaillog(env: dict[str, str], *args: str) -> str:
    """The real command line, run as from a shell with the common umask 022; its log."""
    done = subprocess.run(
        [sys.executable, "-m", "emaillog", *args],
        env={**os.environ, **env},
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def _modes(top: Path) -> dict[str, str]:
    return {
        str(path.relative_to(top)): oct(stat.S_IMODE(path.stat().st_mode)) for path in (top, *top.rglob("*"))
    }


def test_the_data_dir_tree_is_private_under_umask_022(tmp_path: Path, imap_account: ImapAccount) -> None:
    srv = tmp_path / "srv"  # not there: the data dir's missing parent is made too
    env = {
        "EMAILLOG_DATA_DIR": str(srv / "data"),
        "EMAILLOG_BCC_ADDRESS": BCC,
        "EMAILLOG_FORWARD_ADDRESS": FWD,
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
        **imap_account.settings(),
    }
    _emaillog(env, "run", "--once")  # the daemon's start makes the data dir (its lease first)
    _emaillog(env, "users", "add", REP)
    deliver(
        make_settings(tmp_path, None, imap_account),
        # Each way a file reaches the attachments dir: written from memory (small), spooled by a
        # parser worker (a batch over 2 MB), streamed from the server (a message over 8 MB).
        message(message_id="<small@acme.example>", attachments=[("small.txt", b"hello")]),
        message(message_id="<spooled@acme.example>", attachments=[("spooled.bin", os.urandom(3_000_000))]),
        message(message_id="<streamed@acme.example>", attachments=[("streamed.bin", os.urandom(9_000_000))]),
    )
    _emaillog(env, "run", "--once")
    modes = _modes(srv)
    data = srv / "data"
    stored = [p for p in (data / "attachments").rglob("*") if p.is_file()]
    assert len(stored) == 3
    # Every part of the tree is there to be looked at: the database, leases, state and temp dirs.
    assert {"data/emaillog.sqlite3", "data/leases", "data/state", "data/tmp"} <= modes.keys()
    wrong = {
        name: mode for name, mode in modes.items() if mode != ("0o700" if (srv / name).is_dir() else "0o600")
    }
    assert wrong == {}


def test_the_directories_an_older_version_left_open_are_made_private_at_start(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    """Run from a shell, an older version made attachments/, tmp/, state/ and leases/ 0755 and the
    database, state and lease files 0644: upgraded, every local user could still read the stored
    attachments and the database (every logged email)."""
    data = tmp_path / "data"
    env = {
        "EMAILLOG_DATA_DIR": str(data),
        "EMAILLOG_BCC_ADDRESS": BCC,
        "EMAILLOG_FORWARD_ADDRESS": FWD,
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
        **imap_account.settings(),
    }
    _emaillog(env, "run", "--once")  # the database, as an older version left it (made open below)
    old = {
        "attachments/ab/ab12": b"a customer's contract",
        "state/default.json": b"{}",
        "leases/default.lock": b"",
        "tmp/1/part-x": b"",
    }
    for name, content in old.items():
        (data / name).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    for path in (data, *data.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert _modes(data)["emaillog.sqlite3"] == "0o644"
    log = _emaillog(env, "run", "--once")
    modes = _modes(data)
    owned = ("attachments", "leases", "state", "tmp")
    assert {name: modes[name] for name in owned} == dict.fromkeys(owned, "0o700")
    assert modes["."] == "0o755"  # the data dir an admin made keeps its mode (README)
    assert modes["attachments/ab/ab12"] == "0o644"  # not walked: no other user reaches it now
    assert modes["emaillog.sqlite3"] == "0o600"
    told = [line for line in log.splitlines() if "owner-only" in line]
    assert len(told) == 1 and all(str(data / name) in told[0] for name in (*owned, "emaillog.sqlite3")), log
    assert "owner-only" not in _emaillog(env, "run", "--once")  # said once, when it was done
