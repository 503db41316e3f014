"""Another mail client changes the intake folder while a pass works on it (SPEC §10), for real on Dovecot.

Between the pass's FETCH and its MOVE a person expunges one message and moves another away. Dovecot
then refused the whole MOVE with NO [EXPUNGEISSUED] (the pass failed, the daemon reconnected), or,
once the session had been told of the expunge, skipped the missing UIDs without a word: their
ledger rows said Processed, where they never went.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from imapclient import IMAPClient
from support import World, make_world, message

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.store.models import Ledger


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def as_another_client(world: World, *steps: str) -> None:
    """A person's mail client: expunge UID 2, move UID 3 to the folder Elsewhere."""
    client: IMAPClient = world.client()
    try:
        client.create_folder("Elsewhere")
        client.select_folder("INBOX")
        client.delete_messages([2])
        client.expunge()
        client.move([3], "Elsewhere")
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
    client.move(client.search(["ALL"]), "INBOX")
    client.logout()
    assert world.run_pass().outcomes == {"logged": 1}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 3, "Error": 0}
    assert sorted(e["message_id"] for e in views.emails(world.store)) == [
        f"<m{i}@acme.example>" for i in range(1, 5)
    ]
