"""The one-mailbox daemon's state, its IMAP connection and the login state it reports (watch.py).

``DaemonConnection`` holds what the daemon (``watch.Daemon``) keeps between passes, and owns the
connection: logging in and selecting the intake folder, dropping the connection when it is lost or
the database fails, the OAuth token, and the login state shown in the state file and in systemd's
STATUS= (with the clock a fleet hands an unreachable mailbox over by). Reconnecting, which waits
and then runs a pass, belongs to the loop (watch.py).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from imapclient.exceptions import IMAPClientError

from .imapmailbox import ImapMailbox
from .mailbox import FolderReadOnly, FolderUnusable, LoginRefused, MailboxError
from .metrics import Metrics
from .oauth import TokenSource, token_source
from .parallel import MessageParser, ParallelParser
from .passslots import PassSlots
from .poll import PassReport
from .reconnect import (
    CONNECTION_ERRORS,
    DATABASE_ERRORS,
    Backoff,
    IntakeReadOnly,
    on_a_local_file,
    one_line,
)
from .rules import Link
from .sdnotify import Notifier
from .settings import Settings
from .status import StateFile
from .store import Store

log = logging.getLogger("emaillog")


class DaemonConnection:
    """The daemon's state and its IMAP connection (the loop around them: ``watch.Daemon``)."""

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
        # gives back the lease of a mailbox not worked for EMAILLOG_HAND_OVER_SECONDS (fleetclaims.py).
        self.unworkable_since: float | None = None

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


def _close_quietly(db: Any) -> None:
    """Close this thread's connection to ``db``; one the server already dropped needs no closing."""
    with contextlib.suppress(*DATABASE_ERRORS):
        db.close()
