"""The one-mailbox daemon's passes (watch.py): each in a pass slot, followed by any mail it missed.

A pass runs in one of the process's pass slots under a fleet (waiting for one pings the watchdog
and keeps the connection alive), is followed at once by another while mail arrived during it, and
gives the fleet's database connection back when done. Each pass's report goes to the log, the
metrics, the state file and systemd's STATUS=.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .poll import Pass, PassReport
from .stoppable import StoppableMailbox
from .watchconn import DaemonConnection, _close_quietly

log = logging.getLogger("emaillog")

# After a pass, mail that arrived while it ran is passed over at once, up to this many times in a row
# (then IDLE or the queue gets a look, so signals are never starved).
MAX_FOLLOW_UPS = 20
# A pass waiting for a slot (PassSlots) sends a NOOP this often: a connection that says nothing for
# 30 minutes may be dropped by the server (RFC 9051), and a backlog of many mailboxes can take that.
NOOP_SECONDS = 60.0


class DaemonPasses(DaemonConnection):
    """The daemon's passes (the loop that asks for them: ``watch.Daemon``)."""

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
