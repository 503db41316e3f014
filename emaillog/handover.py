"""Handing a batch's raw bytes to the parser workers through shared memory.

A batch is tens of megabytes. Through the pool's pipe, every message was pickled and copied in 64 KB
pieces with the GIL held. Through a temp file on the data disk, ext4's write path, its page cache and
the workers' preads were about 14% of a backlog drain's CPU (perf, bench/backlog.py). Here the main
process writes the batch with one ``pwritev`` into a memfd whose pages are kept from batch to batch,
and each worker maps it once and slices its messages out: about half the CPU of the file, measured
side by side on 40 MB batches. The memfd is not mapped in the main process, so it does not add to the
daemon's RSS, and it needs no clean-up after a crash: the kernel frees it with its last descriptor.
Its pages are kept only for a batch about to be handed over (a free region for each busy one), so an
idle daemon holds none, and the shared memory at any time is at most two batches per pass in flight.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

# A region grows in steps of this, so that a worker seldom has to map it again.
GROWTH = 16 * 1024 * 1024
# pwritev takes at most this many buffers (IOV_MAX on Linux).
IOV_MAX = 1024

Span = tuple[int, int]  # (offset, length) of one message in a region


@dataclass(frozen=True, slots=True)
class Handed:
    """Where a batch waits for the workers: a memfd of the process ``owner``, and each message's span."""

    owner: int  # the main process's pid: a worker opens /proc/<owner>/fd/<fd>
    fd: int
    size: int
    spans: tuple[Span, ...]


class Regions:
    """The main process's memfds, one per batch in flight, reused from batch to batch."""

    def __init__(self) -> None:
        self._free: list[_Region] = []
        self._busy: dict[int, _Region] = {}
        self._lock = threading.Lock()  # a fleet's mailbox threads share one parser

    def hand_over(self, raws: Sequence[bytes]) -> Handed:
        region = self._take()
        try:
            spans = region.write(raws)
        except BaseException:
            self.give_back(region.fd)
            raise
        return Handed(os.getpid(), region.fd, region.size, spans)

    def give_back(self, fd: int) -> None:
        """The batch in ``fd`` is parsed: its region is free again, and the pages of free regions
        beyond one per busy region are given back (all of them when none is busy).

        A pass hands its next batch over while the one before is parsed, so each busy region will
        soon want a free one: those keep their pages. More are stranded: a fleet whose passes ran
        together made a region for each of their batches, and while one mailbox drained a long
        backlog alone, every other region kept the pages of its largest batch (measured: 8 regions,
        384 MB, held for one pass's 2).
        """
        with self._lock:
            region = self._busy.pop(fd, None)
            if region is None:  # closed meanwhile
                return
            self._free.append(region)
            kept = len(self._busy)  # _take reuses the last ones given back: they keep their pages
            for idle in self._free[: max(0, len(self._free) - kept)]:
                idle.release()

    def close(self) -> None:
        with self._lock:
            for region in (*self._free, *self._busy.values()):
                os.close(region.fd)
            self._free.clear()
            self._busy.clear()

    def _take(self) -> _Region:
        with self._lock:
            region = self._free.pop() if self._free else _Region(os.memfd_create("emaillog-batch"))
            self._busy[region.fd] = region
            return region


class _Region:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0

    def write(self, raws: Sequence[bytes]) -> tuple[Span, ...]:
        total = sum(len(raw) for raw in raws)
        if total > self.size:
            self.size = -(-total // GROWTH) * GROWTH
            os.ftruncate(self.fd, self.size)
        spans: list[Span] = []
        offset = 0
        for raw in raws:
            spans.append((offset, len(raw)))
            offset += len(raw)
        for start in range(0, len(raws), IOV_MAX):
            _write_all(self.fd, raws[start : start + IOV_MAX], spans[start][0])
        return tuple(spans)

    def release(self) -> None:
        """Give the pages back. A worker's mapping stays valid: it is read only within a later batch."""
        if self.size:
            os.ftruncate(self.fd, 0)
            self.size = 0


def _write_all(fd: int, buffers: Sequence[bytes], offset: int) -> None:
    expected = sum(len(b) for b in buffers)
    written = os.pwritev(fd, buffers, offset)
    if written != expected:  # never seen on a memfd; a short write then means out of memory
        raise OSError(f"wrote {written} of {expected} bytes to the batch's shared memory")


class Mapped:
    """A worker's mappings of the main process's regions, kept from batch to batch."""

    def __init__(self) -> None:
        self._maps: dict[tuple[int, int], mmap.mmap] = {}

    def messages(self, handed: Handed) -> list[bytes]:
        if not handed.spans:
            return []
        region = self._map(handed)
        return [region[offset : offset + length] for offset, length in handed.spans]

    def _map(self, handed: Handed) -> mmap.mmap:
        key = (handed.owner, handed.fd)
        mapped = self._maps.get(key)
        if mapped is None or len(mapped) < handed.size:
            if mapped is not None:
                mapped.close()
            # The fd is the main process's: a worker forked before the region existed has no copy.
            with open(f"/proc/{handed.owner}/fd/{handed.fd}", "rb", buffering=0) as region:
                mapped = mmap.mmap(region.fileno(), handed.size, prot=mmap.PROT_READ)
            self._maps[key] = mapped
        return mapped
