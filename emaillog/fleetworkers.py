"""A fleet's state and its mailbox threads (fleet.py).

Each mailbox a fleet holds is worked by the one-mailbox daemon (``watch.Daemon``) on a thread of its
own. This module owns the fleet's fields and those threads: a daemon made for a mailbox, its thread
started, stopped within one shared deadline, restarted after an unexpected error, and the mailboxes
held shown in the metrics.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer

from peewee import Database

from .lease import Leases, leases_for
from .metrics import FleetMetrics
from .parallel import ParallelParser
from .passslots import PassSlots
from .reconnect import CONNECTION_ERRORS, start_up_failure
from .rules import Link
from .sdnotify import Notifier
from .settings import Settings
from .store import store_for
from .store.owed import OwedAttempts
from .store.schema import SchemaTooNew
from .watch import Daemon

log = logging.getLogger("emaillog.fleet")

RESTART_SECONDS = 30.0  # a mailbox whose daemon stopped on an unexpected error is started again after this
STOP_SECONDS = 60.0  # for all the mailbox threads together to finish their batch and log out


@dataclass
class _Worker:
    daemon: Daemon
    thread: threading.Thread
    ended_at: float | None = None


@dataclass
class FleetWorkers:
    """What a fleet holds, and its mailbox threads (the claiming rounds: fleetclaims.FleetClaims)."""

    settings: Settings
    chain: tuple[Link, ...]
    db: Database
    notifier: Notifier
    reload_settings: Callable[[], Settings] | None = None
    leases: Leases = field(init=False)
    parser: ParallelParser = field(default_factory=ParallelParser)  # shared by the mailbox threads
    slots: PassSlots = field(init=False)  # the passes the mailbox threads may run at once
    workers: dict[str, _Worker] = field(default_factory=dict)
    # Per mailbox, the attempts a cut-short pass still owes (Store.owed_attempts): kept here, as a
    # mailbox's daemon and store are made anew when it restarts (the lease session lost, SIGHUP).
    owed_attempts: dict[str, OwedAttempts] = field(default_factory=dict)
    # Mailboxes being stopped, to be given back and then left alone for the seconds noted: not worked
    # from here for hand_over_seconds (so that a process that can reach them takes them), or held
    # beyond a fair share (0: the share keeps this process from claiming them again).
    handing_over: dict[str, float] = field(default_factory=dict)
    resting_until: dict[str, float] = field(default_factory=dict)
    # Put by the signal handlers ("stop", "reload", "pass"): SimpleQueue.put is safe in a handler.
    requests: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)
    _db_trouble: bool = False  # the last round failed on the database (logged once until it answers)
    _over_rounds: int = 0  # rounds in a row this process held more than its fair share
    # One endpoint for the process (EMAILLOG_METRICS_PORT), every mailbox held here a labelled series.
    metrics: FleetMetrics = field(default_factory=FleetMetrics)
    _metrics_server: ThreadingHTTPServer | None = None
    # What a mailbox thread found: a newer emaillog upgraded the schema. The process stops on it,
    # as start-up does (fleet.Fleet._serve); restarted, each mailbox would only find it again.
    refused: SchemaTooNew | None = None

    def __post_init__(self) -> None:
        self.leases = leases_for(self.settings.database_url, self.settings.data_dir)
        self.slots = PassSlots(self.settings.ops.max_passes_at_once)

    def _daemon_for(self, mailbox: Settings) -> Daemon:
        store = store_for(self.db, mailbox)
        owed = self.owed_attempts.setdefault(mailbox.mailbox_name, store.owed_attempts)
        store = replace(store, owed_attempts=owed)
        daemon = Daemon(mailbox, store, self.chain, Notifier(None), parser=self.parser, slots=self.slots)
        if self.settings.mailboxes:
            daemon.label = f"mailbox {mailbox.mailbox_name}: "
        return daemon

    def _begin(self, daemon: Daemon, *, started: bool) -> None:
        """Run ``daemon`` on a thread of its own; ``started``: its ``start()`` was already tried."""
        name = daemon.settings.mailbox_name
        thread = threading.Thread(
            target=_work, args=(daemon, started, self._refuse), name=f"mailbox-{name}", daemon=True
        )
        self.workers[name] = _Worker(daemon, thread)
        self._publish()
        thread.start()
        log.info("working mailbox %s", name)

    def _refuse(self, refusal: SchemaTooNew) -> None:
        """Called by a mailbox thread: the main thread stops the process on ``refusal``."""
        self.refused = refusal
        self.requests.put("refused")

    def _stop_workers(self, names: list[str] | None = None) -> None:
        """Stop the named mailbox threads (all by default); each finishes the batch in hand."""
        stopping = {n: w for n, w in self.workers.items() if names is None or n in names}
        for worker in stopping.values():
            worker.daemon.stopping = True
            worker.daemon.requests.put("stop")
        # Each finishes the batch in hand (commit, then move) and logs out, all within one minute:
        # a minute each, two stuck threads (a database that hangs) outlasted TimeoutStopSec=90s.
        deadline = time.monotonic() + STOP_SECONDS
        for name, worker in stopping.items():
            worker.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                # Kept, so that no second thread is started on the mailbox while this one may still
                # finish its batch: _claim starts one only once this thread has ended.
                log.warning("mailbox %s did not stop within %.0fs", name, STOP_SECONDS)
                continue
            del self.workers[name]
            self.handing_over.pop(name, None)  # stopped for good or restarted: the lease is kept
        self._publish()

    def _publish(self) -> None:
        """Show the mailboxes held now in the metrics: each from its daemon of the moment (a new one
        on a restart), and one stopped or given back no longer."""
        held = {name: (w.daemon.settings.account, w.daemon.metrics) for name, w in self.workers.items()}
        self.metrics.publish(held, len(self.settings.all_mailboxes()))


def _work(daemon: Daemon, started: bool, refuse: Callable[[SchemaTooNew], None]) -> None:
    """One mailbox's daemon in its own thread. A refused login, an unreachable server or an unusable
    folder is retried with backoff, in one log line a try; only an unexpected error ends the thread
    (with its traceback), and the fleet starts the mailbox again after RESTART_SECONDS. A schema
    upgraded by a newer emaillog ends it too, and the fleet with it (``refuse``)."""
    try:
        if not started:
            try:
                daemon.start(install_signals=False)
            except CONNECTION_ERRORS as exc:
                _, line = start_up_failure(exc)
                log.warning(
                    "%sstart-up failed, next try in %.1fs: %s", daemon.label, daemon.retry_later(), line
                )
        daemon.run()
    except SchemaTooNew as exc:
        log.info("%sstopped: a newer emaillog has the database's schema", daemon.label)
        refuse(exc)
    except Exception:
        log.exception(
            "mailbox %s stopped on an unexpected error; it will be started again in %ds",
            daemon.settings.mailbox_name,
            RESTART_SECONDS,
        )
