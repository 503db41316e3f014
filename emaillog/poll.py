"""One pass over one mailbox: fetch → parse → decide → record → dispose, in batches.

Order per batch (SPEC §10): count an attempt, decide, record every result in one transaction,
then move. A crash anywhere loses nothing and doubles nothing: on the next pass a message whose
ledger row is final is only moved, never decided again. What a failure costs the messages (their
attempts given back, or one held against a FETCH the server refused) is passfailures.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from peewee import InterfaceError, OperationalError

from .batch import BatchContext, log_outcomes, process, start_parsing
from .fallback import finish_copies
from .limits import Limits
from .mailbox import FetchRefused, Mailbox
from .notices.mailer import deliver_due
from .parallel import InlineParser, MessageParser, Parsed, spooled_paths
from .passfailures import NOT_THE_MESSAGES_FAULT, PassFailures
from .rules import DEFAULT_CHAIN, Decision, Link
from .settings import Settings
from .stages import Stages
from .store import Store
from .store.files import process_tmp_dir, start_syncing
from .store.ledger import (
    FETCH_REFUSED,
    FINAL_OUTCOMES,
    Attempt,
    LedgerKey,
    begin_attempts,
    mark_disposed,
    mark_left,
    rows_for,
    settle_vanished,
)
from .store.lookup import SnapshotLookup
from .store.models import Ledger
from .store.recorder import Result
from .store.schema import SchemaTooNew, refuse_newer

log = logging.getLogger("emaillog.pass")

# Messages over this are never held whole in memory: they are read by sections (largemail.py).
STREAM_OVER = 8 * 1024 * 1024
# One fetch (and one batch) holds at most about this many bytes of small messages.
BATCH_BYTES = 64 * 1024 * 1024


def batches_by_size(uids: list[int], sizes: dict[int, int], count: int, budget: int) -> Iterator[list[int]]:
    """Consecutive batches of at most ``count`` messages and (but for a single large one) ``budget`` bytes."""
    batch: list[int] = []
    used = 0
    for uid in uids:
        size = min(sizes[uid], STREAM_OVER)
        if batch and (len(batch) >= count or used + size > budget):
            yield batch
            batch, used = [], 0
        batch.append(uid)
        used += size
    if batch:
        yield batch


@dataclass
class PassReport:
    """Counts of one pass, for the log line, ``status`` and systemd's STATUS."""

    seen: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    moved: int = 0
    resumed: int = 0
    seconds: float = 0.0
    decisions: list[tuple[int, Decision]] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def summary(self) -> str:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items())) or "nothing new"
        return f"{self.seen} seen: {parts}; {self.moved} moved in {self.seconds:.2f}s"


@dataclass(frozen=True)
class _Fetched:
    """A batch fetched, its attempts counted, and its parsing under way."""

    keys: list[LedgerKey]
    raws: dict[int, bytes | None]
    attempts: dict[int, Attempt]
    parsing: Callable[[], dict[int, Parsed]]


_InFlight = Stages[_Fetched]


