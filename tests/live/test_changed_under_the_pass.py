"""Another mail client changes the mailbox while a pass works on it (SPEC §10), for real on Dovecot,
with MOVE and without it (COPY + \\Deleted + EXPUNGE).

Between the pass's FETCH and its MOVE a person expunges one message and moves another away. Dovecot
then refused the whole MOVE (or COPY) with NO [EXPUNGEISSUED] (the pass failed, the daemon
reconnected), or, once the session had been told of the expunge, skipped the missing UIDs without a
word: their ledger rows said Processed, where they never went.

Or the person expunges every message of the batch: Dovecot then answers the MOVE (or COPY) "OK No
messages found" with no COPYUID at all, which was read as a server without UIDPLUS (which never
names its copies): the rows said Processed for mail that was in no folder.

Or a person deletes the Processed folder: the MOVE was refused with [TRYCREATE], and the daemon
said "mailbox connection lost".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from imapclient import IMAPClient
from support import World, make_world, message, throwaway_dovecot

from emaillog import views
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.parallel import InlineParser
from emaillog.rules import DEFAULT_CHAIN
from emaillog.sdnotify import Notifier
from emaillog.store.models import Ledger
from emaillog.watch import Daemon

WITHOUT_MOVE = ("IMAP4rev1", "LITERAL+", "UIDPLUS", "IDLE", "NAMESPACE")
WITHOUT_UIDPLUS = ("IMAP4rev1", "LITERAL+", "MOVE", "IDLE", "NAMESPACE")
WITHOUT_EITHER = ("IMAP4rev1", "LITERAL+", "IDLE", "NAMESPACE")


@pytest.fixture(scope="module")
def without_move() -> Iterator[DevDovecot]:
    with throwaway_dovecot("nomove", capabilities=WITHOUT_MOVE) as dovecot:
        yield dovecot


@pytest.fixture(params=["move", "copy"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> World:
    """A mailbox on a Dovecot with MOVE, or on one without it (the pass copies, flags and expunges)."""
    if request.param == "copy":
        server: DevDovecot = request.getfixturevalue("without_move")
        imap_account = server.add_user(f"nomove{tmp_path.name[-12:]}", "secret")
    world = make_world(tmp_path, database_url, imap_account)
    assert has_move(world) == (request.param == "move")
    return world


def has_move(world: World) -> bool:
    client = world.client()
    try:
        return b"MOVE" in client.capabilities()
    finally:
        client.logout()


def move_away(client: IMAPClient, uids: list[int], folder: str) -> None:
    """A person's client moving messages, with MOVE or, where the server lacks it, without."""
    if b"MOVE" in client.capabilities():
        client.move(uids, folder)
    else:
        client.copy(uids, folder)
        client.delete_messages(uids)
        client.expunge()


def as_another_client(world: World, *steps: str) -> None:
    """A person's mail client: expunge UID 2, move UID 3 to the folder Elsewhere."""
    client: IMAPClient = world.client()
    try:
        client.create_folder("Elsewhere")
        client.select_folder("INBOX")
        client.delete_messages([2])
        client.expunge()
        move_away(client, [3], "Elsewhere")
    finally:
        client.logout()


@pytest.mark.parametrize("told", [False, True], ids=["not-yet-told", "told"])
def test_messages_taken_away_between_fetch_and_move_are_not_said_to_be_moved(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, told: bool
) -> None:
    world.deliver(*(message(message_id=f"<m{i}@acme.example>", subject=f"S{i}") for i in range(1, 5)))
    move = ImapMailbox.move

    def taken_away_first(mailbox: ImapMailbox, uids: Sequence[int], folder: str) -> frozenset[int]:
        monkeypatch.setattr(ImapMailbox, "move", move)
        as_another_client(world)
        if told:  # the session hears of the expunge before its MOVE (any command may tell it)
            mailbox.client.noop()
        return move(mailbox, uids, folder)

    monkeypatch.setattr(ImapMailbox, "move", taken_away_first)
    with caplog.at_level("WARNING", logger="emaillog"):
        report = world.run_pass()
    assert report.outcomes == {"logged": 4} and report.moved == 2
    assert "uids 2,3 left INBOX before they were moved to Processed" in caplog.text
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 0}
    rows = {r.uid: r for r in Ledger.select()}
    assert {u: (r.outcome, r.folder, r.disposed) for u, r in rows.items()} == {
        1: ("logged", "Processed", True),
        2: ("logged", None, True),
        3: ("logged", None, True),
        4: ("logged", "Processed", True),
    }
    # Put back by the person: the same email, logged once (SPEC §9).
    client = world.client()
    client.select_folder("Elsewhere")
    move_away(client, client.search(["ALL"]), "INBOX")
    client.logout()
    assert world.run_pass().outcomes == {"logged": 1}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 3, "Error": 0}
    assert sorted(e["message_id"] for e in views.emails(world.store)) == [
        f"<m{i}@acme.example>" for i in range(1, 5)
    ]


