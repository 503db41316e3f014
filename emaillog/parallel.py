"""Parsing a batch on every core while the main process keeps the IMAP and database work.

Parsing, hashing and base64-decoding attachments are CPU work that needs no shared state, so a
process pool does them: the raw bytes go to a worker, which spools large attachments to fsynced temp
files and returns the ``Email`` without them. Only the main process talks to IMAP and the database.
A worker that dies (a message that crashes the interpreter itself) costs its chunk one attempt;
those messages are then retried one at a time (SPEC §10), so a poison message isolates itself.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar

from .contents import Attachment
from .directfile import part_file
from .fulltree import TreeTooLarge
from .handover import Handed, Mapped, Regions
from .limits import Limits
from .message import Email, Malformed, malformed, parse
from .pickling import pickled_by_fields
from .private import private_dir

log = logging.getLogger("emaillog.parse")
T = TypeVar("T")

# Attachments over this go to a temp file in the worker rather than back through the pipe.
SPOOL_OVER = 64 * 1024
# Below this many bytes in a batch, the pipe costs more than a second core saves.
PARALLEL_OVER = 2 * 1024 * 1024
WORKER_NICENESS = 10
# How often a worker checks that the process that forked it is still there.
PARENT_CHECK_SECONDS = 1.0


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Parsed:
    sha256: str
    email: Email | Malformed | None  # None: parsing crashed
    crash: str | None = None


Pending = Callable[[], list[Parsed]]
# Run on each parsed Email where it was parsed (a worker): work that warms what the Email reads lazily
# (the forwards it holds), done on a spare core. Must pickle: it travels to the workers.
Prepare = Callable[[Email], None]


@dataclass(frozen=True, slots=True)
class ParseJob:
    """How a batch is to be parsed. It travels to the workers with the batch, so it must pickle."""

    limits: Limits
    spool_dir: Path  # where a worker writes large attachments
    # On the pool whatever the batch's size, so that a message that crashes the interpreter takes a
    # worker down, not the daemon.
    isolate: bool = False
    prepare: Prepare | None = None


class MessageParser(Protocol):
    def submit(self, raws: Sequence[bytes], job: ParseJob) -> Pending: ...
    def close(self) -> None: ...


def parse_one(raw: bytes, limits: Limits, spool_dir: Path | None, prepare: Prepare | None = None) -> Parsed:
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        email = parse(raw, limits, sha256)
        if isinstance(email, Email):
            if prepare is not None:
                email = _prepared(email, prepare, raw, limits)
            if spool_dir is not None and isinstance(email, Email):
                email = _spooled(email, spool_dir)
        return Parsed(sha256, email)
    except OSError:
        # Only spooling touches a file: a full or unwritable data dir is not the message's fault
        # (SPEC §10). Raised, it fails the batch, whose attempts are given back for the next pass.
        raise
    except Exception as exc:
        log.exception("parsing crashed")
        return Parsed(sha256, None, type(exc).__name__)


def _prepared(email: Email, prepare: Prepare, raw: bytes, limits: Limits) -> Email | Malformed:
    """``email`` once ``prepare`` has run on it; malformed if the stdlib's tree it read was too large."""
    try:
        prepare(email)
    except TreeTooLarge as exc:
        return malformed(raw, str(exc), email.sha256, limits)
    return email


def _spooled(email: Email, spool_dir: Path) -> Email:
    """The email with its large attachments (and those of forwarded originals read) in temp files."""
    holder = email.lazy_tree
    if holder.forwards:
        holder.forwards = tuple(
            replace(o, attachments=tuple(_spool(a, spool_dir) for a in o.attachments))
            for o in holder.forwards
        )
    return replace(email, attachments=tuple(_spool(a, spool_dir) for a in email.attachments))


def _spool(attachment: Attachment, spool_dir: Path) -> Attachment:
    """Write a large attachment to a temp file (the recorder fsyncs it and renames it into place).

    Not fsynced here: the worker would sit waiting on the disk instead of parsing; the recorder's
    threads fsync every file of a batch at once before the commit. Written past the page cache
    (``directfile``): through it, the copy into new pages was the drain's largest kernel cost.
    """
    if attachment.size <= SPOOL_OVER or attachment.path is not None:
        return attachment
    private_dir(spool_dir)
    with part_file(spool_dir, fsync=False) as (out, path):
        out.write(attachment.data)
    return replace(attachment, data=b"", path=path)


def _parse_handed(handed: Handed, job: ParseJob) -> list[Parsed]:
    assert _MAPPED is not None, "runs on a pool worker, set up by _start_worker"
    return [parse_one(raw, job.limits, job.spool_dir, job.prepare) for raw in _MAPPED.messages(handed)]


class InlineParser:
    """Parse in this process (one-shot commands, small batches, tests)."""

    def submit(self, raws: Sequence[bytes], job: ParseJob) -> Pending:
        # Nothing is spooled. ``prepare`` runs as on a worker: what it warms would be read here on
        # first use anyway, and a tree too large to read makes the message malformed here as there.
        return lambda: [_with_tree(parse_one(raw, job.limits, None, job.prepare), raw) for raw in raws]

    def close(self) -> None:
        pass


