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

The parts of the daemon: ``watchconn.DaemonConnection`` holds its state and the IMAP connection,
``watchpasses.DaemonPasses`` runs the passes; this module is the loop around them (start, stop,
signals, the scheduler, IDLE, reconnects and reload).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import signal
import time
from collections.abc import Callable
from types import FrameType

from .databaseurl import POSTGRESQL_URLS
from .imapmailbox import ImapMailbox
from .metrics import serve
from .reconnect import CONNECTION_ERRORS, DATABASE_ERRORS, ConnectionLost
from .reloading import keeps_what_start_up_set, reload
from .rules import Link
from .settings import Settings, SettingsError
from .status import StateFile
from .store import open_store
from .watchconn import _close_quietly
from .watchpasses import DaemonPasses

log = logging.getLogger("emaillog")

# Longest wait between two looks at the queue (signals, scheduler) and two watchdog pings.
SLICE = 0.5


class Daemon(DaemonPasses):
    """The long-running daemon for one mailbox."""

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

    # -- reconnect -----------------------------------------------------------------------------------

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
        # What was asked for meanwhile is answered by this pass: a poll the old schedule queued
        # while the login went on made IDLE end at once for a second, needless pass.
        reasons = self._handle_control({"pass:reconnect"} | self._drain())
        if not self.stopping:
            self._passes(reasons)
        # Only once a pass has worked: reset at the login, the backoff never grew when the database
        # failed every pass (a full max_connections), and each mailbox logged in again every second.
        self.backoff.reset()

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
