"""A pass of several batches: batch N-1 is recorded on the recording thread while batch N+1 is
fetched, and batch N is decided only once N-1 is recorded (SPEC §9, §10)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from peewee import OperationalError
from support import World, hold_recording_until_the_main_thread_moves_on, make_world, message

from emaillog import poll, views
from emaillog.devmail import ImapAccount
from emaillog.stages import Stages
from emaillog.store.ledger import LedgerKey, begin_attempts, mark_disposed
from emaillog.store.models import Ledger
from emaillog.store.recorder import Result


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    # Batches of one message: every batch is decided while the one before it may still be recording.
    return make_world(tmp_path, database_url, imap_account, EMAILLOG_BATCH_SIZE="1")


def deliver_a_conversation(world: World) -> None:
    world.deliver(
        message(message_id="<a@acme.example>", subject="Seats"),
        message(message_id="<a@acme.example>", subject="Seats"),  # a second copy: one email
        message(
            message_id="<b@acme.example>",
            subject="Re: Seats",
            headers={"In-Reply-To": "<a@acme.example>"},
        ),
        message(message_id="<c@acme.example>", subject="Pricing"),
    )


def test_each_batch_sees_what_the_batches_before_it_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_a_conversation(world)
    hold_recording_until_the_main_thread_moves_on(monkeypatch)
    report = world.run_pass()

    assert sum(report.outcomes.values()) == 4 and report.moved == 4
    emails = {e["message_id"]: e for e in views.emails(world.store)}
    assert sorted(emails) == ["<a@acme.example>", "<b@acme.example>", "<c@acme.example>"]
    assert emails["<b@acme.example>"]["thread_parent"] == emails["<a@acme.example>"]["id"]
    assert [c["addresses"] for c in views.contacts(world.store)] == [["carl@globex.example"]]
    assert world.folder_counts() == {"INBOX": 0, "Processed": 4, "Error": 0}
    assert {(row.attempts, row.disposed) for row in Ledger.select()} == {(1, True)}


def test_a_batch_that_fails_to_record_costs_no_attempts_and_is_logged_once_later(world: World) -> None:
    deliver_a_conversation(world)
    record = world.store.recorder.record
    calls: list[int] = []

    def fail_the_second(results: list[Result]) -> None:
        calls.append(len(results))
        if len(calls) == 2:
            raise OperationalError("the database went away")
        record(results)

    world.store.recorder.record = fail_the_second
    with pytest.raises(OperationalError):
        world.run_pass()
    world.store.recorder.record = record

    # The first batch was recorded and moved before the second failed; the second, and the two
    # behind it (fetched and counted), are given their attempts back.
    assert world.folder_counts() == {"INBOX": 3, "Processed": 1, "Error": 0}
    assert {row.uid: row.attempts for row in Ledger.select()} == {1: 1, 2: 0, 3: 0, 4: 0}
    assert world.run_pass().outcomes == {"logged": 3}
    assert len(views.emails(world.store)) == 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 4, "Error": 0}


def test_marking_rows_disposed_on_the_recording_thread_may_fail_without_harm(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_a_conversation(world)
    failed: list[int] = []

    def mark_failing_once(mailbox: str, uidvalidity: int, uids: list[int]) -> None:
        if threading.current_thread() is not threading.main_thread() and not failed:
            failed.extend(uids)
            raise OperationalError("the database went away")
        mark_disposed(mailbox, uidvalidity, uids)

    monkeypatch.setattr("emaillog.poll.mark_disposed", mark_failing_once)
    with pytest.raises(OperationalError):
        world.run_pass()
    assert failed == [1], "the first batch's rows were marked on the recording thread"
    assert Ledger.get(Ledger.uid == 1).disposed is False

    world.run_pass()  # moves what is left; settles the rows of messages already moved
    assert len(views.emails(world.store)) == 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 4, "Error": 0}
    assert {(row.attempts, row.disposed) for row in Ledger.select()} == {(1, True)}


def test_a_batch_is_decided_only_once_its_attempts_are_counted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch fetched while another records is counted on the recording thread as it is parsed;
    it is decided only once that count has committed, so a message that kills the daemon while
    being decided has used up an attempt (SPEC §10).

    Each count queued on the recording thread is held until the main thread decides a batch or
    asks for a count: a pass that decided a batch before counting it would see its rows uncounted.
    """
    deliver_a_conversation(world)
    moved_on = threading.Condition()
    steps = [0]

    def step() -> None:
        with moved_on:
            steps[0] += 1
            moved_on.notify_all()

    class Asked:
        def __init__(self, future: Future[Any]) -> None:
            self.future = future

        def result(self) -> Any:
            step()
            return self.future.result()

    def later(self: Stages[Any], write: Callable[..., Any], *args: Any) -> Any:
        if write is not begin_attempts or self._thread is None:
            return stages_later(self, write, *args)
        seen = steps[0]  # on the main thread, as the count is queued

        def held(*args: object) -> Any:
            with moved_on:
                moved_on.wait_for(lambda: steps[0] > seen, timeout=30)
            return write(*args)

        return Asked(stages_later(self, held, *args))

    counted_when_decided: list[dict[int, int]] = []

    def deciding(context: Any, keys: list[LedgerKey], *args: Any) -> Any:
        rows = Ledger.select().where(Ledger.uid.in_([k.uid for k in keys]))
        counted_when_decided.append({row.uid: row.attempts for row in rows})
        step()
        return process(context, keys, *args)

    stages_later, process = Stages.later, poll.process
    monkeypatch.setattr(Stages, "later", later)
    monkeypatch.setattr(poll, "process", deciding)
    report = world.run_pass()

    assert report.moved == 4
    assert counted_when_decided == [{1: 1}, {2: 1}, {3: 1}, {4: 1}]
    assert {(row.attempts, row.disposed) for row in Ledger.select()} == {(1, True)}
