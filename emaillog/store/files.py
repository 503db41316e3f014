"""Attachments as content-addressed files under the data dir, durable before the commit.

A file is named by the SHA-256 of its bytes, written to a temporary name, fsynced, renamed into
place and its directory fsynced: after a crash the database never points at a missing or partial
file, and the same file logged twice is stored once. No name from the message is ever used.
Temporary names are in the process's own temp dir (``process_tmp_dir``), which the next start
removes once the process is gone: a crash mid-write leaves nothing in the attachments dir.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..contents import Attachment
from ..private import fsync_path, private_dir

# fsync waits on the disk and releases the GIL: several at once share the journal's commits. One
# pool for the process (a fleet's mailbox threads share it), its threads made as they are needed.
_SYNC_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="emaillog-fsync")


def attachment_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def process_tmp_dir(data_dir: Path, pid: int) -> Path:
    """Where one process's files wait to be stored (spooled attachments, a file being written)."""
    return data_dir / "tmp" / str(pid)


def remove_stale_tmp(data_dir: Path) -> int:
    """Remove what processes that are gone left in ``<data dir>/tmp`` (killed, they cleaned nothing up).

    Several processes may share a data dir: only the directories of PIDs that no longer run are
    removed. Returns how many were.
    """
    removed = 0
    for entry in (data_dir / "tmp").glob("*"):
        pid = _pid_named(entry.name)
        if entry.is_dir() and pid is not None and not _running(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


_PID_MAX = 2**22  # Linux's pid_max can be set no higher (kernel/pid.c: PID_MAX_LIMIT)


def _pid_named(name: str) -> int | None:
    """The PID a directory of ``tmp`` is named after; None for a name no process gave it."""
    # "²" is a digit to isdigit() and no number to int() (a ValueError stopped the start-up); a number
    # past what os.kill takes was an OverflowError.
    if not (name.isascii() and name.isdigit()) or int(name) > _PID_MAX:
        return None
    return int(name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def start_syncing(paths: Iterable[Path]) -> None:
    """Start flushing files written without fsync (the parser workers' spool) in the background.

    Called when a batch's parsing is done, so the disk works while the batch is decided;
    ``store_files`` syncs each file again before the commit, by then with nothing left to write.
    """
    for path in paths:
        _SYNC_POOL.submit(_fsync_if_there, path)


def store_files(root: Path, data_dir: Path, files: Iterable[Attachment]) -> None:
    """``store_file`` for each, several at once; returns when all are durable."""
    tmp_dir = process_tmp_dir(data_dir, os.getpid())
    list(_SYNC_POOL.map(lambda f: store_file(root, tmp_dir, f.sha256, f.data, f.path), files))


def _fsync_if_there(path: Path) -> None:
    with contextlib.suppress(OSError):  # already renamed into place, or cleaned up: nothing to do
        fsync_path(path)


def store_file(root: Path, tmp_dir: Path, sha256: str, data: bytes, source: Path | None = None) -> Path:
    """Write ``data`` (or move the fsynced temp file ``source``) under its hash; return the path.

    ``data`` is written in ``tmp_dir`` (on the attachments dir's file system, as spooled files are):
    beside its final name, a kill -9 or a power cut mid-write left a file nothing removed.
    """
    path = attachment_path(root, sha256)
    size = source.stat().st_size if source is not None else len(data)
    if path.exists() and path.stat().st_size == size:
        if source is not None:
            source.unlink(missing_ok=True)
        return path
    private_dir(path.parent)
    if source is not None:
        # Written in the data dir's tmp/ (by a parser worker or the large-message reader): made
        # durable here, then renamed into place.
        fsync_path(source)
        os.replace(source, path)
        fsync_path(path.parent)
        return path
    private_dir(tmp_dir)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="file-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path
