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

This module runs the process: start-up, signals, reload and shutdown. The fleet's state and its
mailbox threads are ``fleetworkers.FleetWorkers``; the rounds that claim mailboxes and give them
back are ``fleetclaims.FleetClaims``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import time
from collections.abc import Iterable
from types import FrameType

from peewee import InterfaceError, OperationalError

from .fleetclaims import FleetClaims
from .metrics import MetricsUnavailable, serve
from .reconnect import CONNECTION_ERRORS, EXIT_CONFIG, EXIT_LOGIN, EXIT_TEMPFAIL, one_line, start_up_failure
from .reloading import keeps_what_start_up_set, reload
from .rules import Link
from .settings import Settings, SettingsError
from .watch import Daemon

log = logging.getLogger("emaillog.fleet")

CLAIM_SECONDS = 2.0  # how often free mailboxes are claimed: a dead worker's are taken within seconds
# A start-up try of a mailbox waits at most this many IMAP timeouts: connecting (TLS included),
# logging in, CAPABILITY and NAMESPACE, LIST/CREATE of the folders, SELECT. A host with several
# black-holed addresses can take longer; that try then just ends the extension early.
START_TRY_COMMANDS = 6


class Fleet(FleetClaims):
    """Several mailboxes in one process, each worked under its lease (see the module's docstring)."""

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
            if request == "refused" and self.refused is not None:
                # A mailbox thread found the schema upgraded by a newer emaillog: the process stops
                # (the mailboxes finish the batch in hand) and exits as start-up would (runner.run: 78).
                raise self.refused
            if request == "reload":
                self._reload()
            else:
                for worker in self.workers.values():
                    worker.daemon.requests.put("pass:signal")
        return True

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


def _worst(codes: Iterable[int]) -> int:
    """The exit code when every mailbox failed at start-up: 77 only when every login was refused;
    75 when any failure may pass by itself (systemd restarts on it); otherwise 78."""
    found = set(codes)
    if found == {EXIT_LOGIN}:
        return EXIT_LOGIN
    return EXIT_TEMPFAIL if EXIT_TEMPFAIL in found else EXIT_CONFIG
