"""SPEC §10 attempts: a crash of the message's own is counted, a killed process is not held against it.

kill -9 (or an OOM kill, a power cut) interrupts whatever message was in hand; with hundreds of kills
an innocent message was once sent to Error as ``processing-failed``. Interrupted attempts are now
only tolerated up to a bound, while crashes the message itself causes — an exception, or a parser
worker dying on it — send it to Error after exactly ``max_attempts``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from peewee import InterfaceError, OperationalError
from support import World, make_world, message

from emaillog import views
from emaillog.batch import INTERRUPTIONS_TOLERATED
from emaillog.devmail import ImapAccount
from emaillog.parallel import ParallelParser
from emaillog.store.ledger import LedgerKey, begin_attempts
from emaillog.store.models import Ledger
from emaillog.store.recorder import Recorder

KILLER_HEADER = b"X-Test-Kills-The-Parser: yes"


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def interrupt(world: World, times: int) -> None:
    """What a process killed while holding each intake message leaves: attempts begun, nothing recorded."""
    client = world.client()
    try:
        uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        keys = [LedgerKey(world.settings.mailbox_name, uidvalidity, uid) for uid in client.search()]
    finally:
        client.logout()
    for _ in range(times):
        begin_attempts(world.store.account_id, keys)


def test_interruptions_beyond_max_attempts_do_not_send_an_innocent_message_to_error(world: World) -> None:
    world.deliver(message())
    interrupt(world, world.settings.max_attempts + 2)
    assert world.run_pass().outcomes == {"logged": 1}
    [row] = Ledger.select()
    assert (row.attempts, row.failures) == (world.settings.max_attempts + 3, 0)
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}


def test_a_message_interrupted_too_often_goes_to_error_naming_the_interruptions(world: World) -> None:
    world.deliver(message())
    interrupt(world, INTERRUPTIONS_TOLERATED)
    assert world.run_pass().outcomes == {"rejected": 1}
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"]) == ("rejected", "processing-failed")
    assert f"interrupted {INTERRUPTIONS_TOLERATED} times" in row["detail"]
    assert world.folder_counts() == {"INBOX": 0, "Processed": 0, "Error": 1}


def test_a_message_that_kills_its_parser_process_costs_its_own_attempts_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import emaillog.parallel

    daemon_pid = os.getpid()
    real_parse = emaillog.parallel.parse
    parsed_in_the_daemon: list[bytes] = []

    def parse(raw: bytes, *args: object, **kwargs: object) -> object:
        if KILLER_HEADER in raw:
            if os.getpid() == daemon_pid:
                # A retried message must be parsed in a worker: dying here would take the daemon down.
                parsed_in_the_daemon.append(raw)
                raise RuntimeError("parsed in the daemon")
            os._exit(70)
        return real_parse(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(emaillog.parallel, "parse", parse)
    killer = message(message_id="<killer@acme.example>", headers={"X-Test-Kills-The-Parser": "yes"})
    world.deliver(killer)
    interrupt(world, 1)  # its first attempt, parsed in the daemon, killed the daemon
    world.deliver(message(message_id="<innocent@acme.example>"))
    parser = ParallelParser(workers=2)
    try:
        outcomes = [world.run_pass(parser=parser).outcomes for _ in range(3)]
    finally:
        parser.close()
    assert not parsed_in_the_daemon
    assert outcomes == [{"logged": 1, "failed": 1}, {"failed": 1}, {"rejected": 1}]
    killed = Ledger.get(Ledger.message_id == "<killer@acme.example>")
    assert (killed.outcome, killed.reason, killed.attempts, killed.failures) == (
        "rejected",
        "processing-failed",
        4,
        world.settings.max_attempts,
    )
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 1}


def _cut_every_session(database_url: str) -> None:
    """What a restart of PostgreSQL does to the daemon: every session of the database ends."""
    import psycopg2

    killer = psycopg2.connect(database_url)
    try:
        with killer, killer.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        killer.close()


def _restart_the_server_while_the_first_batch_records(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    record, cut = Recorder.record, []

    def record_as_the_server_restarts(recorder: Recorder, results: list[Any]) -> None:
        if not cut:
            cut.append(True)
            _cut_every_session(world.settings.database_url)
        record(recorder, results)

    monkeypatch.setattr(Recorder, "record", record_as_the_server_restarts)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_attempts_an_outage_kept_from_being_given_back_are_given_back_once_it_answers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database goes away while a batch is recorded: the give-back of its attempts fails too.
    Before, those messages kept the attempt, were taken for crashes and retried one at a time."""
    world.deliver(*(message(message_id=f"<outage-{i}@acme.example>") for i in range(6)))
    _restart_the_server_while_the_first_batch_records(world, monkeypatch)
    with pytest.raises((OperationalError, InterfaceError)):
        world.run_pass()
    assert world.store.owed_attempts
    world.store.db.close()  # as the daemon does before it tries again
    report = world.run_pass()
    assert report.outcomes == {"logged": 6} and not world.store.owed_attempts
    assert sorted(row.attempts for row in Ledger.select()) == [1] * 6


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_whose_recording_failed_is_not_logged_as_logged(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The line per message says what happened to it: written before the batch's transaction, a
    batch the database lost was said to be "outcome=logged", then said so again by the next pass."""
    world.deliver(*(message(message_id=f"<lost-{i}@acme.example>") for i in range(6)))

    def logged_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if "outcome=logged" in r.getMessage()]

    _restart_the_server_while_the_first_batch_records(world, monkeypatch)
    caplog.set_level("INFO", logger="emaillog.pass")
    with pytest.raises((OperationalError, InterfaceError)):
        world.run_pass()
    assert logged_lines() == []
    world.store.db.close()
    assert world.run_pass().outcomes == {"logged": 6}
    assert len(logged_lines()) == 6


def test_a_fleet_mailbox_restarted_on_a_new_store_still_owes_what_it_owed(world: World) -> None:
    """In a fleet a database restart also ends the lease session: the mailbox's daemon and store are
    made anew, and the attempts owed went with the old store."""
    from emaillog.fleet import Fleet
    from emaillog.rules import load_chain
    from emaillog.sdnotify import Notifier

    fleet = Fleet(world.settings, load_chain(world.settings.chain_file), world.store.db, Notifier(None))
    try:
        owed = [LedgerKey(world.settings.mailbox_name, 1, 7)]
        fleet._daemon_for(world.settings).store.owed_attempts.extend([owed])
        assert fleet._daemon_for(world.settings).store.owed_attempts.batches() == [owed]
    finally:
        fleet.parser.close()