@dataclass(frozen=True)
class Pass(PassFailures):
    settings: Settings
    mailbox: Mailbox
    store: Store
    chain: Sequence[Link] = DEFAULT_CHAIN
    dry_run: bool = False
    parser: MessageParser = field(default_factory=InlineParser)
    _ledger_ids: dict[int, int] = field(default_factory=dict)  # UID -> ledger row id, for the log lines
    # UIDs the server refused to FETCH as often as a message may fail: not asked for again (_fetch).
    _never_handed_over: set[int] = field(default_factory=set)
    _pass_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def tmp_dir(self) -> Path:
        """The pass's own temp dir, removed when it ends: what a failed batch spooled (a full disk,
        a lost connection) must not stay to fill the disk while the daemon runs on."""
        return process_tmp_dir(self.settings.data_dir, os.getpid()) / f"pass-{self._pass_id}"

    @property
    def limits(self) -> Limits:
        return Limits(max_message_bytes=self.settings.max_message_bytes)

    def run(self) -> PassReport:
        try:
            return self._run()
        finally:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _run(self) -> PassReport:
        started = time.monotonic()
        report = PassReport()
        s = self.settings
        # A newer emaillog may have upgraded the schema since the last pass: nothing of this pass
        # (attempts given back or counted, notices sent, rows settled) is to touch it then.
        refuse_newer(self.store.db)
        if not self.dry_run:
            self._give_back_owed()
            self.mailbox.ensure_folders([s.processed_folder, s.error_folder])
        uidvalidity = self.mailbox.select(s.intake_folder).uidvalidity
        uids = self.mailbox.uids()
        rows = rows_for(self.store.account_id, s.mailbox_name, uidvalidity, uids)
        report.seen = len(uids)
        todo = self._finish_interrupted(uidvalidity, uids, rows, report)
        if not self.dry_run:
            settle_vanished(self.store.account_id, s.mailbox_name, uidvalidity, set(uids))
        sizes = self.mailbox.sizes(todo)
        retried = frozenset(u for u, row in rows.items() if row.attempts > 0)
        self._never_handed_over.update(u for u, row in rows.items() if self._refused_too_often(row))
        self._pipeline(
            uidvalidity,
            list(self._batches([u for u in todo if u in sizes], rows, sizes)),
            sizes,
            report,
            retried,
        )
        self._send_notices()
        report.seconds = time.monotonic() - started
        return report

    def _send_notices(self) -> None:
        """Send what the outbox holds; a relay outage only leaves notices queued (SPEC §11)."""
        notices = self.settings.notices
        if notices is None or notices.smtp is None or self.dry_run:
            return
        deliver_due(self.store.account_id, notices.smtp)

    def _batches(
        self, uids: list[int], rows: dict[int, Ledger], sizes: dict[int, int]
    ) -> Iterator[list[int]]:
        """Fresh messages in batches bounded by count and bytes; ones attempted before, one at a time.

        A message that crashed a batch is isolated on the next pass, so it alone uses up its
        attempts while the messages that shared its batch go through.
        """
        fresh = [u for u in uids if u not in rows or rows[u].attempts == 0]
        yield from batches_by_size(fresh, sizes, self.settings.batch_size, BATCH_BYTES)
        # Those whose FETCH the server refused last: its refusal (a BYE) ends the pass.
        retried = [u for u in uids if u in rows and rows[u].attempts > 0]
        for uid in sorted(retried, key=lambda u: rows[u].reason == FETCH_REFUSED):
            yield [uid]

    def _finish_interrupted(
        self, uidvalidity: int, uids: list[int], rows: dict[int, Ledger], report: PassReport
    ) -> list[int]:
        """Move messages that were recorded but not moved (a crash between commit and move)."""
        done = [u for u in uids if u in rows and rows[u].outcome in FINAL_OUTCOMES and rows[u].folder]
        if not self.dry_run and not self.mailbox.has("MOVE"):
            # COPY + \Deleted + EXPUNGE, which a cut can leave half done: see fallback.py.
            finished = finish_copies(
                self.mailbox,
                self.settings.intake_folder,
                (self.store.account_id, self.settings.mailbox_name),
                uidvalidity,
                {u: rows[u] for u in done},
            )
            report.resumed += finished
            report.moved += finished
        elif done and not self.dry_run:
            by_folder: dict[str, list[int]] = {}
            for uid in done:
                by_folder.setdefault(rows[uid].folder, []).append(uid)
            self._move(uidvalidity, by_folder, report, Stages())  # no thread yet: marked at once
            report.resumed += len(done)
        done_set = set(done)
        return [u for u in uids if u not in done_set]

    def _pipeline(
        self,
        uidvalidity: int,
        batches: list[list[int]],
        sizes: dict[int, int],
        report: PassReport,
        retried: frozenset[int] = frozenset(),
    ) -> None:
        """Fetch batch N+1 (and start parsing it on the other cores) before finishing batch N; while
        batch N records on the recording thread, fetch N+2, and move the batches recorded before it
        once enough wait (``HeldMoves``).

        Not for a message retried alone: fetching it counts an attempt, and a message ahead of it
        that kills the process would then use up the attempts of its innocent neighbour too.
        """
        stages: _InFlight = Stages()
        try:
            for batch in batches:
                if stages.pending is not None and retried.intersection(batch):
                    self._finish(uidvalidity, stages, sizes, report)
                stages.fetched = self._fetch(uidvalidity, batch, sizes)
                if stages.pending is not None:
                    self._advance(uidvalidity, stages, sizes, report)
                stages.pending, stages.fetched = stages.fetched, None
            self._finish(uidvalidity, stages, sizes, report)
            stages.wait_chores()
        except NOT_THE_MESSAGES_FAULT as failure:
            # The database, the disk or the connection failed: the messages stay for the next pass
            # without losing an attempt (SPEC §10) — the batch being recorded, the one being
            # finished and the one already fetched (and counted) behind it. Best effort: the
            # database may be what failed. A batch recorded meanwhile keeps its count (give_back
            # leaves final rows alone) and is moved by the next pass.
            stages.settle(failure)
            stages.wait_parsing()
            if not self.dry_run:
                self.store.owed_attempts.extend(stages.in_flight())
                try:
                    self._give_back_owed()
                    if isinstance(failure, FetchRefused):
                        self._count_refused(uidvalidity, failure)
                except (OperationalError, InterfaceError):
                    self._say_owed()
            raise
        except SchemaTooNew as refusal:
            # A newer emaillog upgraded the schema: the batch being recorded was rolled back, and
            # nothing more is written there, not even the attempts given back. Those batches stay
            # in the intake folder, counted as tried, as a process killed mid-batch leaves them.
            stages.settle(refusal)
            stages.wait_parsing()
            raise
        finally:
            stages.close(self.store.db)

    def _advance(
        self, uidvalidity: int, stages: _InFlight, sizes: dict[int, int], report: PassReport
    ) -> None:
        """Decide the pending batch and start recording it; the batch recorded before it joins the
        messages held for moving, which are moved when due.

        Deciding waits for the batch before it to be recorded: the rules read the CRM (contacts,
        duplicates, threads, the notices sent today) as the earlier batch left it. Those held are
        moved while this one records: after their own commit, as SPEC §10 asks.
        """
        recorded = stages.hold_recorded()
        assert stages.pending is not None
        results = self._decide(stages.pending, sizes, report)
        if results is not None:
            stages.start_recording(stages.pending.keys, results, self._record)
        stages.pending = None
        if recorded and stages.held.due():
            self._move(uidvalidity, stages.held.take(), report, stages)

    def _finish(self, uidvalidity: int, stages: _InFlight, sizes: dict[int, int], report: PassReport) -> None:
        """Bring every batch in flight to its end: recorded, then moved (the order SPEC §10 asks for).

        With a recording thread, the last batch records there while the batches recorded before it
        are moved: at the end of a 10,000-message drain, recording it took 55-107 ms and that MOVE
        54-70 ms, one after the other, with the parser workers idle (each call timed, SQLite and
        PostgreSQL). A pass of one batch has no thread and records it here: making one would cost
        more than it overlaps.
        """
        stages.hold_recorded()
        if stages.pending is not None:
            results = self._decide(stages.pending, sizes, report)
            if results is not None:
                if stages.recording_thread:
                    stages.start_recording(stages.pending.keys, results, self._record)
                else:
                    self._record(results)
                    stages.held.add(results)
            stages.pending = None
        self._move(uidvalidity, stages.held.take(), report, stages)
        if stages.hold_recorded():
            self._move(uidvalidity, stages.held.take(), report, stages)

    def _record(self, results: list[Result]) -> None:
        """Record a batch in one transaction, then say what became of each of its messages."""
        self.store.recorder.record(results)
        log_outcomes(results, self._ledger_ids)

    def _fetch(self, uidvalidity: int, batch: list[int], sizes: dict[int, int]) -> _Fetched:
        s = self.settings
        # b"": a message the server refused to hand over as often as it may fail, not asked for again
        # (it goes to Error as processing-failed); None: one too large to hold, read by sections.
        asked = [uid for uid in batch if uid not in self._never_handed_over]
        raws: dict[int, bytes | None] = {uid: b"" for uid in batch if uid in self._never_handed_over}
        raws.update({uid: None for uid in asked if sizes[uid] > STREAM_OVER})
        raws.update(self.mailbox.fetch([uid for uid in asked if sizes[uid] <= STREAM_OVER]))
        keys = [LedgerKey(s.mailbox_name, uidvalidity, uid) for uid in batch if uid in raws]
        attempts = {} if self.dry_run else begin_attempts(self.store.account_id, keys)
        self._ledger_ids.update({uid: a.ledger_id for uid, a in attempts.items()})
        parsing = start_parsing(self.parser, s, self.limits, self.tmp_dir, keys, raws, attempts)
        return _Fetched(keys, raws, attempts, parsing)

    def _decide(self, fetched: _Fetched, sizes: dict[int, int], report: PassReport) -> list[Result] | None:
        """The batch's results, once parsed and decided; None in a dry run (they are only reported)."""
        context = BatchContext(
            self.settings,
            self.mailbox,
            SnapshotLookup(self.store.account_id),
            self.chain,
            self.limits,
            self.tmp_dir,
            self.store.account_id,
            self.dry_run,
            sizes=sizes,
            ledger_ids=self._ledger_ids,
        )
        parsed = fetched.parsing()
        if not self.dry_run:
            start_syncing(spooled_paths(parsed.values()))
        results = process(context, fetched.keys, fetched.raws, fetched.attempts, parsed)
        for r in results:
            report.count(r.decision.outcome)
        if self.dry_run:
            log_outcomes(results, self._ledger_ids)
            report.decisions.extend((r.key.uid, r.decision) for r in results)
            return None
        return results

    def _move(
        self, uidvalidity: int, by_folder: dict[str, list[int]], report: PassReport, stages: _InFlight
    ) -> None:
        """MOVE each folder's messages, then mark their rows disposed: on the recording thread when
        the pass has one (queued behind the batch recording there), else at once."""
        s = self.settings
        for folder, uids in by_folder.items():
            gone = self.mailbox.move(uids, folder)
            moved = [u for u in uids if u not in gone]
            stages.later(mark_disposed, self.store.account_id, s.mailbox_name, uidvalidity, moved)
            report.moved += len(moved)
            if gone:
                left = sorted(gone)
                stages.later(mark_left, self.store.account_id, s.mailbox_name, uidvalidity, left)
                log.warning(
                    "uids %s left %s before they were moved to %s (another mail client expunged or "
                    "moved them): recorded, not moved",
                    ",".join(map(str, left)),
                    s.intake_folder,
                    folder,
                )
