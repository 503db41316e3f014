"""Stopping a fleet: every mailbox thread gets one shared minute, not a minute each."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import make_settings

from emaillog import fleetworkers
from emaillog.fleet import Fleet
from emaillog.fleetworkers import _Worker
from emaillog.metrics import Metrics
from emaillog.rules import load_chain
from emaillog.sdnotify import Notifier
from emaillog.store import open_store


def test_stuck_mailbox_threads_share_one_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A minute each: two threads stuck on a hanging database outlasted the unit's TimeoutStopSec=90s,
    and systemd killed the daemon in the middle of the batches it was finishing."""
    settings = make_settings(tmp_path)
    fleet = Fleet(settings, load_chain(settings.chain_file), open_store(settings).db, Notifier(None))
    stuck = threading.Event()
    names = sorted((settings.mailbox_name, "globex", "initech"))
    for name in names:
        thread = threading.Thread(target=stuck.wait, daemon=True)
        thread.start()
        daemon = SimpleNamespace(
            stopping=False, requests=queue.SimpleQueue(), settings=settings, metrics=Metrics()
        )
        fleet.workers[name] = _Worker(daemon, thread)  # type: ignore[arg-type]
    monkeypatch.setattr(fleetworkers, "STOP_SECONDS", 1.0)
    stopper = threading.Thread(target=fleet._stop_workers, daemon=True)
    try:
        stopper.start()
        stopper.join(timeout=30)  # the old code: 3 x 60 s
        assert not stopper.is_alive()
        # Still running: kept, so that no second thread is started on those mailboxes meanwhile.
        assert sorted(fleet.workers) == names
        assert not fleet._claim(settings)  # the check a reload's restart makes: no second thread
    finally:
        stuck.set()
        fleet.parser.close()


def test_a_mailbox_resting_after_a_hand_over_is_claimed_at_once_on_new_settings(tmp_path: Path) -> None:
    """Given back for not being reached, a mailbox rests before it is claimed again; a reload that
    changes its settings (its host corrected) ends the rest, and one that does not keeps it."""
    settings = make_settings(tmp_path)
    fleet = Fleet(settings, load_chain(settings.chain_file), open_store(settings).db, Notifier(None))
    name = settings.mailbox_name
    try:
        fleet.resting_until[name] = time.monotonic() + 300
        fleet._apply(settings, fleet.chain)
        assert name in fleet.resting_until
        fleet._apply(replace(settings, poll_seconds=settings.poll_seconds + 1), fleet.chain)
        assert name not in fleet.resting_until
    finally:
        fleet.parser.close()
        fleet.leases.release_all()
