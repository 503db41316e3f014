"""What emaillog makes under its data dir is its owner's alone, whatever the umask.

The data dir holds customers' mail (attachments, the SQLite database, spooled parts). Run from a
shell (umask 022) its directories were made 0755 and the state and lease files 0644: every local
user could list the stored files. Directories are now made 0700 and files 0600, as the systemd
unit's ``UMask=0077`` makes them. A directory that exists is left as it is: a data dir an admin
made (with group access for a backup, say) keeps its mode, and what emaillog makes inside is private.

A directory made is durable at once: its parent is fsynced, or after a power cut the database could
point at a file whose directory (a new ``attachments/xx``) had vanished with it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path
from typing import IO

DIR_MODE = 0o700
FILE_MODE = 0o600

# The directories made whose parent is not yet fsynced. A thread finding one there (another
# mailbox's batch, storing into the prefix dir this one is making) waits until it is durable before
# it writes a file there that its commit will point at. The lock is held for the mkdir alone, not
# the fsync: held across it, the eight threads storing a batch's files (store/files.py) each waited
# for every new prefix dir's fsync, whatever directory they wanted.
_CHANGED = threading.Condition()
_NOT_YET_DURABLE: set[Path] = set()


def private_dir(path: Path) -> None:
    """``Path.mkdir(parents=True, exist_ok=True)``, every directory it makes owner-only (``mkdir``
    gives the parents it makes the umask's mode) and durable (its parent fsynced)."""
    try:
        _make(path)
    except FileNotFoundError:
        if path.parent == path:
            raise
        private_dir(path.parent)
        _make(path)


def _make(path: Path) -> None:
    """mkdir ``path`` and fsync its parent; a directory there already costs no fsync."""
    with _CHANGED:
        _CHANGED.wait_for(lambda: path not in _NOT_YET_DURABLE)
        try:
            path.mkdir(DIR_MODE)
        except FileExistsError:
            if not path.is_dir():
                raise
            return
        _NOT_YET_DURABLE.add(path)
    try:
        fsync_path(path.parent)
    finally:
        with _CHANGED:
            _NOT_YET_DURABLE.discard(path)
            _CHANGED.notify_all()


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (read-only descriptors suffice for both on Linux)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_owner_only(path: Path) -> bool:
    """``path`` made owner-only (a directory 0700, a file 0600) if other users could reach it;
    whether it was (False: already private, not there, or neither a directory nor a file).

    For what an older version made in the data dir from a shell (umask 022): directories 0755, the
    SQLite database and the state and lease files 0644. 0700 on a directory is enough: no other user
    can reach what is below it, so the files under it (every stored attachment) are neither walked
    nor changed.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if not st.st_mode & 0o077:
        return False
    if stat.S_ISDIR(st.st_mode):
        path.chmod(DIR_MODE)
    elif stat.S_ISREG(st.st_mode):
        path.chmod(FILE_MODE)
    else:
        return False
    return True


def open_private(path: Path, mode: str) -> IO[bytes]:
    """``path`` opened in binary ``mode``: "ab" (made owner-only if new) or "wb" (owner-only: it is
    written anew, so one an earlier version left readable is made private too)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "ab" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if mode == "wb":
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode applies to a new file only
    return os.fdopen(fd, mode)


def replace_private(path: Path, data: bytes) -> None:
    """Write ``path`` anew, owner-only, through a temp file beside it: a reader never sees half of
    it. On OSError the temp file is removed (a partial one would hold on to the space a full disk
    needs back) and the error raised."""
    tmp = path.with_suffix(".tmp")
    try:
        private_dir(path.parent)
        with open_private(tmp, "wb") as out:
            out.write(data)
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
