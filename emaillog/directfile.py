"""Writing an attachment's file past the page cache (``O_DIRECT``).

An attachment is written once, fsynced before the commit, and not read back soon. Written through
the page cache, every byte is first copied into pages the kernel allocates for it. On this kind of
machine (a VM whose host backs guest memory lazily) that copy ran at 0.45 GB/s: in a 10,000-message
backlog drain, the parser workers' writes of 1.3 GB of attachments were the largest kernel cost
(perf, ``bench/backlog.py``). Written direct from a buffer the process keeps, 550 MB of new files
cost 0.2 s of CPU against 1.2 s buffered, fsync included, and less wall time too.

``O_DIRECT`` wants the memory, the length and the offset of each write aligned: data goes through a
page-aligned buffer, the last block is padded with zeros, and the file is then cut to its size. A
file system that refuses ``O_DIRECT`` (tmpfs before Linux 6.6, some FUSE and network file systems)
gets the same bytes written through the page cache.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Alignment that satisfies every block device and file system in use (logical blocks of 512 or 4096).
ALIGN = 4096
# The buffer each thread keeps: large enough that a worker's attachment is one write or a few.
BUFFER = 1024 * 1024

_BUFFERS = threading.local()


class DirectFile:
    """Write-only, sequential, from the start of ``fd`` (a new, empty regular file); ``close`` ends it.

    Not a context manager on purpose: after a failed write the caller removes the file, and nothing
    may write the tail of what failed. ``close`` once, after the last write.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self._filled = 0
        self._buffer = _take_buffer()
        self._direct = _set_direct(fd)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        self.size += len(view)
        while view:
            taken = min(len(view), BUFFER - self._filled)
            self._buffer[self._filled : self._filled + taken] = view[:taken]
            self._filled += taken
            view = view[taken:]
            if self._filled == BUFFER:
                self._flush(BUFFER)

    def close(self) -> None:
        """Write what is buffered (its last block padded) and cut the file to the bytes written.

        Closes nothing: the descriptor is the caller's.
        """
        padding = -self._filled % ALIGN
        if self._filled:
            self._buffer[self._filled : self._filled + padding] = bytes(padding)
            self._flush(self._filled + padding)
        if padding:
            os.ftruncate(self.fd, self.size)
        _free_buffers().append(self._buffer)

    def _flush(self, length: int) -> None:
        view = memoryview(self._buffer)[:length]
        try:
            while view:
                written = self._write(view)
                view = view[written:]
        finally:
            view.release()
        self._filled = 0

    def _write(self, view: memoryview) -> int:
        try:
            return os.write(self.fd, view)
        except OSError as exc:
            # Refused at the write, not when the flag was set (some FUSE and network file systems):
            # the same bytes through the page cache.
            if exc.errno != errno.EINVAL or not self._direct:
                raise
            _clear_direct(self.fd)
            self._direct = False
            return os.write(self.fd, view)


@contextmanager
def part_file(tmp_dir: Path, *, fsync: bool) -> Iterator[tuple[DirectFile, Path]]:
    """A new temp file in ``tmp_dir`` for an attachment, written through the DirectFile given.

    Ended (and fsynced if asked) when the block ends; removed if it raises (a full disk, a lost
    connection): no partial file is left behind.
    """
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="part-")
    try:
        out = DirectFile(fd)
        yield out, Path(name)
        out.close()
        if fsync:
            os.fsync(fd)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def _take_buffer() -> mmap.mmap:
    """An aligned buffer this thread keeps from file to file: fresh pages cost as much as the copy
    saves. Each open DirectFile has its own (one given up by a failed write is made again)."""
    free = _free_buffers()
    return free.pop() if free else mmap.mmap(-1, BUFFER)  # anonymous: page-aligned


def _free_buffers() -> list[mmap.mmap]:
    if not hasattr(_BUFFERS, "free"):
        _BUFFERS.free = []
    free: list[mmap.mmap] = _BUFFERS.free
    return free


def _set_direct(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    return True


def _clear_direct(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
