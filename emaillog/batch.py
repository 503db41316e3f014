"""One batch of fetched messages turned into results: parse all, prefetch, decide each, plan notices.

Parsing the whole batch first lets the CRM lookups be answered from one snapshot and one prefetch
query instead of a dozen queries per message. A message that crashes parsing or deciding becomes a
``failed`` result (retried alone later, SPEC §10) and never stops the others; network and server
errors are not the message's fault and propagate, leaving the batch for the next pass.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from imapclient.exceptions import IMAPClientError
from peewee import InterfaceError, OperationalError

from .largemail import read_large
from .limits import Limits
from .mailbox import Mailbox, MailboxError, MessageVanished
from .message import Email, Malformed, malformed
from .notices.plan import NoticePlanner, NoticeVerdict
from .parallel import MessageParser, Parsed, ParseJob
from .rules import Decision, Link, TraceEntry, decide
from .rules.attribution import attribute
from .rules.route import ReadForwards, RouteSettings
from .settings import Settings
from .store.ledger import Attempt, LedgerKey
from .store.lookup import SnapshotLookup
from .store.outbox import NoticeKey, told_before
from .store.recorder import Result
from .terminal import printable

log = logging.getLogger("emaillog.pass")
_NOT_THE_MESSAGES_FAULT = (OSError, IMAPClientError, MailboxError)
_FIRST = Attempt(0, 1, 0)  # a dry run counts nothing
# Loaded.crash of a message that left the folder while it was read: no crash, and nothing to do.
VANISHED = "vanished"

# An attempt that never finished because the whole process died (kill -9, an OOM kill, a power cut)
# says little about the message: it is counted, but a message goes to Error after ``max_attempts``
# crashes of its own — or, for one that takes the main process down itself, after this many
# interruptions while it was processed alone.
INTERRUPTIONS_TOLERATED = 10


@dataclass(frozen=True, slots=True)
class Loaded:
    key: LedgerKey
    raw: bytes  # the message, or only its header when it was too large to hold (what a notice carries)
    sha256: str
    email: Email | Malformed | None  # None: parsing crashed, or the message was given up
    crash: str | None
    attempt: Attempt
    started: float


@dataclass(frozen=True)
class BatchContext:
    settings: Settings
    mailbox: Mailbox
    lookup: SnapshotLookup
    chain: Sequence[Link]
    limits: Limits
    tmp_dir: Path
    account_id: int
    dry_run: bool
    # RFC822.SIZE of the batch's messages: one over the maximum is refused without being fetched.
    sizes: dict[int, int] = field(default_factory=dict)
    ledger_ids: dict[int, int] = field(default_factory=dict)


def process(
    ctx: BatchContext,
    keys: Sequence[LedgerKey],
    raws: dict[int, bytes | None],
    attempts: dict[int, Attempt],
    parsed: dict[int, Parsed],
) -> list[Result]:
    """Decide every message of a batch whose small messages were parsed already (``start_parsing``)."""
    loaded = [
        _load(ctx, key, raws[key.uid], attempts.get(key.uid, _FIRST), parsed.get(key.uid)) for key in keys
    ]
    ctx.lookup.prefetch(contact_keys(ctx.settings, [item.email for item in loaded]))
    planner = NoticePlanner(ctx.settings, ctx.account_id, lambda k: attribute(k, ctx.lookup).user is not None)
    return [_result(ctx, item, planner) for item in loaded]


def start_parsing(
    parser: MessageParser,
    settings: Settings,
    limits: Limits,
    tmp_dir: Path,
    keys: Sequence[LedgerKey],
    raws: dict[int, bytes | None],
    attempts: dict[int, Attempt],
) -> Callable[[], dict[int, Parsed]]:
    """Start parsing every message held in memory (on all cores when the batch is big enough).

    A message tried before is parsed in a worker process whatever its size: if it crashes the
    interpreter, the worker dies and the crash is counted as the message's own, not the daemon's.
    """
    tries = {k.uid: attempts.get(k.uid, _FIRST) for k in keys}
    limit = settings.max_attempts
    uids = [k.uid for k in keys if raws[k.uid] is not None and not exhausted(tries[k.uid], limit)]
    blobs = [raw for uid in uids if (raw := raws[uid]) is not None]
    retried = any(tries[uid].number > 1 for uid in uids)
    prepare = ReadForwards(RouteSettings.of(settings))
    pending = parser.submit(blobs, ParseJob(limits, tmp_dir, isolate=retried, prepare=prepare))
    return _Once(lambda: dict(zip(uids, pending(), strict=True)))


class _Once:
    """The parsed batch, waited for once: a failed pass waits again for what it did not collect
    (the workers must be done writing to its temp dir before that is removed), and a parser's
    wait gives its shared memory back, which must happen only once."""

    def __init__(self, wait: Callable[[], dict[int, Parsed]]) -> None:
        self._wait: Callable[[], dict[int, Parsed]] | None = wait
        self._parsed: dict[int, Parsed] | None = None
        self._error: BaseException | None = None

    def __call__(self) -> dict[int, Parsed]:
        if self._wait is not None:
            wait, self._wait = self._wait, None
            try:
                self._parsed = wait()
            except Exception as exc:  # noqa: BLE001 - kept, and raised again on every later wait
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._parsed is not None
        return self._parsed


def exhausted(attempt: Attempt, max_attempts: int) -> bool:
    """True when a message is not to be processed again: it goes to Error as processing-failed."""
    return attempt.failures >= max_attempts or attempt.interrupted >= INTERRUPTIONS_TOLERATED


def _load(
    ctx: BatchContext, key: LedgerKey, raw: bytes | None, attempt: Attempt, parsed: Parsed | None
) -> Loaded:
    started = time.monotonic()
    if raw is None:
        # Too large to hold: read by sections, attachments streamed to disk (SPEC §8).
        return _load_large(ctx, key, attempt, started)
    if parsed is None:  # given up: not parsed again
        if not raw:  # not even fetched: the server refused to hand it over at every attempt (poll.py)
            return Loaded(key, raw, "", None, "the server refused to FETCH it", attempt, started)
        return Loaded(key, raw, hashlib.sha256(raw).hexdigest(), None, None, attempt, started)
    return Loaded(key, raw, parsed.sha256, parsed.email, parsed.crash, attempt, started)


def _load_large(ctx: BatchContext, key: LedgerKey, attempt: Attempt, started: float) -> Loaded:
    size = ctx.sizes.get(key.uid, 0)
    if size > ctx.limits.max_message_bytes:
        return _over_maximum(ctx, key, size, attempt, started)
    try:
        large = read_large(
            ctx.mailbox.sections(key.uid), ctx.limits, ctx.settings.max_body_bytes, ctx.tmp_dir
        )
    except MessageVanished:
        return _vanished(key, attempt, started)
    except _NOT_THE_MESSAGES_FAULT:
        raise
    except Exception as exc:
        log.exception("reading large uid %s crashed (attempt %d)", key.uid, attempt.number)
        return Loaded(key, b"", "", None, type(exc).__name__, attempt, started)
    email = None if exhausted(attempt, ctx.settings.max_attempts) else large.email
    return Loaded(key, large.header, large.sha256, email, None, attempt, started)


def _over_maximum(ctx: BatchContext, key: LedgerKey, size: int, attempt: Attempt, started: float) -> Loaded:
    """SPEC §8: a message over the maximum is ``malformed``; only its header is fetched (for the notice)."""
    try:
        header = ctx.mailbox.sections(key.uid).section("HEADER")
    except MessageVanished:
        return _vanished(key, attempt, started)
    detail = (
        f"the message is {size / 1048576:.1f} MB, over the limit of "
        f"{ctx.limits.max_message_bytes / 1048576:.1f} MB"
    )
    return Loaded(key, header, "", malformed(header, detail, "", ctx.limits), None, attempt, started)


def _vanished(key: LedgerKey, attempt: Attempt, started: float) -> Loaded:
    """Left as it is: not recorded, not moved, no attempt counted; the next pass, not listing it,
    settles its ledger row as vanished."""
    log.info("uid %s left the intake folder while it was read; it is not processed", key.uid)
    return Loaded(key, b"", "", None, VANISHED, attempt, started)


def contact_keys(settings: Settings, emails: Iterable[Email | Malformed | None]) -> set[str]:
    """Every address the rules may look a contact up for: the messages', and those of the originals
    a parser worker read from a forward."""
    keys: set[str] = set()
    for email in emails:
        if isinstance(email, Email):
            keys.update(settings.key(a.address) for a in email.to + email.cc + email.senders)
            for original in email.lazy_tree.forwards or ():
                found = original.to + original.cc + ((original.sender,) if original.sender else ())
                keys.update(settings.key(a.address) for a in found)
    return keys


def _result(ctx: BatchContext, item: Loaded, planner: NoticePlanner) -> Result:
    decision, crashed = _decision(ctx, item)
    failures = item.attempt.failures + crashed
    s = ctx.settings
    email = (
        item.email
        if item.email is not None
        else malformed(item.raw, decision.detail or "", item.sha256, ctx.limits)
    )
    folder = (
        None
        if decision.outcome == "failed"
        else (s.error_folder if decision.folder_kind == "error" else s.processed_folder)
    )
    notice = None
    if not ctx.dry_run and decision.outcome != "failed":
        verdict = _told_once(ctx, item, planner.plan(email, item.raw, decision, f"{s.account}|{item.key}"))
        notice = verdict.notice
        if verdict.why != "no-notice":
            decision = replace(
                decision, trace=(*decision.trace, TraceEntry("notice", notice is not None, verdict.why))
            )
    seconds = time.monotonic() - item.started
    sha256 = item.sha256 or None
    return Result(item.key, sha256, email.message_id, decision, folder, notice, failures, seconds)


def _told_once(ctx: BatchContext, item: Loaded, verdict: NoticeVerdict) -> NoticeVerdict:
    """No second notice for the same message and reason: a message put back through the pipeline
    (``errors retry`` before the cause was fixed, or moved back by hand) and refused again would
    tell the rep what they were told already. (The planner counted it for the daily limit: a
    notice at most too few today, never one too many.)"""
    notice = verdict.notice
    if notice is None or not item.sha256:
        return verdict
    account = ctx.settings.account
    key = NoticeKey(ctx.account_id, account, notice.recipient.address, notice.reason, f"{account}|{item.key}")
    return NoticeVerdict(None, "suppressed-already-told") if told_before(key, item.sha256) else verdict


def _decision(ctx: BatchContext, item: Loaded) -> tuple[Decision, bool]:
    """The decision, and whether this attempt ended in the message's own crash."""
    max_attempts = ctx.settings.max_attempts
    attempt = item.attempt
    if item.crash == VANISHED:  # before all else: whatever it would be, it is no longer ours to move
        entry = TraceEntry("process", True, VANISHED, {"attempt": attempt.number})
        return Decision("failed", VANISHED, None, None, (), (entry,), "the message left the folder"), False
    if exhausted(attempt, max_attempts):
        return given_up(attempt.failures, item.crash, interrupted=attempt.interrupted), False
    if item.crash is not None:
        return _crashed(item.crash, attempt, max_attempts), True
    assert item.email is not None
    try:
        return decide(item.email, ctx.settings, ctx.lookup, ctx.chain), False
    except (OperationalError, InterfaceError):
        # A lookup the batch's snapshot did not hold met the database gone: the pass's failure (its
        # attempts given back), not the message's crash, which three times over sends it to Error.
        raise
    except Exception as exc:
        log.exception("deciding uid %s crashed (attempt %d)", item.key.uid, attempt.number)
        return _crashed(type(exc).__name__, attempt, max_attempts), True


