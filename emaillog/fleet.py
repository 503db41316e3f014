"""Several mailboxes, several processes (SPEC §14): a mailbox is worked only under its lease.

The main thread owns the process: signals, systemd notifications and the leases. Every few seconds
it tries to take the lease of each mailbox nobody works; for each lease it holds, a thread runs
the one-mailbox daemon (``watch.Daemon``: IDLE, passes, reconnects). When a process dies its leases
are freed by the database or the kernel, and another process's next round takes them over.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from peewee import Database, InterfaceError, OperationalError

from .lease import Leases, leases_for
from .parallel import ParallelParser
from .rules import Link
from .sdnotify import Notifier
from .settings import Settings
from .store import store_for
from .watch import Daemon

log = logging.getLogger("emaillog.fleet")

CLAIM_SECONDS = 2.0  # how often free mailboxes are claimed: a dead worker's are taken within seconds
RESTART_SECONDS = 30.0  # a mailbox whose daemon stopped on an error is started again after this


@dataclass
class _Worker:
    daemon: Daemon
    thread: threading.Thread
    ended_at: float | None = None


@dataclass
class Fleet:
    settings: Settings
    chain: tuple[Link, ...]
    db: Database
    notifier: Notifier
    leases: Leases = field(init=False)
    parser: ParallelParser = field(default_factory=ParallelParser)  # shared by the mailbox threads
    workers: dict[str, _Worker] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.leases = leases_for(self.settings.database_url, self.settings.data_dir)

    def run(self) -> int:
        self._install_signals()
        self.notifier.ready()
        try:
            while not self.stop.is_set():
                try:
                    self._round()
                except (OperationalError, InterfaceError) as exc:
                    # The database is down: the mailbox threads wait it out on their own; claims
                    # resume once it answers again.
                    log.warning("claiming mailboxes failed, will retry: %s", exc)
                self.stop.wait(CLAIM_SECONDS)
        finally:
            self._shutdown()
        return 0

    def _round(self) -> None:
        if not self.leases.alive() and self.workers:
            log.error("the lease session was lost: stopping every mailbox until the leases are taken again")
            self._stop_workers()
        # One new mailbox per round: workers started together share the mailboxes out between
        # them instead of the first one taking all (a lone worker has them all within seconds).
        for mailbox in self.settings.all_mailboxes():
            if self._claim(mailbox):
                break
        held = sorted(n for n, w in self.workers.items() if w.thread.is_alive())
        self.notifier.watchdog()
        self.notifier.status(
            f"working {len(held)} of {len(self.settings.all_mailboxes())} mailboxes: "
            + (", ".join(held) or "none")
        )

    def _claim(self, mailbox: Settings) -> bool:
        """Start working ``mailbox`` if its lease is free; True when a new worker started."""
        name = mailbox.mailbox_name
        worker = self.workers.get(name)
        if worker is not None and worker.thread.is_alive():
            return False
        if worker is not None:
            worker.ended_at = worker.ended_at or time.monotonic()
            if time.monotonic() - worker.ended_at < RESTART_SECONDS:
                return False
        if not self.leases.acquire(name):
            return False
        daemon = Daemon(mailbox, store_for(self.db, mailbox), self.chain, Notifier(None), parser=self.parser)
        thread = threading.Thread(target=_work, args=(daemon,), name=f"mailbox-{name}", daemon=True)
        self.workers[name] = _Worker(daemon, thread)
        thread.start()
        log.info("working mailbox %s", name)
        return True

    def _install_signals(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            if signum == signal.SIGUSR1:
                for worker in self.workers.values():
                    worker.daemon.requests.put("pass:signal")
                return
            self.stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(signum, on_signal)

    def _stop_workers(self) -> None:
        for worker in self.workers.values():
            worker.daemon.stopping = True
            worker.daemon.requests.put("stop")
        for worker in self.workers.values():
            # Each finishes the batch in hand (commit, then move) and logs out.
            worker.thread.join(timeout=60)
        self.workers.clear()

    def _shutdown(self) -> None:
        log.info("stopping %d mailbox(es)", len(self.workers))
        self.notifier.stopping()
        self._stop_workers()
        self.parser.close()
        self.leases.release_all()


def _work(daemon: Daemon) -> None:
    """One mailbox's daemon in its own thread; an error ends the thread, the fleet restarts it."""
    try:
        daemon.start(install_signals=False)
        daemon.run()
    except Exception:
        log.exception(
            "mailbox %s stopped on an error; it will be started again", daemon.settings.mailbox_name
        )
