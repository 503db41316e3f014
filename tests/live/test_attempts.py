"""SPEC §10 attempts: a crash of the message's own is counted, a killed process is not held against it.

kill -9 (or an OOM kill, a power cut) interrupts whatever message was in hand; with hundreds of kills
an innocent message was once sent to Error as ``processing-failed``. Interrupted attempts are now
only tolerated up to a bound, while crashes the message itself causes — an exception, or a parser
worker dying on it — send it to Error after exactly ``max_attempts``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import World, make_world, message

from emaillog import views
from emaillog.batch import INTERRUPTIONS_TOLERATED
from emaillog.devmail import ImapAccount
from emaillog.parallel import ParallelParser
from emaillog.store.ledger import LedgerKey, begin_attempts
from emaillog.store.models import Ledger

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
