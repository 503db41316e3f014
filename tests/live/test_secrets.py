"""Secrets at rest: the files emaillog writes a password into are its user's alone, whatever the umask."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from contextlib import ExitStack
from pathlib import Path

from emaillog.demo import start_demo
from emaillog.devmail import DevDovecot
from emaillog.settings import load


def test_the_demo_mailbox_password_is_readable_by_its_owner_only(dovecot: DevDovecot) -> None:
    # ``make run`` from a shell (umask 022) wrote the demo password, and Dovecot's passwd-file with
    # it, world-readable: any local user could log in to the demo mailbox on 127.0.0.1.
    top = Path(tempfile.mkdtemp(prefix="emaillog-demo-"))
    top.chmod(0o755)  # under /tmp and searchable: the demo's Dovecot serves mail as its own user
    settings = load(None, {"EMAILLOG_DATA_DIR": str(top / "data")})
    old_umask = os.umask(0o022)
    try:
        with ExitStack() as cleanup:
            start_demo(settings, cleanup)
        root = top / "data" / "demo-mailbox"
        for path in (root / "password", root / "dovecot" / "users" / "log"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        os.umask(old_umask)
        shutil.rmtree(top, ignore_errors=True)
