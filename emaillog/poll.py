"""One pass over one mailbox: fetch → parse → decide → record → dispose, in batches.

Order per batch (SPEC §10): count an attempt, decide, record every result in one transaction,
then move. A crash anywhere loses nothing and doubles nothing: on the next pass a message whose
ledger row is final is only moved, never decided again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .largemail import read_large
from .mailbox import Mailbox
from .message import Email, Malformed, malformed, parse
from .notices.mailer import deliver_due
from .notices.plan import NoticePlanner
from .rules.attribution import attribute
from .limits import Limits
from .rules import DEFAULT_CHAIN, Decision, Link, TraceEntry, decide
from .settings import Settings
from .store import Store
from .store.ledger import FINAL_OUTCOMES, LedgerKey, begin_attempts, mark_disposed, rows_for
from .store.models import Ledger
from .store.recorder import Result

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
class Pass:
    settings: Settings
    mailbox: Mailbox
    store: Store
    chain: Sequence[Link] = DEFAULT_CHAIN
    dry_run: bool = False

    @property
    def tmp_dir(self) -> Path:
        return self.settings.data_dir / "tmp" / str(os.getpid())

    @property
    def limits(self) -> Limits:
        return Limits(max_message_bytes=self.settings.max_message_bytes)

    def run(self) -> PassReport:
        started = time.monotonic()
        report = PassReport()
        s = self.settings
        if not self.dry_run:
            self.mailbox.ensure_folders([s.processed_folder, s.error_folder])
        uidvalidity = self.mailbox.select(s.intake_folder).uidvalidity
        uids = self.mailbox.uids()
        rows = rows_for(s.mailbox_name, uidvalidity, uids)
        report.seen = len(uids)
        todo = self._finish_interrupted(uidvalidity, uids, rows, report)
        sizes = self.mailbox.sizes(todo)
        for batch in self._batches([u for u in todo if u in sizes], rows, sizes):
            self._process(uidvalidity, batch, sizes, report)
        self._send_notices()
        report.seconds = time.monotonic() - started
        return report

    def _send_notices(self) -> None:
        """Send what the outbox holds; a relay outage only leaves notices queued (SPEC §11)."""
        notices = self.settings.notices
        if notices is None or notices.smtp is None or self.dry_run:
            return
        deliver_due(self.store.account_id, notices.smtp)

    def _batches(self, uids: list[int], rows: dict[int, Ledger], sizes: dict[int, int]) -> Iterator[list[int]]:
        """Fresh messages in batches bounded by count and bytes; ones attempted before, one at a time.

        A message that crashed a batch is isolated on the next pass, so it alone uses up its
        attempts while the messages that shared its batch go through.
        """
        fresh = [u for u in uids if u not in rows or rows[u].attempts == 0]
        yield from batches_by_size(fresh, sizes, self.settings.batch_size, BATCH_BYTES)
        for uid in uids:
            if uid in rows and rows[uid].attempts > 0:
                yield [uid]

    def _finish_interrupted(self, uidvalidity: int, uids: list[int], rows: dict[int, Ledger],
                            report: PassReport) -> list[int]:
        """Move messages that were recorded but not moved (a crash between commit and move)."""
        done = [u for u in uids if u in rows and rows[u].outcome in FINAL_OUTCOMES and rows[u].folder]
        if done and not self.dry_run:
            by_folder: dict[str, list[int]] = {}
            for uid in done:
                by_folder.setdefault(rows[uid].folder, []).append(uid)
            self._move(uidvalidity, by_folder, report)
            report.resumed += len(done)
        done_set = set(done)
        return [u for u in uids if u not in done_set]

    def _process(self, uidvalidity: int, batch: list[int], sizes: dict[int, int], report: PassReport) -> None:
        s = self.settings
        raw: dict[int, bytes | None] = {uid: None for uid in batch if sizes[uid] > STREAM_OVER}
        raw.update(self.mailbox.fetch([uid for uid in batch if sizes[uid] <= STREAM_OVER]))
        keys = {uid: LedgerKey(s.mailbox_name, uidvalidity, uid) for uid in raw}
        attempts = {} if self.dry_run else begin_attempts(self.store.account_id, keys.values())
        planner = NoticePlanner(s, self.store.account_id,
                                lambda key: attribute(key, self.store.lookup).user is not None)
        results = [self._decide(keys[uid], raw[uid], attempts.get(uid, 1), planner) for uid in batch if uid in raw]
        if self.dry_run:
            report.decisions.extend((r.key.uid, r.decision) for r in results)
            for r in results:
                report.count(r.decision.outcome)
            return
        self.store.recorder.record(results)
        by_folder: dict[str, list[int]] = {}
        for r in results:
            report.count(r.decision.outcome)
            if r.folder is not None:
                by_folder.setdefault(r.folder, []).append(r.key.uid)
        self._move(uidvalidity, by_folder, report)

    def _decide(self, key: LedgerKey, raw: bytes | None, attempt: int, planner: NoticePlanner) -> Result:
        started = time.monotonic()
        s = self.settings
        email: Email | Malformed | None = None
        if raw is None:
            # Too large to hold: read by sections, attachments streamed to disk (SPEC §8).
            large = read_large(self.mailbox.sections(key.uid), self.limits, s.max_body_bytes, self.tmp_dir)
            raw, sha256, email = large.header, large.sha256, large.email
        else:
            sha256 = hashlib.sha256(raw).hexdigest()
        if attempt > s.max_attempts:
            decision, email = _given_up(attempt - 1), None
        else:
            decision, email = self._safe_decide(raw, attempt, email)
        if email is None:
            email = malformed(raw, decision.detail or "", sha256, self.limits)
        folder = None if decision.outcome == "failed" else (
            s.error_folder if decision.folder_kind == "error" else s.processed_folder)
        notice = None
        if not self.dry_run and decision.outcome != "failed":
            verdict = planner.plan(email, raw, decision, f"{s.account}|{key}")
            notice = verdict.notice
            if verdict.why != "no-notice":
                decision = replace(decision, trace=(*decision.trace, TraceEntry("notice", notice is not None,
                                                                                 verdict.why)))
        _log_line(key, email.message_id, decision, time.monotonic() - started)
        return Result(key, sha256, email.message_id, decision, folder, notice)

    def _safe_decide(self, raw: bytes, attempt: int, parsed: Email | Malformed | None
                     ) -> tuple[Decision, Email | Malformed | None]:
        try:
            email = parsed or parse(raw, self.limits)
            return decide(email, self.settings, self.store.lookup, self.chain), email
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
            log.exception("processing crashed (attempt %d of %d)", attempt, self.settings.max_attempts)
            if attempt >= self.settings.max_attempts:
                return _given_up(attempt, type(exc).__name__), None
            entry = TraceEntry("process", True, "crashed", {"error": type(exc).__name__, "attempt": attempt})
            return Decision("failed", "processing-error", None, None, (), (entry,),
                            f"processing failed with {type(exc).__name__}; it will be retried"), None

    def _move(self, uidvalidity: int, by_folder: dict[str, list[int]], report: PassReport) -> None:
        for folder, uids in by_folder.items():
            self.mailbox.move(uids, folder)
            mark_disposed(self.settings.mailbox_name, uidvalidity, uids)
            report.moved += len(uids)


def _given_up(attempts: int, error: str | None = None) -> Decision:
    detail = f"processing failed {attempts} times" + (f" ({error})" if error else "")
    entry = TraceEntry("attempts", True, "processing-failed", {"attempts": attempts, "error": error})
    return Decision("rejected", "processing-failed", None, None, (), (entry,), detail)


def _log_line(key: LedgerKey, message_id: str | None, decision: Decision, seconds: float) -> None:
    log.info("uid=%s message_id=%s route=%s owner=%s outcome=%s reason=%s ms=%.1f", key.uid, message_id,
             decision.route, decision.owner.email if decision.owner else None, decision.outcome,
             decision.reason, seconds * 1000)
