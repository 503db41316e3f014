"""The passes a fleet runs at once (EMAILLOG_MAX_PASSES_AT_ONCE): bounded, in turn, and never in the
way of a stop."""

from __future__ import annotations

import threading
from pathlib import Path

from support import make_settings

from emaillog.parallel import InlineParser
from emaillog.passslots import PassSlots
from emaillog.rules import load_chain
from emaillog.sdnotify import Notifier
from emaillog.store import open_store
from emaillog.watch import Daemon


def _waiter(slots: PassSlots, name: str, order: list[str], stop: threading.Event) -> threading.Thread:
    def work() -> None:
        if slots.take(stop.is_set):
            order.append(name)
            slots.give_back()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _queued(slots: PassSlots, count: int) -> None:
    """Wait until ``count`` waiters stand in line."""
    for _ in range(2000):
        if len(slots._queue) == count:
            return
        threading.Event().wait(0.005)
    raise AssertionError(f"{count} waiters never queued")


def test_waiting_passes_take_their_turn_in_the_order_they_came() -> None:
    slots = PassSlots(1)
    assert slots.take(lambda: False)
    order: list[str] = []
    never = threading.Event()
    threads = []
    for n, name in enumerate(["a", "b", "c"]):
        threads.append(_waiter(slots, name, order, never))
        _queued(slots, n + 1)
    assert not slots.free() and order == []  # the slot is held: nobody runs
    slots.give_back()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["a", "b", "c"] and slots.running == 0 and slots.free()


def test_a_pass_waiting_for_a_slot_gives_its_place_up_when_a_stop_comes() -> None:
    slots = PassSlots(1)
    assert slots.take(lambda: False)
    order: list[str] = []
    stop_first, never = threading.Event(), threading.Event()
    first = _waiter(slots, "first", order, stop_first)
    _queued(slots, 1)
    second = _waiter(slots, "second", order, never)
    _queued(slots, 2)
    stop_first.set()  # SIGTERM, a lease lost, a hand-over: while every slot is taken
    first.join(timeout=10)
    assert not first.is_alive() and order == []
    slots.give_back()
    second.join(timeout=10)
    assert order == ["second"]  # not held up behind the one that stopped


def test_a_higher_bound_on_reload_lets_the_waiting_pass_run() -> None:
    slots = PassSlots(1)
    assert slots.take(lambda: False)
    order: list[str] = []
    waiter = _waiter(slots, "waiting", order, threading.Event())
    _queued(slots, 1)
    slots.resize(2)
    waiter.join(timeout=10)
    assert order == ["waiting"]


def test_a_daemon_stopped_while_its_pass_waits_runs_no_pass(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    slots = PassSlots(1)
    assert slots.take(lambda: False)  # another mailbox's pass
    daemon = Daemon(
        settings,
        open_store(settings),
        load_chain(settings.chain_file),
        Notifier(None),
        parser=InlineParser(),
        slots=slots,
    )
    daemon.owns_process = False
    ran: list[str] = []
    daemon.one_pass = lambda: ran.append("pass")  # type: ignore[assignment,method-assign,return-value]
    thread = threading.Thread(target=daemon._passes, args=({"pass:exists"},), daemon=True)
    thread.start()
    _queued(slots, 1)
    daemon.stopping = True
    thread.join(timeout=10)
    assert not thread.is_alive() and ran == []
    assert slots.running == 1  # the other pass's slot, untouched: the stopped one took and gave none