@pytest.mark.parametrize("told", [False, True], ids=["not-yet-told", "told"])
def test_a_batch_taken_away_whole_before_its_move_is_not_said_to_be_moved(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, told: bool
) -> None:
    # Every UID of the MOVE (or COPY) gone: Dovecot answers "OK No messages found", no COPYUID.
    world.deliver(*(message(message_id=f"<m{i}@acme.example>", subject=f"S{i}") for i in range(1, 4)))
    move = ImapMailbox.move

    def taken_away_first(mailbox: ImapMailbox, uids: Sequence[int], folder: str) -> frozenset[int]:
        monkeypatch.setattr(ImapMailbox, "move", move)
        client = world.client()
        client.select_folder("INBOX")
        client.delete_messages([1, 2, 3])
        client.expunge()
        client.logout()
        if told:
            mailbox.client.noop()
        return move(mailbox, uids, folder)

    monkeypatch.setattr(ImapMailbox, "move", taken_away_first)
    with caplog.at_level("WARNING", logger="emaillog"):
        report = world.run_pass()
    assert report.outcomes == {"logged": 3} and report.moved == 0
    assert "uids 1,2,3 left INBOX before they were moved to Processed" in caplog.text
    assert world.folder_counts() == {"INBOX": 0, "Processed": 0, "Error": 0}
    assert {r.uid: (r.outcome, r.folder, r.disposed) for r in Ledger.select()} == {
        u: ("logged", None, True) for u in (1, 2, 3)
    }


@pytest.fixture(scope="module", params=["uidplus-move", "uidplus-copy", "plain-move", "plain-copy"])
def silent_server(request: pytest.FixtureRequest) -> Iterator[DevDovecot]:
    """A Dovecot advertising UIDPLUS or not, MOVE or not (its COPYUID is taken out by the test)."""
    capabilities = {
        "uidplus-move": None,
        "uidplus-copy": WITHOUT_MOVE,
        "plain-move": WITHOUT_UIDPLUS,
        "plain-copy": WITHOUT_EITHER,
    }[request.param]
    if capabilities is None:
        yield request.getfixturevalue("dovecot")
        return
    with throwaway_dovecot(request.param, capabilities=capabilities) as dovecot:
        yield dovecot


_COPYUID = re.compile(rb"\[COPYUID [^\]]*\] ?")


def test_a_server_that_never_names_its_copies_has_them_recorded_as_moved(
    tmp_path: Path, silent_server: DevDovecot, caplog: pytest.LogCaptureFixture
) -> None:
    # A server without UIDPLUS never sends COPYUID, and one with it may leave it out (RFC 4315: a
    # folder whose UIDs are not sticky): the messages it took are moved, not "left".
    account = silent_server.add_user(f"silent{tmp_path.name[-12:]}", "secret")
    world = make_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", account)
    world.deliver(*(message(message_id=f"<m{i}@acme.example>", subject=f"S{i}") for i in range(1, 4)))
    with FaultProxy(account.host, account.port) as proxy:
        said: list[bytes] = []

        def without_copyuid(data: bytes) -> bytes:
            said.append(data)
            return _COPYUID.sub(b"", data)

        proxy.answers = without_copyuid
        assert world.settings.imap is not None
        imap = dataclasses.replace(world.settings.imap, port=proxy.port)
        world.settings = dataclasses.replace(world.settings, imap=imap)
        with caplog.at_level("WARNING", logger="emaillog"):
            report = world.run_pass()
    assert any(b"[COPYUID " in d for d in said)  # Dovecot named them; the client never saw it
    assert "left INBOX" not in caplog.text
    assert report.moved == 3
    assert world.folder_counts() == {"INBOX": 0, "Processed": 3, "Error": 0}
    rows = {r.uid: (r.folder, r.disposed) for r in Ledger.select()}
    assert rows == {u: ("Processed", True) for u in (1, 2, 3)}


