"""What emaillog makes under its data dir is its owner's alone, whatever the umask.

The data dir holds customers' mail (attachments, the SQLite database, spooled parts). Run from a
shell (umask 022) its directories were made 0755 and the state and lease files 0644: every local
user could list the stored files. Directories are now made 0700 and files 0600, as the systemd
unit's ``UMask=0077`` makes them. A directory that exists is left as it is: a data dir an admin
made (with group access for a backup, say) keeps its mode, and what emaillog makes inside is private.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """``Path.mkdir(parents=True, exist_ok=True)``, every directory it makes owner-only (``mkdir``
    gives the parents it makes the umask's mode)."""
    try:
        path.mkdir(DIR_MODE, exist_ok=True)
    except FileNotFoundError:
        if path.parent == path:
            raise
        private_dir(path.parent)
        path.mkdir(DIR_MODE, exist_ok=True)


def open_private(path: Path, mode: str) -> IO[bytes]:
    """``path`` opened in binary ``mode``: "ab" (made owner-only if new) or "wb" (owner-only: it is
    written anew, so one an earlier version left readable is made private too)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if mode == "wb":
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode applies to a new file only
    return os.fdopen(fd, mode)