def _crashed(error: str, attempt: Attempt, max_attempts: int) -> Decision:
    failures = attempt.failures + 1
    if failures >= max_attempts:
        return given_up(failures, error)
    entry = TraceEntry("process", True, "crashed", {"error": error, "attempt": attempt.number})
    return Decision(
        "failed",
        "processing-error",
        None,
        None,
        (),
        (entry,),
        f"processing failed with {error}; it will be retried",
    )


def given_up(failures: int, error: str | None = None, interrupted: int = 0) -> Decision:
    detail = f"processing failed {failures} times" + (f" ({error})" if error else "")
    if interrupted >= INTERRUPTIONS_TOLERATED:
        detail = f"processing was interrupted {interrupted} times (the process died while on this message)"
    data = {"failures": failures, "interrupted": interrupted, "error": error}
    entry = TraceEntry("attempts", True, "processing-failed", data)
    return Decision("rejected", "processing-failed", None, None, (), (entry,), detail)


def log_outcomes(results: Sequence[Result], ledger_ids: dict[int, int]) -> None:
    """One line per message (SPEC §13): once its batch is recorded, or decided in a dry run. Written
    before the batch's transaction, a batch the database lost was said to be logged, then said so
    again by the pass that logged it."""
    for r in results:
        _log_line(ledger_ids.get(r.key.uid), r.key, r.message_id, r.decision, r.seconds)


def _log_line(
    ledger_id: int | None, key: LedgerKey, message_id: str | None, decision: Decision, seconds: float
) -> None:
    log.info(
        "ledger=%s uid=%s message_id=%s route=%s owner=%s outcome=%s reason=%s ms=%.1f%s",
        ledger_id,
        key.uid,
        printable(message_id),
        decision.route,
        decision.owner.email if decision.owner else None,
        decision.outcome,
        decision.reason,
        seconds * 1000,
        _content(decision),
    )


def _content(decision: Decision) -> str:
    """`` content=encrypted`` (or ``opaque-signed`` …) for sealed mail, from its trace; else nothing,
    so the line of every other message stays as it was."""
    found = next((entry.reason for entry in decision.trace if entry.rule == "content"), None)
    return f" content={found}" if found else ""
