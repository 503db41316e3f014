"""A pass of several batches: batch N-1 is recorded on the recording thread while batch N+1 is
fetched, and batch N is decided only once N-1 is recorded (SPEC §9, §10)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from peewee import OperationalError
from support import (
    World,
    forward_with_a_file,
    hold_recording_until_the_main_thread_moves_on,
    make_world,
    message,
)

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.store.files import attachment_path
from emaillog.store.ledger import mark_disposed
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


@pytest.mark.parametrize(
    ("group", "wait", "moves"),
    [
        # By count: two held; at the end of the pass, those held while the last batch records, then it.
        (2, 3600.0, [[1, 2], [3, 4], [5]]),
        (1000, 0.0, [[1], [2], [3], [4], [5]]),  # by time: each as soon as it is recorded
    ],
)
def test_recorded_batches_are_moved_together(
    world: World, monkeypatch: pytest.MonkeyPatch, group: int, wait: float, moves: list[list[int]]
) -> None:
    """One MOVE for several batches: each MOVE costs the server more than its messages."""
    world.deliver(*(message(message_id=f"<m{n}@acme.example>", subject=f"Seats {n}") for n in range(5)))
    monkeypatch.setattr("emaillog.stages.MOVE_GROUP", group)
    monkeypatch.setattr("emaillog.stages.MOVE_WAIT", wait)
    sent: list[list[int]] = []
    move = ImapMailbox.move

    def counted(mailbox: ImapMailbox, uids: list[int], folder: str) -> frozenset[int]:
        sent.append(sorted(uids))
        return move(mailbox, uids, folder)

    monkeypatch.setattr(ImapMailbox, "move", counted)
    report = world.run_pass()

    assert report.outcomes == {"logged": 5} and report.moved == 5
    assert sent == moves
    assert world.folder_counts() == {"INBOX": 0, "Processed": 5, "Error": 0}
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

    # The first batch was recorded before the second failed, and held for moving with the batches
    # after it; the second, and the two behind it (fetched and counted), are given their attempts
    # back. The next pass moves the first without deciding it again.
    assert world.folder_counts() == {"INBOX": 4, "Processed": 0, "Error": 0}
    assert {row.uid: row.attempts for row in Ledger.select()} == {1: 1, 2: 0, 3: 0, 4: 0}
    first = Ledger.get(Ledger.uid == 1)
    assert (first.outcome, first.folder, first.disposed) == ("logged", "Processed", False)
    report = world.run_pass()
    assert report.outcomes == {"logged": 3} and report.resumed == 1
    assert len(views.emails(world.store)) == 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 4, "Error": 0}


def test_marking_rows_disposed_on_the_recording_thread_may_fail_without_harm(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver_a_conversation(world)
    failed: list[int] = []

    def mark_failing_once(account_id: int, mailbox: str, uidvalidity: int, uids: list[int]) -> None:
        if threading.current_thread() is not threading.main_thread() and not failed:
            failed.extend(uids)
            raise OperationalError("the database went away")
        mark_disposed(account_id, mailbox, uidvalidity, uids)

    monkeypatch.setattr("emaillog.poll.mark_disposed", mark_failing_once)
    with pytest.raises(OperationalError):
        world.run_pass()
    # The first three batches' messages were moved together at the end of the pass (HeldMoves)
    # while the last batch recorded. The last one is moved (and marked) too, unless the failed mark
    # had already ended when its recording was waited for: then the pass ends before its MOVE.
    assert failed == [1, 2, 3], "their rows were marked on the recording thread"
    counts = world.folder_counts()
    assert counts["Error"] == 0 and counts["INBOX"] + counts["Processed"] == 4 and counts["Processed"] >= 3
    assert not any(row.disposed for row in Ledger.select() if row.uid in failed)
    assert {row.outcome for row in Ledger.select()} == {"logged"}  # all four recorded

    world.run_pass()  # moves what is left; settles the rows of messages already moved
    assert len(views.emails(world.store)) == 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 4, "Error": 0}
    assert {(row.attempts, row.disposed) for row in Ledger.select()} == {(1, True)}


def test_a_batch_whose_files_cannot_be_stored_is_not_recorded(world: World) -> None:
    """A batch commits only once its files are durable: when the attachment store fails, nothing
    of the batch is recorded or moved, no attempt is held against it, and the next pass logs it
    once, file included."""
    pdf = b"%PDF-1.7 " + os.urandom(200_000)
    world.deliver(forward_with_a_file(pdf), message(message_id="<after@acme.example>"))
    store = world.settings.attachments_dir
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("a file where the attachments directory should be: every write under it fails")

    with pytest.raises(OSError):
        world.run_pass()
    assert views.emails(world.store) == []
    assert world.folder_counts() == {"INBOX": 2, "Processed": 0, "Error": 0}
    assert {row.attempts for row in Ledger.select()} == {0}

    store.unlink()
    assert world.run_pass().outcomes == {"logged": 2}
    [file] = [a for e in views.emails(world.store) for a in e["attachments"]]
    assert attachment_path(store, file["sha256"]).read_bytes() == pdf
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 0}
