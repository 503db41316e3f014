"""The batches of a pass in flight, and the thread that records one while the next is fetched.

Only the main thread uses the mailbox; the recording thread writes to the database (a batch's
transaction, then the marks of batches moved meanwhile), in the order they were queued.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from peewee import Database

from .reconnect import one_line
from .store.ledger import LedgerKey
from .store.recorder import Result

log = logging.getLogger("emaillog.pass")

# Recorded messages are moved together once this many wait, or the first of them has waited this
# long, and at the end of the pass. Each MOVE costs the server more than its messages: Dovecot
# (maildir) spent 1.03 s of CPU moving 10,000 messages out of a 10,000-message INBOX 200 at a time
# (a batch), 0.59 s 1,000 at a time; a distant server costs a round trip per command.
MOVE_GROUP = 1000
MOVE_WAIT = 2.0


class Fetched(Protocol):
    """What a stage needs of a fetched batch: the ledger keys whose attempts were counted."""

    @property
    def keys(self) -> list[LedgerKey]: ...

    @property
    def parsing(self) -> Callable[[], object]: ...


F = TypeVar("F", bound=Fetched)


@dataclass
class Stages(Generic[F]):
    """The batches of a pass in flight: fetched (parsing), pending (to decide), and recording.

    The recording thread is made for a pass of more than one batch and holds its own database
    connection, closed with it. Only the main thread touches the mailbox. Of the batch recording,
    only its keys and results are kept: its raw bytes are no longer needed.
    """

    fetched: F | None = None
    pending: F | None = None
    _recording: tuple[list[LedgerKey], list[Result], Future[None]] | None = None
    _thread: ThreadPoolExecutor | None = None
    # Writes queued on the recording thread (marking moved rows disposed), checked as they finish.
    _chores: list[Future[None]] = field(default_factory=list)
    held: HeldMoves = field(default_factory=lambda: HeldMoves())

    def start_recording(
        self, keys: list[LedgerKey], results: list[Result], record: Callable[[list[Result]], None]
    ) -> None:
        assert self._recording is None, "one batch records at a time"
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="emaillog-record")
        self._recording = (keys, results, self._thread.submit(record, results))

    @property
    def recording_thread(self) -> bool:
        """Whether the pass has a recording thread (made by its first ``start_recording``)."""
        return self._thread is not None

    def later(self, write: Callable[..., None], *args: object) -> None:
        """Run ``write`` on the recording thread, after what is queued there; at once if there is none.

        A crash before it runs leaves only rows that ``settle_vanished`` marks on the next pass.
        """
        if self._thread is None:
            write(*args)
            return
        self._chores = [f for f in self._chores if not _finished_well(f)]
        self._chores.append(self._thread.submit(write, *args))

    def _raise_failed_chore(self) -> None:
        for chore in self._chores:
            if chore.done() and chore.exception() is not None:
                self._chores.remove(chore)
                chore.result()

    def wait_chores(self) -> None:
        """Wait for the queued writes; raises what one of them raised."""
        chores, self._chores = self._chores, []
        for chore in chores:
            chore.result()

    def hold_recorded(self) -> bool:
        """Wait for the batch that was recording to commit, then hold its messages for moving
        (``held``); False when no batch was recording.

        Raises what recording raised; the batch then stays in flight, for its attempts to be given back.
        """
        if self._recording is None:
            return False
        _, results, future = self._recording
        future.result()
        self._recording = None
        self._raise_failed_chore()
        self.held.add(results)
        return True

    def settle(self, failure: BaseException) -> None:
        """After ``failure``, wait for the recording thread; a failure of its own is logged."""
        waited = [*self._chores, *([self._recording[2]] if self._recording is not None else [])]
        self._chores = []
        for future in waited:
            error = future.exception()
            if error is not None and error is not failure:
                log.error("recording a batch failed as well: %s: %s", type(error).__name__, one_line(error))

    def wait_parsing(self) -> None:
        """After a failure, wait for the parsing of the batches not decided: its workers may still
        be spooling attachments into the pass's temp dir."""
        for batch in (self.pending, self.fetched):
            if batch is not None:
                with contextlib.suppress(Exception):
                    batch.parsing()

    def in_flight(self) -> list[list[LedgerKey]]:
        """The keys of every batch whose attempts are counted and whose results are not all recorded."""
        keys = [self._recording[0]] if self._recording is not None else []
        return keys + [b.keys for b in (self.pending, self.fetched) if b is not None]

    def close(self, db: Database) -> None:
        if self._thread is not None:
            self._thread.submit(db.close)
            self._thread.shutdown(wait=True)
            self._thread = None


@dataclass
class HeldMoves:
    """Messages recorded and not yet moved, by folder: moved together every few batches.

    SPEC §10 asks only that a message moves after its commit. One recorded and still held when the
    pass fails is moved by the next pass without being decided again, as after a crash.
    """

    by_folder: dict[str, list[int]] = field(default_factory=dict)
    since: float | None = None  # when the first of those held was added

    def add(self, results: list[Result]) -> None:
        """A recorded batch's messages that go to a folder (one left for another attempt stays)."""
        for r in results:
            if r.folder is not None:
                self.by_folder.setdefault(r.folder, []).append(r.key.uid)
                if self.since is None:
                    self.since = time.monotonic()

    def due(self) -> bool:
        held = sum(map(len, self.by_folder.values()))
        waited = time.monotonic() - self.since if self.since is not None else 0.0
        return held >= MOVE_GROUP or waited >= MOVE_WAIT

    def take(self) -> dict[str, list[int]]:
        by_folder = self.by_folder
        self.by_folder, self.since = {}, None
        return by_folder


def _finished_well(future: Future[None]) -> bool:
    """Done without an error: no longer worth keeping. A failed one is kept to be raised."""
    return future.done() and future.exception() is None