@pytest.mark.parametrize("folder", ["Processed", "Error"])
def test_a_folder_deleted_under_the_pass_is_created_again_and_said_so(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, folder: str
) -> None:
    # A person deletes the folder between the pass's record and its MOVE: Dovecot refuses the MOVE
    # (or COPY) with "[TRYCREATE] Mailbox doesn't exist". The daemon said "mailbox connection lost"
    # and reconnected, which sent an admin looking at the network.
    failing = message(sender="stranger@elsewhere.example", message_id="<bad@acme.example>")
    world.deliver(message(message_id="<m1@acme.example>"), message(message_id="<m2@acme.example>"), failing)
    move = ImapMailbox.move

    def deleted_first(mailbox: ImapMailbox, uids: Sequence[int], to: str) -> frozenset[int]:
        if to == folder:
            monkeypatch.setattr(ImapMailbox, "move", move)
            client = world.client()
            client.delete_folder(folder)
            client.logout()
        return move(mailbox, uids, to)

    monkeypatch.setattr(ImapMailbox, "move", deleted_first)
    daemon = Daemon(world.settings, world.store, DEFAULT_CHAIN, Notifier(None), parser=InlineParser())
    daemon.start(install_signals=False)
    try:
        with caplog.at_level("INFO", logger="emaillog"):
            daemon._guarded(lambda: daemon._passes({"pass:test"}))
            assert daemon.mailbox is not None  # not taken for a lost connection
            assert daemon.one_pass().outcomes == {}
    finally:
        daemon._drop_connection(logout=True)
    assert "connection lost" not in caplog.text
    assert (
        f"the folder {folder} is gone from {world.account.host} for {world.account.user} (a person or "
        "another mail client deleted it during the pass): creating it again, then moving uids"
    ) in caplog.text
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 1}
    rows = {r.message_id: (r.folder, r.disposed) for r in Ledger.select()}
    assert rows == {
        "<m1@acme.example>": ("Processed", True),
        "<m2@acme.example>": ("Processed", True),
        "<bad@acme.example>": ("Error", True),
    }


def test_without_move_a_resumed_message_taken_away_before_its_copy_is_not_said_to_be_moved(
    tmp_path: Path,
    without_move: DevDovecot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A cut between the commit and the move leaves the messages recorded in INBOX; the next pass
    # finishes their moves (fallback.py), and a person expunges UID 2 and moves UID 3 away just
    # before its COPY: their rows must not say Processed either.
    account = without_move.add_user(f"resumed{tmp_path.name[-12:]}", "secret")
    world = make_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", account)
    world.deliver(*(message(message_id=f"<m{i}@acme.example>", subject=f"S{i}") for i in range(1, 5)))
    move = ImapMailbox.move

    def cut(mailbox: ImapMailbox, uids: Sequence[int], folder: str) -> frozenset[int]:
        raise ConnectionResetError("cut between the commit and the move")

    def taken_away_first(mailbox: ImapMailbox, uids: Sequence[int], folder: str) -> frozenset[int]:
        monkeypatch.setattr(ImapMailbox, "move", move)
        as_another_client(world)
        return move(mailbox, uids, folder)

    monkeypatch.setattr(ImapMailbox, "move", cut)
    with pytest.raises(ConnectionResetError):
        world.run_pass()
    monkeypatch.setattr(ImapMailbox, "move", taken_away_first)
    with caplog.at_level("WARNING", logger="emaillog"):
        report = world.run_pass()
    assert (report.outcomes, report.resumed) == ({}, 2)
    assert "uids 2,3 left the intake folder before they were moved to Processed" in caplog.text
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 0}
    assert {r.uid: (r.folder, r.disposed) for r in Ledger.select()} == {
        1: ("Processed", True),
        2: (None, True),
        3: (None, True),
        4: ("Processed", True),
    }
