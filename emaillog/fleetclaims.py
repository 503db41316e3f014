"""A fleet's claiming rounds (fleet.py): which mailboxes this process takes, and which it gives back.

Every round a process claims free mailboxes, up to one more than its fair share among the processes
that work the same mailboxes; gives back what it has held beyond that for a few rounds; and gives
back the lease of a mailbox it has not reached for EMAILLOG_HAND_OVER_SECONDS, so that another
process, which may reach it, takes it.
"""

from __future__ import annotations

import json
import logging
import time

from .fleetworkers import RESTART_SECONDS, FleetWorkers
from .settings import Settings
from .store.schema import refuse_newer

log = logging.getLogger("emaillog.fleet")

BALANCE_ROUNDS = 3  # rounds over its fair share before a process gives mailboxes back
# Login states that mean a mailbox held here is not being worked (shown in systemd's STATUS=).
_TROUBLE = frozenset({"refused", "unreachable", "disconnected", "read-only"})


class FleetClaims(FleetWorkers):
    """The claiming rounds of a fleet (the process around them: fleet.Fleet)."""

    def _round(self) -> None:
        # Every round, mailboxes idle or not: a newer emaillog that upgraded the schema stops the
        # process (fleet.Fleet.run; exit 78 as at start-up) within CLAIM_SECONDS. Its batches check too.
        refuse_newer(self.db)
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