class ParallelParser:
    """A pool of worker processes, one per core, created on first use and kept."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()  # a fleet's mailbox threads share one pool
        self._regions = Regions()

    def submit(self, raws: Sequence[bytes], job: ParseJob) -> Pending:
        """Start parsing on the pool; the returned function waits for the results.

        The caller fetches the next batch and records the previous one meanwhile: IMAP and the
        database on this core, parsing on the others.
        """
        small = self.workers < 2 or sum(len(r) for r in raws) < PARALLEL_OVER
        if small and not job.isolate:
            return InlineParser().submit(raws, job)
        handed = self._regions.hand_over(raws)
        chunks = [replace(handed, spans=tuple(c)) for c in _split(list(handed.spans), self.workers * 2)]
        pool = self._get_pool()
        try:
            futures = [pool.submit(_parse_handed, chunk, job) for chunk in chunks]
        except BrokenProcessPool:
            self._regions.give_back(handed.fd)
            return lambda: self._died(raws, pool)

        def wait() -> list[Parsed]:
            try:
                # Every chunk done before the region is given back, even when one raised (a full
                # disk while spooling): the others still read the batch from it.
                futures_wait(futures)
                results = [r for future in futures for r in future.result()]
            except BrokenProcessPool:
                return self._died(raws, pool)
            finally:
                self._regions.give_back(handed.fd)
            return [_with_tree(parsed, raw) for parsed, raw in zip(results, raws, strict=True)]

        return wait

    def _died(self, raws: Sequence[bytes], pool: ProcessPoolExecutor) -> list[Parsed]:
        log.error("a parser process died; its batch is counted as one failed attempt")
        self._shut_pool(pool)
        return [Parsed(hashlib.sha256(raw).hexdigest(), None, "WorkerDied") for raw in raws]

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # fork: the workers start with every module already imported (spawn costs a second each).
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_start_worker,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def close(self) -> None:
        self._shut_pool(None)
        self._regions.close()

    def _shut_pool(self, broken: ProcessPoolExecutor | None) -> None:
        """Shut the pool down: any (``close``), or only the ``broken`` one.

        A fleet's mailbox threads share the pool, and each of those whose batch was on a pool that
        broke comes here: by then the first of them may have made a new pool, with other threads'
        batches on it. Shutting that one down as well left those batches waiting forever (seen on
        Python 3.11: a pool shut down under them never settled their futures), and the mailbox
        thread with them: no more passes, and SIGTERM waited 60 s for it.
        """
        with self._lock:
            if broken is not None and self._pool is not broken:
                return
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# A pool worker's mappings of the batches handed to it. Module state, because a ProcessPoolExecutor
# gives its workers nowhere else to keep anything between tasks; set in each worker only.
_MAPPED: Mapped | None = None


def _start_worker(daemon_pid: int) -> None:
    """Workers run at a lower priority than the main process.

    The main process is the pipeline's one serial stage (IMAP, deciding, the database): on a
    machine whose cores are all busy, a worker parsing ahead should wait for it, not it for them.
    A sandbox may forbid changing priorities (a seccomp filter such as systemd's
    ``SystemCallFilter=~@resources``, or a container's profile): the worker then parses at the
    daemon's priority. Failing here would break the pool, and every batch would count as a crash.
    """
    global _MAPPED
    _MAPPED = Mapped()
    _exit_with_parent(daemon_pid)
    try:
        os.nice(WORKER_NICENESS)
    except OSError as exc:
        log.warning("parser worker %d runs at the daemon's priority: %s", os.getpid(), exc)


def _exit_with_parent(parent: int) -> None:
    """End this worker once the daemon that forked it is gone (``kill -9``, a crash).

    Nothing else would: an orphaned worker waits on its task queue forever, still holding the
    descriptors it inherited — the flock of a mailbox's lease (SQLite) and the lease connection's
    socket (PostgreSQL) among them — so no other process could take the dead daemon's mailboxes
    over. A thread polls rather than ``PR_SET_PDEATHSIG``: that fires when the forking *thread*
    ends, and a fleet's mailbox threads share one pool and come and go.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)  # the results have nobody to go to; temp files are removed at the next start

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def spooled_paths(parsed: Iterable[Parsed]) -> Iterator[Path]:
    """The temp files the workers wrote attachments to (not yet fsynced)."""
    for item in parsed:
        if isinstance(item.email, Email):
            originals = item.email.lazy_tree.forwards or ()
            for attachment in (*item.email.attachments, *(a for o in originals for a in o.attachments)):
                if attachment.path is not None:
                    yield attachment.path


def _split(items: list[T], parts: int) -> list[list[T]]:
    size = max(1, -(-len(items) // parts))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _with_tree(parsed: Parsed, raw: bytes) -> Parsed:
    """The lazy stdlib tree stays in this process: it is rebuilt from the raw bytes we still hold.

    The holder is given the bytes in place: two ``dataclasses.replace`` per message were 1.5% of
    the main thread's time in a backlog drain.
    """
    if isinstance(parsed.email, Email):
        parsed.email.lazy_tree.restore(raw)
    return parsed
