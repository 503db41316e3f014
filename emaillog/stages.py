"""The batches of a pass in flight, and the thread that records one while the next is fetched.

Only the main thread uses the mailbox; the recording thread writes to the database (a batch's
transaction, the attempts of batches fetched meanwhile, the marks of batches moved meanwhile), in
the order they were queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from peewee import Database

from .store.bulk import write_transaction
from .store.ledger import LedgerKey
from .store.recorder import Result

log = logging.getLogger("emaillog.pass")


class Fetched(Protocol):
    """What a stage needs of a fetched batch: the ledger keys whose attempts were counted."""

    @property
    def keys(self) -> list[LedgerKey]: ...


F = TypeVar("F", bound=Fetched)
T = TypeVar("T")


@dataclass
class _Queued(Generic[T]):
    """A write waiting to run inside the next transaction on the recording thread."""

    write: Callable[..., T]
    args: tuple[object, ...]
    future: Future[T] = field(default_factory=Future)


@dataclass
class Stages(Generic[F]):
    """The batches of a pass in flight: fetched (parsing), pending (to decide), and recording.

    The recording thread is made for a pass of more than one batch and holds its own database
    connection, closed with it. Only the main thread touches the mailbox. Of the batch recording,
    only its keys and results are kept: its raw bytes are no longer needed.

    The small writes queued meanwhile (the attempts of a batch fetched, the marks of a batch moved)
    commit in the next batch's transaction: on PostgreSQL, a transaction of their own each cost
    the recording thread, the pass's slowest stage there, about a fifth of its time.
    """

    db: Database | None = None  # for the transactions of queued writes; None: no recording thread
    fetched: F | None = None
    pending: F | None = None
    _recording: tuple[list[LedgerKey], list[Result], Future[None]] | None = None
    _thread: ThreadPoolExecutor | None = None
    # Writes waiting for the next transaction on the recording thread.
    _queued: list[_Queued[Any]] = field(default_factory=list)
    # Transactions of queued writes alone (when no batch was left to carry them), checked as they end.
    _chores: list[Future[None]] = field(default_factory=list)

    def start_recording(
        self, keys: list[LedgerKey], results: list[Result], record: Callable[[list[Result]], None]
    ) -> None:
        """Record a batch on the recording thread, in one transaction with the writes queued so far."""
        assert self._recording is None, "one batch records at a time"
        assert self.db is not None, "a pass that records on a thread gives its database"
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="emaillog-record")
        queued, self._queued = self._queued, []
        future = self._thread.submit(_together, self.db, queued, lambda: record(results))
        self._recording = (keys, results, future)

    def later(self, write: Callable[..., T], *args: object) -> Future[T]:
        """Run ``write`` in the next transaction on the recording thread; at once if there is none.

        Its failure is raised by the next ``wait_recorded`` (or by the returned future's ``result``).
        """
        if self._thread is None:
            done: Future[T] = Future()
            done.set_result(write(*args))
            return done
        queued = _Queued(write, args)
        self._queued.append(queued)
        return queued.future

    def soon(self, write: Callable[..., T], *args: object) -> Future[T]:
        """Like ``later``, but its transaction starts now, without waiting for a batch to carry it."""
        future = self.later(write, *args)
        self._flush()
        return future

    def _flush(self) -> None:
        if not self._queued:
            return
        assert self._thread is not None and self.db is not None
        queued, self._queued = self._queued, []
        self._chores = [f for f in self._chores if not _finished_well(f)]
        self._chores.append(self._thread.submit(_together, self.db, queued, None))

    def _raise_failed_chore(self) -> None:
        for chore in self._chores:
            if chore.done() and chore.exception() is not None:
                self._chores.remove(chore)
                chore.result()

    def wait_chores(self) -> None:
        """Commit the queued writes and wait for them; raises what one of them raised."""
        self._flush()
        chores, self._chores = self._chores, []
        for chore in chores:
            chore.result()

    def wait_recorded(self) -> list[Result] | None:
        """The results of the batch that was recording, once its transaction has committed.

        Raises what recording raised; the batch then stays in flight, for its attempts to be given back.
        """
        if self._recording is None:
            return None
        _, results, future = self._recording
        future.result()
        self._recording = None
        self._raise_failed_chore()
        return results

    def settle(self, failure: BaseException) -> None:
        """After ``failure``, wait for the recording thread; a failure of its own is logged."""
        waited = [*self._chores, *([self._recording[2]] if self._recording is not None else [])]
        self._chores = []
        # Writes still queued are dropped: attempts not counted need no giving back, and rows
        # left unmarked are marked by settle_vanished on the next pass.
        for queued in self._queued:
            queued.future.set_exception(failure)
        self._queued = []
        for future in waited:
            error = future.exception()
            if error is not None and error is not failure:
                log.error("recording a batch failed as well: %s: %s", type(error).__name__, error)

    def in_flight(self) -> list[list[LedgerKey]]:
        """The keys of every batch whose attempts are counted and whose results are not all recorded."""
        keys = [self._recording[0]] if self._recording is not None else []
        return keys + [b.keys for b in (self.pending, self.fetched) if b is not None]

    def close(self) -> None:
        if self._thread is not None and self.db is not None:
            self._thread.submit(self.db.close)
            self._thread.shutdown(wait=True)
            self._thread = None


def _finished_well(future: Future[Any]) -> bool:
    """Done without an error: no longer worth keeping. A failed one is kept to be raised."""
    return future.done() and future.exception() is None


def _together(db: Database, queued: list[_Queued[Any]], record: Callable[[], None] | None) -> None:
    """Run the queued writes, then record a batch (if any), in one transaction; then tell each
    write's future its outcome, once it is committed (or what failed)."""
    try:
        with write_transaction(db):
            outcomes = [item.write(*item.args) for item in queued]
            if record is not None:
                record()
    except BaseException as error:
        for item in queued:
            item.future.set_exception(error)
        raise
    for item, outcome in zip(queued, outcomes, strict=True):
        item.future.set_result(outcome)
