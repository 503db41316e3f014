"""The daemon's main loop: one IMAP connection, IDLE (or polling), signals, reconnects (issue 5).

How the parts share the work:

- The **main thread** owns the IMAP connection and the database connection, and it alone runs
  passes, so passes are serialised without a lock. It waits in IMAP IDLE on the intake folder (or,
  without IDLE, on a queue) in slices of ``SLICE`` seconds, and pings the systemd watchdog between
  slices and between batches: a hung loop stops the pings and gets the process restarted.
- **APScheduler** (a BackgroundScheduler thread) is the clock for periodic work: its job only
  *asks* for a pass (a reconciliation every EMAILLOG_RECONCILE_SECONDS with IDLE, a poll every
  EMAILLOG_POLL_SECONDS without). It never touches a connection.
- **Signal handlers** only put a word on the same queue (``queue.SimpleQueue.put`` is safe to call
  from a signal handler): SIGTERM/SIGINT stop, SIGHUP reload, SIGUSR1 pass now.

Every exit from IDLE is followed by a full pass, which is also the reconciliation: a pass compares
the whole intake folder with the ledger, so mail whose EXISTS was missed is found then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
import logging
import queue
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from imapclient.exceptions import IMAPClientError

from .databaseurl import POSTGRESQL_URLS
from .imapmailbox import ImapMailbox
from .mailbox import FolderReadOnly, FolderUnusable, LoginRefused, MailboxError
from .metrics import Metrics, serve
from .oauth import TokenSource, token_source
from .parallel import MessageParser, ParallelParser
from .passslots import PassSlots
from .poll import Pass, PassReport
from .reconnect import (
    CONNECTION_ERRORS,
    DATABASE_ERRORS,
    Backoff,
    ConnectionLost,
    IntakeReadOnly,
    on_a_local_file,
    one_line,
)
from .reloading import keeps_what_start_up_set, reload
from .rules import Link
from .sdnotify import Notifier
from .settings import Settings, SettingsError
from .status import StateFile
from .stoppable import StoppableMailbox
from .store import Store, open_store

log = logging.getLogger("emaillog")

# Longest wait between two looks at the queue (signals, scheduler) and two watchdog pings.
SLICE = 0.5
# After a pass, mail that arrived while it ran is passed over at once, up to this many times in a row
# (then IDLE or the queue gets a look, so signals are never starved).
MAX_FOLLOW_UPS = 20
# A pass waiting for a slot (PassSlots) sends a NOOP this often: a connection that says nothing for
# 30 minutes may be dropped by the server (RFC 9051), and a backlog of many mailboxes can take that.
NOOP_SECONDS = 60.0


class Daemon:
    """The long-running daemon for one mailbox."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        chain: tuple[Link, ...],
        notifier: Notifier,
        reload_settings: Callable[[], Settings] | None = None,
        parser: MessageParser | None = None,
        slots: PassSlots | None = None,
    ) -> None:
        self.settings, self.store, self.chain, self.notifier = settings, store, chain, notifier
        # Under a fleet, the process's pass slots: a pass runs in one of them (None: no bound).
        self.slots = slots
        # Parsing runs on a pool of worker processes (parallel.py), kept for the daemon's life.
        self.parser = parser if parser is not None else ParallelParser()
        self.reload_settings = reload_settings
        self.requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stopping = False
        self.mailbox: ImapMailbox | None = None
        self.tokens: TokenSource | None = None
        self.metrics = Metrics()
        self.state = StateFile.for_settings(settings)
        ops = settings.ops
        self.backoff = Backoff(ops.reconnect_min_seconds, ops.reconnect_max_seconds)
        self.scheduler = BackgroundScheduler()
        self._last_ping = 0.0
        self._last_report: PassReport | None = None
        self._last_pass_at = ""
        self._highest_uid: int | None = None
        # Whether the scheduler's job asks for IDLE reconciliations (True) or polls (False).
        self._scheduled_idle: bool | None = None
        self._metrics_server: Any = None
        self.owns_process = True
        # Under a fleet of several mailboxes, "mailbox NAME: " before the daemon's own lines.
        self.label = ""
        # The IMAP login state, as the state file has it (read by the fleet for systemd's STATUS).
        self.login_state = "connecting"
        # The wait before the next reconnect, when a failed attempt has already logged it.
        self._retry_in: float | None = None
        # Since when (monotonic) the mailbox has not been worked from here for a reason that may lie
        # on this machine's side: its server unreachable, the connection or a local file failing.
        # Cleared by work done (a pass ended, a batch moved), not by a login: a login that works
        # followed by a pass that fails (an unwritable attachments dir, a path that drops large
        # replies) reset it at every reconnect, and such a mailbox was never given back. A fleet
        # gives back the lease of a mailbox not worked for EMAILLOG_HAND_OVER_SECONDS (fleet.py).
        self.unworkable_since: float | None = None

    # -- start and stop ------------------------------------------------------------------------

    def start(self, *, install_signals: bool = True) -> None:
        """Connect and log in. Raises LoginRefused (exit 77) or MailboxError (75).

        The first pass runs in ``run()``, after READY=1: a large backlog must not hold up start-up
        (and TimeoutStartSec=) when the mailbox and the login are known to work.

        Under a fleet (several mailboxes, fleet.py) the daemon runs in a thread: the fleet owns the
        signals and the metrics endpoint, and stops the daemon through ``stopping``. A fleet may
        also go on after ``start()`` failed (``retry_later``): ``run()`` then begins by reconnecting.
        """
        self.owns_process = install_signals
        if install_signals:
            self._install_signals()
            if self.settings.ops.metrics_port:
                # Before the login: a port another program holds was a traceback (exit 1) after it,
                # and systemd restarted the daemon for ever. Left open if the login fails: the
                # process exits on it.
                self._metrics_server = serve(self.metrics, self.settings.ops.metrics_port)
        self.tokens = self._new_token_source()
        self._connect()

    def run(self) -> int:
        """The main loop, until a stop is asked for; returns the exit code (0)."""
        self._schedule()
        self.scheduler.start()
        self.notifier.ready()
        self._status()
        try:
            if self.mailbox is not None:
                self._guarded(lambda: self._passes({"pass:start"}))
            while not self.stopping:
                self._guarded(self._step)
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        log.info("stopping: logging out")
        self.notifier.stopping()
        self.scheduler.shutdown(wait=False)
        self._drop_connection(logout=True)
        # Under a fleet the endpoint outlives this daemon (a thread ended on an error is kept till restarted).
        self.metrics.connection(False)
        if self.owns_process:
            self.parser.close()
        self.state.update(login_state="stopped", login_detail=None)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        log.info("stopped")

    def _install_signals(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            # Nothing but a flag and a queue put here: a handler runs between two bytecodes of the
            # main thread, which may be holding any lock (logging's included).
            if signum in (signal.SIGTERM, signal.SIGINT):
                self.stopping = True
            words = {int(signal.SIGHUP): "reload", int(signal.SIGUSR1): "pass:signal"}
            self.requests.put(words.get(signum, "stop"))

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, on_signal)

    def _schedule(self) -> None:
        uses_idle = self._scheduled_idle = self._uses_idle()
        seconds = self.settings.ops.reconcile_seconds if uses_idle else self.settings.poll_seconds
        reason = "pass:reconcile" if uses_idle else "pass:poll"
        if self.scheduler.get_job("pass"):
            self.scheduler.remove_job("pass")
        self.scheduler.add_job(
            self.requests.put,
            "interval",
            args=[reason],
            seconds=seconds,
            id="pass",
            max_instances=1,
            coalesce=True,
        )
        what = "IDLE, with a reconciliation" if uses_idle else "polling"
        log.info("%s%s every %ds", self.label, what, seconds)

    # -- one turn of the loop --------------------------------------------------------------------

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run one piece of the loop; trouble with the mailbox or the database is retried, not fatal."""
        try:
            work()
        except CONNECTION_ERRORS as exc:
            self._lost(exc)
        except DATABASE_ERRORS as exc:
            self._database_trouble(exc)

    def _step(self) -> None:
        self.alive()
        if self.mailbox is None:
            self._reconnect()
            return
        reasons = self._wait_idle() if self._uses_idle() else self._wait_queue()
        reasons = self._handle_control(reasons)
        if reasons and not self.stopping:
            self._passes(reasons)

    def _wait_queue(self) -> set[str]:
        if self._token_expiring():
            return {"relogin"}
        try:
            first = self.requests.get(timeout=SLICE)
        except queue.Empty:
            return set()
        return {first} | self._drain()

    def _drain(self) -> set[str]:
        found = set()
        while True:
            try:
                found.add(self.requests.get_nowait())
            except queue.Empty:
                return found

    def _wait_idle(self) -> set[str]:
        """Wait in IDLE until mail arrives, a request comes, or IDLE is due to be renewed."""
        assert self.mailbox is not None
        mailbox = self.mailbox
        if self._mail_arrived_since_pass():
            return {"pass:arrived"}
        mailbox.idle_start()
        started = time.monotonic()
        reasons: set[str] = set()
        while not reasons and not self.stopping:
            self.alive()
            reasons = self._idle_slice(mailbox, started)
        # On a lost connection the slice raised and this is skipped: the connection is dropped.
        mailbox.idle_end()
        # Every exit from IDLE is followed by a full pass (the reconciliation the issue asks for).
        return reasons | {"pass:idle-exit"}

    def _idle_slice(self, mailbox: ImapMailbox, started: float) -> set[str]:
        before = time.monotonic()
        responses = mailbox.idle_wait(SLICE)
        if any(r and r[0] == b"BYE" for r in responses):
            raise ConnectionLost(f"{self.settings.imap.host if self.settings.imap else '?'} said BYE")
        reasons = self._drain()
        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
            reasons.add("pass:exists")
        if not responses and time.monotonic() - before < SLICE / 2:
            # poll() said readable but no line came: end of file, or half a line. Ending IDLE tells
            # which (DONE fails on a closed connection) and the pass that follows costs little.
            reasons.add("pass:wake")
        if time.monotonic() - started >= self.settings.ops.idle_renew_seconds:
            reasons.add("pass:idle-renew")
        if self._token_expiring():
            reasons.add("relogin")
        return reasons

    def _handle_control(self, reasons: set[str]) -> set[str]:
        if "reload" in reasons:
            self._reload()
        if "relogin" in reasons:
            log.info("access token about to expire: logging in again")
            self._drop_connection(logout=True)
            self._connect()
        passes = {r for r in reasons if r.startswith("pass:")}
        return passes | ({"pass:reload"} if "reload" in reasons else set())

    # -- passes ------------------------------------------------------------------------------------

    def _passes(self, reasons: set[str]) -> None:
        log.debug("pass for %s", ", ".join(sorted(reasons)))
        if not self._take_slot():
            return  # a stop came while waiting
        try:
            self._passes_in_slot()
        finally:
            if self.slots is not None:
                self.slots.give_back()

    def _take_slot(self) -> bool:
        """Under a fleet, wait for one of the process's pass slots; False when a stop comes first.

        The pass's batches and database sessions are held only in a slot: after an outage, every
        mailbox of a fleet has a backlog at once (EMAILLOG_MAX_PASSES_AT_ONCE, passslots.py)."""
        slots = self.slots
        if slots is None:
            return True
        if not slots.free():
            log.info(
                "%spass waits for a slot: %d passes running (EMAILLOG_MAX_PASSES_AT_ONCE=%d)",
                self.label,
                slots.running,
                slots.limit,
            )
        return slots.take(lambda: self.stopping, self._waiting())

    def _waiting(self) -> Callable[[], None]:
        """What a pass does while it waits for a slot: pings the watchdog, NOOPs now and then."""
        last_noop = time.monotonic()

        def waiting() -> None:
            nonlocal last_noop
            self.alive()
            if self.mailbox is not None and time.monotonic() - last_noop >= NOOP_SECONDS:
                last_noop = time.monotonic()
                self.mailbox.client.noop()

        return waiting

    def _passes_in_slot(self) -> None:
        try:
            self.one_pass()
            for _ in range(MAX_FOLLOW_UPS):
                if self.stopping or not self._mail_arrived_since_pass():
                    return
                self.one_pass()
        finally:
            self._release_database()

    def _release_database(self) -> None:
        """Under a fleet, give this thread's database connection back until its next pass.

        Kept through IDLE, every mailbox held a PostgreSQL session of its own: 150 mailboxes wanted
        152 sessions, the server's default max_connections is 100, and with every slot taken the
        mailboxes past it failed each pass ("too many clients already") and locked every other
        client (status, psql, the other workers) out of the database. Opening one per pass costs
        milliseconds; the one-mailbox daemon (SQLite) keeps its own.
        """
        if not self.owns_process:
            _close_quietly(self.store.db)

    def _mail_arrived_since_pass(self) -> bool:
        """Whether the intake folder holds a UID above the last pass's highest.

        Mail that arrives while a pass runs is announced (EXISTS) in the response to one of the pass's
        own commands, where nobody looks, and not again in the IDLE that follows: without this look it
        would wait for the next reconciliation. Anything announced after this SEARCH comes in IDLE.

        UNDELETED, as the pass lists the folder: a message flagged \\Deleted above the highest UID
        (a person's client in "mark as deleted" mode) is never passed, and counting it here as new
        mail ran pass after pass without end, never waiting in IDLE.
        """
        if self.mailbox is None or self._highest_uid is None:
            return False
        found = self.mailbox.client.search(["UID", f"{self._highest_uid + 1}:*", "UNDELETED"])
        return any(int(uid) > self._highest_uid for uid in found)

    def one_pass(self) -> PassReport:
        assert self.mailbox is not None
        mailbox = StoppableMailbox(self.mailbox, lambda: self.stopping, self.alive, self._worked)
        try:
            report = Pass(self.settings, mailbox, self.store, self.chain, parser=self.parser).run()
        except BaseException:
            self.metrics.pass_failed()
            raise
        log.info("%spass done: %s", self.label, report.summary())
        self._worked()
        self._highest_uid = mailbox.highest_uid
        self._last_report = report
        self._last_pass_at = time.strftime("%H:%M:%S")
        self.metrics.pass_done(report.outcomes, report.seconds)
        self.state.pass_done(report)
        self._status()
        return report

    # -- connection ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        assert self.settings.imap is not None
        self._set_login("connecting", None)
        try:
            self.mailbox = ImapMailbox(self.settings.imap, self.tokens)
        except LoginRefused as exc:
            self._set_login("refused", str(exc))
            raise
        except CONNECTION_ERRORS as exc:
            self._set_login("unreachable", str(exc))
            raise
        self._set_login("logged-in", None)
        self.metrics.connection(True)
        # IDLE waits on the selected folder: select the intake folder now (a pass does it again).
        try:
            # A name the server will never create would fail every pass, after READY=1, as a lost
            # connection: the same at start-up as a missing intake folder (78) instead.
            self.mailbox.ensure_folders([self.settings.processed_folder, self.settings.error_folder])
            self.mailbox.select(self.settings.intake_folder)
        except FolderReadOnly as exc:
            # Retrying cannot help (exit 78 at start-up).
            self._drop_connection(logout=False)
            read_only = IntakeReadOnly(
                f"the intake folder {self.settings.intake_folder} is read-only for "
                f"{self.settings.imap.user}: messages could never be moved out"
            )
            self._set_login("read-only", str(read_only))
            raise read_only from exc
        except FolderUnusable as exc:  # the intake folder missing, or a folder the server will not create
            self._drop_connection(logout=False)  # retrying cannot help either (78 at start-up)
            self._set_login("missing", str(exc))
            raise

    def retry_later(self) -> float:
        """After a failed ``start()``: the wait before ``run()`` tries to log in again."""
        self._retry_in = self.backoff.next_delay()
        return self._retry_in

    def _reconnect(self) -> None:
        # One line per attempt: the failed one said when the next comes.
        delay, self._retry_in = self._retry_in, None
        if delay is None:
            delay = self.backoff.next_delay()
            log.info("%sreconnecting in %.1fs", self.label, delay)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stopping:
            self.alive()
            try:
                word = self.requests.get(timeout=min(SLICE, max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                continue
            if word == "reload":
                self._reload()
            if word == "pass:signal":
                break  # SIGUSR1: try now
        if self.stopping:
            return
        try:
            self._connect()
        except CONNECTION_ERRORS as exc:
            self._retry_in = self.backoff.next_delay()
            log.warning("%sreconnect failed, next try in %.1fs: %s", self.label, self._retry_in, exc)
            return
        log.info("%sreconnected to %s", self.label, self.settings.imap.host if self.settings.imap else "?")
        if self._uses_idle() != self._scheduled_idle:
            # Scheduled before the first login worked (a fleet goes on past a failed one), the job
            # polled: once logged in, the mailbox passed every EMAILLOG_POLL_SECONDS beside IDLE.
            self._schedule()
        self.metrics.connection(True, reconnect=True)
        self._passes({"pass:reconnect"})
        # Only once a pass has worked: reset at the login, the backoff never grew when the database
        # failed every pass (a full max_connections), and each mailbox logged in again every second.
        self.backoff.reset()

    def _lost(self, exc: BaseException) -> None:
        if self.stopping:
            log.info("connection closed while stopping: %s", exc)
            self._drop_connection(logout=False)
            return
        # OSError covers sockets and local files alike (an unwritable attachments directory): say which
        # it looks like; either way the connection is dropped and rebuilt after a backoff, to start clean.
        what = "pass failed on a local file" if on_a_local_file(exc) else "mailbox connection lost"
        log.warning("%s%s: %s; reconnecting", self.label, what, one_line(exc))
        self._set_login("disconnected", str(exc) or type(exc).__name__)
        self.metrics.connection(False)
        self._drop_connection(logout=False)

    def _database_trouble(self, exc: BaseException) -> None:
        log.warning("%sdatabase trouble, will retry: %s", self.label, one_line(exc))
        self.metrics.pass_failed()
        self.state.update(last_error=f"database: {one_line(exc)}")
        # The connection may be mid-IDLE or mid-command; start clean on both sides after a pause.
        self._drop_connection(logout=True)
        _close_quietly(self.store.db)

    def _drop_connection(self, *, logout: bool) -> None:
        mailbox, self.mailbox = self.mailbox, None
        if mailbox is None:
            return
        try:
            if logout:
                mailbox.close()
            else:
                mailbox.client.shutdown()
        except (MailboxError, IMAPClientError, imaplib.IMAP4.error, OSError, EOFError, ValueError):
            pass

    def _uses_idle(self) -> bool:
        return self.settings.ops.idle and self.mailbox is not None and self.mailbox.has("IDLE")

    def _new_token_source(self) -> TokenSource | None:
        assert self.settings.imap is not None
        try:
            return token_source(self.settings.imap)
        except Exception as exc:
            raise MailboxError(str(exc)) from exc

    def _token_expiring(self) -> bool:
        expires = self.tokens.expires_at if self.tokens is not None else None
        return expires is not None and expires - time.time() < 120

    # -- reload ------------------------------------------------------------------------------------

    def _reload(self) -> None:
        reload(self.notifier, self.reload_settings, lambda new: _reloadable(self.settings, new), self._apply)
        self._status()

    def _apply(self, settings: Settings, chain: tuple[Link, ...]) -> None:
        old = self.settings
        changed = [
            f.name for f in dataclasses.fields(Settings) if getattr(old, f.name) != getattr(settings, f.name)
        ]
        self.settings, self.chain = settings, chain
        if old.database_url != settings.database_url or old.account != settings.account:
            left, self.store = self.store.db, open_store(settings)
            # Closed here, not whenever Python's cycle collector gets to it: until then the database
            # left kept its connection (an SQLite file's descriptors), one more at every such reload.
            # This thread's is the one open: a pass's recording thread closes its own.
            _close_quietly(left)
        if old.imap != settings.imap or old.intake_folder != settings.intake_folder:
            self.tokens = self._new_token_source()
            self._drop_connection(logout=True)
            self.backoff.reset()
        ops = settings.ops
        self.backoff.low, self.backoff.high = ops.reconnect_min_seconds, ops.reconnect_max_seconds
        self.state = StateFile.for_settings(settings)
        self._schedule()
        log.info("settings reloaded; changed: %s", ", ".join(changed) or "nothing")

    # -- systemd and status --------------------------------------------------------------------------

    def alive(self) -> None:
        """Ping the watchdog (at most once a second): called only from the main thread's work."""
        now = time.monotonic()
        if now - self._last_ping >= 1.0:
            self._last_ping = now
            self.notifier.watchdog()

    def _worked(self) -> None:
        self.unworkable_since = None

    def _set_login(self, state: str, detail: str | None) -> None:
        self.login_state = state
        if state in UNWORKABLE_HERE:
            if self.unworkable_since is None:
                self.unworkable_since = time.monotonic()
        elif state not in ("connecting", "logged-in"):
            self.unworkable_since = None  # refused, missing, read-only: the same from anywhere
        self.state.update(login_state=state, login_detail=detail)
        if state != "logged-in" and state != "connecting":
            self.notifier.status(f"IMAP {state}: {detail}")

    def _status(self) -> None:
        report = self._last_report
        mode = "IDLE" if self._uses_idle() else f"polling every {self.settings.poll_seconds}s"
        last = f"last pass {self._last_pass_at}: {report.summary()}" if report else "no pass yet"
        self.notifier.status(f"{mode}; {last}")


# Login states a process on another machine might not be in. A refused login, a missing or read-only
# folder would be the same from anywhere.
UNWORKABLE_HERE = frozenset({"unreachable", "disconnected"})


def _reloadable(running: Settings, settings: Settings) -> None:
    keeps_what_start_up_set(running, settings)
    if settings.imap is None:
        raise SettingsError(["EMAILLOG_IMAP_HOST: cannot switch to the demo mailbox while running"])
    if settings.database_url.startswith(POSTGRESQL_URLS):
        # One mailbox on SQLite is leased with a lock file; on PostgreSQL, each process leases it with
        # a PostgreSQL lock (fleet.py). Moved there on SIGHUP, the daemon held no lock that a
        # process started on PostgreSQL would meet.
        raise SettingsError(
            ["EMAILLOG_DATABASE_URL: a running daemon on SQLite cannot move to PostgreSQL: restart it"]
        )


def _close_quietly(db: Any) -> None:
    """Close this thread's connection to ``db``; one the server already dropped needs no closing."""
    with contextlib.suppress(*DATABASE_ERRORS):
        db.close()
