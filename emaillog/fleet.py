"""Several mailboxes, several processes (SPEC §14): a mailbox is worked only under its lease.

The main thread owns the process: signals, systemd notifications and the leases. Every few seconds
it tries to take the lease of each mailbox nobody works; for each lease it holds, a thread runs
the one-mailbox daemon (``watch.Daemon``: IDLE, passes, reconnects). When a process dies its leases
are freed by the database or the kernel, and another process's next round takes them over.

Start-up is as strict as the one-mailbox daemon's (SPEC §13): READY=1 is sent only once a mailbox
is logged in (or every free one failed while another process works one), mailboxes being tried in
turn until one works. When every mailbox fails, the process exits: 77 when every login was refused,
78 when none failed for a temporary reason but a folder is unusable, 75 otherwise. A mailbox that fails
while another works is retried with backoff on its own: one log line a try, its state file and
systemd's STATUS= show it, and the others run on.

SIGHUP reads the settings again (``systemctl reload``): a mailbox whose settings changed is
restarted on them (under the lease it holds), one no longer listed is stopped and its lease given
back, a new one is claimed like any other; mailboxes that did not change keep running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from types import FrameType

from peewee import Database, InterfaceError, OperationalError

from .lease import Leases, leases_for
from .metrics import FleetMetrics, MetricsUnavailable, serve
from .parallel import ParallelParser
from .passslots import PassSlots
from .reconnect import CONNECTION_ERRORS, EXIT_CONFIG, EXIT_LOGIN, EXIT_TEMPFAIL, one_line, start_up_failure
from .reloading import keeps_what_start_up_set, reload
from .rules import Link
from .sdnotify import Notifier
from .settings import Settings, SettingsError
from .store import store_for
from .store.ledger import LedgerKey
from .watch import Daemon

log = logging.getLogger("emaillog.fleet")

CLAIM_SECONDS = 2.0  # how often free mailboxes are claimed: a dead worker's are taken within seconds
BALANCE_ROUNDS = 3  # rounds over its fair share before a process gives mailboxes back
RESTART_SECONDS = 30.0  # a mailbox whose daemon stopped on an unexpected error is started again after this
# A start-up try of a mailbox waits at most this many IMAP timeouts: connecting (TLS included),
# logging in, CAPABILITY and NAMESPACE, LIST/CREATE of the folders, SELECT. A host with several
# black-holed addresses can take longer; that try then just ends the extension early.
START_TRY_COMMANDS = 6
STOP_SECONDS = 60.0  # for all the mailbox threads together to finish their batch and log out
# Login states that mean a mailbox held here is not being worked (shown in systemd's STATUS=).
_TROUBLE = frozenset({"refused", "unreachable", "disconnected", "read-only"})


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
    reload_settings: Callable[[], Settings] | None = None
    leases: Leases = field(init=False)
    parser: ParallelParser = field(default_factory=ParallelParser)  # shared by the mailbox threads
    slots: PassSlots = field(init=False)  # the passes the mailbox threads may run at once
    workers: dict[str, _Worker] = field(default_factory=dict)
    # Per mailbox, the attempts a cut-short pass still owes (Store.owed_attempts): kept here, as a
    # mailbox's daemon and store are made anew when it restarts (the lease session lost, SIGHUP).
    owed_attempts: dict[str, list[list[LedgerKey]]] = field(default_factory=dict)
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

    def __post_init__(self) -> None:
        self.leases = leases_for(self.settings.database_url, self.settings.data_dir)
        self.slots = PassSlots(self.settings.ops.max_passes_at_once)

    def run(self) -> int:
        self._install_signals()
        try:
            if self.settings.ops.metrics_port:  # before any login, as the one-mailbox daemon
                self._metrics_server = serve(self.metrics, self.settings.ops.metrics_port)
        except MetricsUnavailable as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        try:
            code = self._start_up()
        except BaseException:
            self._abandon()
            raise
        if code is not None:
            self._abandon()
            return code
        self.notifier.ready()
        try:
            while self._serve():
                try:
                    self._round()
                except (OperationalError, InterfaceError) as exc:
                    # The database is down: the mailbox threads wait it out on their own; claims
                    # resume once it answers again, on a new connection (peewee keeps using a
                    # connection the server dropped, and would fail on it forever).
                    self._database_trouble(exc)
                else:
                    if self._db_trouble:
                        log.info("the database answers again: claiming mailboxes")
                    self._db_trouble = False
        finally:
            self._shutdown()
        return 0

    def _database_trouble(self, exc: BaseException) -> None:
        if not self._db_trouble:
            log.warning("claiming mailboxes failed, will retry every %.0fs: %s", CLAIM_SECONDS, one_line(exc))
        self._db_trouble = True
        with contextlib.suppress(OperationalError, InterfaceError):
            self.db.close()

    def _start_up(self) -> int | None:
        """Claim and log in to mailboxes in turn until one works; None to go on (READY=1), or the
        exit code when every mailbox failed. A mailbox another process works is not a failure.

        Each failure is logged once, when it is known whether the process goes on (a warning, and
        the mailbox is retried with backoff) or exits (an error)."""
        failed: list[tuple[Daemon, int, str]] = []
        going_on = False
        for mailbox in self.settings.all_mailboxes():
            name = mailbox.mailbox_name
            if not self.leases.acquire(mailbox.account, name):
                if not self.leases.alive():
                    log.error("database unavailable: the lease of mailbox %s cannot be taken", name)
                    return EXIT_TEMPFAIL
                log.info("mailbox %s is worked by another process", name)
                going_on = True
                continue
            daemon = self._daemon_for(mailbox)
            if mailbox.imap is not None:
                # Mailboxes are tried in turn: a few unreachable ones in front could outlast the
                # unit's TimeoutStartSec= on their own, and systemd would kill the fleet before
                # READY=1 on every start. A try is connect, login, SELECT and a few more commands.
                self.notifier.extend_start(START_TRY_COMMANDS * mailbox.imap.timeout)
            try:
                daemon.start(install_signals=False)
            except CONNECTION_ERRORS as exc:
                failed.append((daemon, *start_up_failure(exc)))
                continue
            self._begin(daemon, started=True)
            going_on = True
            break
        if not going_on:
            for daemon, _, line in failed:
                log.error("%s%s", daemon.label, line)
            code = _worst(code for _, code, _ in failed)
            if len(failed) > 1:
                log.error("no mailbox could be started: exiting (%d)", code)
            return code
        for daemon, _, line in failed:
            log.warning("%sstart-up failed, next try in %.1fs: %s", daemon.label, daemon.retry_later(), line)
            self._begin(daemon, started=True)
        return None

    def _abandon(self) -> None:
        """Start-up failed: give back what was taken, without READY=1 or STOPPING=1."""
        self._stop_workers()
        self.parser.close()
        self.leases.release_all()
        self._stop_metrics()

    def _serve(self) -> bool:
        """Wait for the next round, answering signals meanwhile; False once asked to stop."""
        deadline = time.monotonic() + CLAIM_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            try:
                request = self.requests.get(timeout=left)
            except queue.Empty:
                break
            if request == "stop":
                return False
            if request == "reload":
                self._reload()
            else:
                for worker in self.workers.values():
                    worker.daemon.requests.put("pass:signal")
        return True

    def _round(self) -> None:
        if not self.leases.alive() and self.workers:
            log.error("the lease session was lost: stopping every mailbox until the leases are taken again")
            self._stop_workers()
        self._hand_over_unworkable()
        workers = self.leases.workers(self._fleet_name())
        share = self._fair_share(workers)
        self._give_back_over(share, workers)
        room = 1 if share is None else share + 1 - self._held()
        for mailbox in self.settings.all_mailboxes():
            if room <= 0:
                break
            if self._claim(mailbox):
                room -= 1
        held = sorted(n for n, w in self.workers.items() if w.thread.is_alive())
        trouble = [
            f"{n}: IMAP {state}" for n in held if (state := self.workers[n].daemon.login_state) in _TROUBLE
        ]
        self.notifier.watchdog()
        self.notifier.status(
            f"working {len(held)} of {len(self.settings.all_mailboxes())} mailboxes: "
            + (", ".join(held) or "none")
            + (f" ({'; '.join(trouble)})" if trouble else "")
        )

    def _fleet_name(self) -> str:
        """What names the processes that share this one's mailboxes out: the mailboxes themselves."""
        return json.dumps(sorted([m.account, m.mailbox_name] for m in self.settings.all_mailboxes()))

    def _fair_share(self, workers: int | None) -> int | None:
        """The mailboxes each process should work: all of them divided among the processes that
        work the same mailboxes, ``workers`` (AdvisoryLeases.workers; None where they cannot be
        counted: SQLite's lock files, or the database not answering; one is then claimed a round,
        and nothing given back).

        A process claims free mailboxes up to one more than its share in a round, and gives back
        what it holds beyond that. Claimed one a round whatever the share, a lone process took 5
        minutes to start 150 mailboxes, two took ~35 s over a dead one's 50, and a process started
        (or restarted) after the others had them all got none, or a third of its own back.
        """
        if not workers:
            return None
        return -(-len(self.settings.all_mailboxes()) // workers)

    def _held(self) -> int:
        return len(self.workers.keys() - self.handing_over.keys())

    def _give_back_over(self, share: int | None, workers: int | None) -> None:
        """Give back what is held beyond one more than ``share``, once that has lasted BALANCE_ROUNDS
        rounds (a process counted for a moment, as an admin command's lease check, moves nothing).
        Handed over as an unreachable mailbox is (stopped, then released), but not left to rest:
        the share keeps this process from claiming it again."""
        over = 0 if share is None else self._held() - (share + 1)
        self._over_rounds = self._over_rounds + 1 if over > 0 else 0
        if self._over_rounds < BALANCE_ROUNDS:
            return
        self._over_rounds = 0
        names = sorted(self.workers.keys() - self.handing_over.keys(), reverse=True)[:over]
        log.info(
            "working %d mailboxes, %d more than a fair share among %d processes: giving back %s",
            self._held(),
            over,
            workers or 0,
            ", ".join(names),
        )
        for name in names:
            worker = self.workers[name]
            self.handing_over[name] = 0.0
            worker.daemon.stopping = True
            worker.daemon.requests.put("stop")

    def _hand_over_unworkable(self) -> None:
        """Give back the lease of a mailbox this process has not reached for ``hand_over_seconds``.

        Held, it could be worked by nobody else: a process on another machine may well reach a
        server this one cannot (a firewall, a route, a full disk here). The mailbox's thread is
        asked to stop; once it has ended the lease is given back, and this process leaves the
        mailbox alone for as long again. With no other process, it takes the mailbox back then.
        """
        wait = self.settings.ops.hand_over_seconds
        now = time.monotonic()
        for name, worker in list(self.workers.items()):
            if name in self.handing_over:
                if not worker.thread.is_alive():
                    del self.workers[name]
                    self._publish()
                    rest = self.handing_over.pop(name)
                    self.leases.release(worker.daemon.settings.account, name)
                    if rest:
                        self.resting_until[name] = now + rest
                        log.info("mailbox %s given back; not claimed here again for %ds", name, rest)
                    else:
                        log.info("mailbox %s given back", name)
                continue
            since = worker.daemon.unworkable_since
            # Not while logged in: a pass may be under way (a long backlog after an outage).
            logged_in = worker.daemon.login_state == "logged-in"
            if since is not None and now - since >= wait and not logged_in and worker.thread.is_alive():
                log.warning(
                    "mailbox %s not worked from here for %.0fs (IMAP %s): giving its lease back "
                    "so that another process may work it",
                    name,
                    now - since,
                    worker.daemon.login_state,
                )
                self.handing_over[name] = wait
                worker.daemon.stopping = True
                worker.daemon.requests.put("stop")

    def _claim(self, mailbox: Settings) -> bool:
        """Start working ``mailbox`` if its lease is free; True when a new worker started."""
        name = mailbox.mailbox_name
        if self.resting_until.get(name, 0.0) > time.monotonic():
            return False
        self.resting_until.pop(name, None)
        worker = self.workers.get(name)
        if worker is not None and worker.thread.is_alive():
            return False
        if worker is not None:
            worker.ended_at = worker.ended_at or time.monotonic()
            if time.monotonic() - worker.ended_at < RESTART_SECONDS:
                return False
        if not self.leases.acquire(mailbox.account, name):
            return False
        self._begin(self._daemon_for(mailbox), started=False)
        return True

    def _daemon_for(self, mailbox: Settings) -> Daemon:
        owed = self.owed_attempts.setdefault(mailbox.mailbox_name, [])
        store = replace(store_for(self.db, mailbox), owed_attempts=owed)
        daemon = Daemon(mailbox, store, self.chain, Notifier(None), parser=self.parser, slots=self.slots)
        if self.settings.mailboxes:
            daemon.label = f"mailbox {mailbox.mailbox_name}: "
        return daemon

    def _begin(self, daemon: Daemon, *, started: bool) -> None:
        """Run ``daemon`` on a thread of its own; ``started``: its ``start()`` was already tried."""
        name = daemon.settings.mailbox_name
        thread = threading.Thread(target=_work, args=(daemon, started), name=f"mailbox-{name}", daemon=True)
        self.workers[name] = _Worker(daemon, thread)
        self._publish()
        thread.start()
        log.info("working mailbox %s", name)

    def _install_signals(self) -> None:
        words = {int(signal.SIGHUP): "reload", int(signal.SIGUSR1): "pass"}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.requests.put(words.get(signum, "stop"))

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, on_signal)

    # -- reload ------------------------------------------------------------------------------------

    def _reload(self) -> None:
        reload(self.notifier, self.reload_settings, self._reloadable, self._apply)

    def _reloadable(self, settings: Settings) -> None:
        keeps_what_start_up_set(self.settings, settings)
        if settings.database_url != self.settings.database_url:
            raise SettingsError(["EMAILLOG_DATABASE_URL: a running fleet keeps its database; restart it"])
        if settings.imap is None and not settings.mailboxes:
            raise SettingsError(["no mailbox is configured: a running fleet cannot switch to the demo"])

    def _apply(self, settings: Settings, chain: tuple[Link, ...]) -> None:
        """Restart the mailboxes whose settings changed, stop those gone; new ones are claimed later."""
        before = {m.mailbox_name: m for m in self.settings.all_mailboxes()}
        after = {m.mailbox_name: m for m in settings.all_mailboxes()}
        every = chain != self.chain  # the rules apply to every mailbox
        changed = [n for n in self.workers if n in after and (every or after[n] != before.get(n))]
        gone = [n for n in self.workers if n not in after]
        self._stop_workers(changed + gone)
        # A mailbox moved to another account is leased under that one now: the old lease goes too.
        for name in gone + [n for n in changed if after[n].account != before[n].account]:
            self.leases.release(before[name].account, name)
        # A mailbox given back for not being reached may be reachable on its new settings (a host
        # corrected): it is claimed again at once, not after the rest.
        for name in [n for n in self.resting_until if n in after and (every or after[n] != before.get(n))]:
            del self.resting_until[name]
        self.settings, self.chain = settings, chain
        self.slots.resize(settings.ops.max_passes_at_once)
        self._publish()  # the mailboxes configured
        for name in changed:
            try:
                self._claim(after[name])  # the lease is still ours: started again at once
            except (OperationalError, InterfaceError) as exc:
                # The database away (its sessions cut, the lease's not yet): the claiming rounds
                # start the mailbox once it answers, as after any outage. Raised here, it ended
                # the process (exit 75) in the middle of a reload.
                self._database_trouble(exc)
        log.info(
            "settings reloaded; restarted: %s; stopped: %s; new: %s",
            ", ".join(changed) or "none",
            ", ".join(gone) or "none",
            ", ".join(sorted(set(after) - set(before))) or "none",
        )

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

    def _shutdown(self) -> None:
        log.info("stopping %d mailbox(es)", len(self.workers))
        self.notifier.stopping()
        self._stop_workers()
        self.parser.close()
        self.leases.release_all()
        self._stop_metrics()

    def _stop_metrics(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None


def _work(daemon: Daemon, started: bool) -> None:
    """One mailbox's daemon in its own thread. A refused login, an unreachable server or an unusable
    folder is retried with backoff, in one log line a try; only an unexpected error ends the thread
    (with its traceback), and the fleet starts the mailbox again after RESTART_SECONDS."""
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
    except Exception:
        log.exception(
            "mailbox %s stopped on an unexpected error; it will be started again in %ds",
            daemon.settings.mailbox_name,
            RESTART_SECONDS,
        )


def _worst(codes: Iterable[int]) -> int:
    """The exit code when every mailbox failed at start-up: 77 only when every login was refused;
    75 when any failure may pass by itself (systemd restarts on it); otherwise 78."""
    found = set(codes)
    if found == {EXIT_LOGIN}:
        return EXIT_LOGIN
    return EXIT_TEMPFAIL if EXIT_TEMPFAIL in found else EXIT_CONFIG
