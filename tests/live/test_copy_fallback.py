"""Moves on a server without MOVE (COPY + \\Deleted + EXPUNGE), cut at each point (SPEC §10).

Dovecot announces what ``imap_capability`` says; the connection runs through tests/faultproxy.py,
which drops it for real just before the daemon's next IMAP command of a kind. Whatever the cut,
each message ends in exactly one folder exactly once, nothing is left flagged \\Deleted in the
intake folder, and the CRM holds each email once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from support import World, make_world, message, throwaway_dovecot

from emaillog.devmail import DevDovecot
from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import MailboxError
from emaillog.store.ledger import settle_vanished
from emaillog.store.models import Ledger, LoggedEmail

WITHOUT_MOVE = ("IMAP4rev1", "LITERAL+", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE")
CUT = (OSError, IMAPClientError, MailboxError)


@pytest.fixture(scope="module", params=["uidplus", "no-uidplus"])
def server(request: pytest.FixtureRequest) -> Iterator[DevDovecot]:
    """Dovecot without MOVE: with UIDPLUS (UID EXPUNGE), and without (EXPUNGE only)."""
    extra = ("UIDPLUS",) if request.param == "uidplus" else ()
    with throwaway_dovecot("nomove", capabilities=WITHOUT_MOVE + extra) as dovecot:
        yield dovecot


@pytest.fixture
def proxy(server: DevDovecot) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port, seed=3) as faults:
        yield faults


@pytest.fixture
def world(tmp_path: Path, server: DevDovecot, proxy: FaultProxy) -> World:
    """The daemon's connections run through the proxy; the test's own (``World.client``) do not."""
    account = server.add_user(f"nomove{tmp_path.name[-12:]}", "secret")
    w = make_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", account)
    assert w.settings.imap is not None
    w.settings = dataclasses.replace(w.settings, imap=dataclasses.replace(w.settings.imap, port=proxy.port))
    mailbox = ImapMailbox(w.settings.imap)  # type: ignore[arg-type]
    try:
        assert not mailbox.has("MOVE")
    finally:
        mailbox.close()
    return w


def uidplus(server: DevDovecot) -> bool:
    return "UIDPLUS" in (server.capabilities or ())


def cut_before(monkeypatch: pytest.MonkeyPatch, proxy: FaultProxy, command: str) -> None:
    """Drop the connection just before the next call of ``IMAPClient.<command>`` (once)."""
    real = getattr(IMAPClient, command)

    def cutting(self: IMAPClient, *args: object, **kwargs: object) -> object:
        monkeypatch.setattr(IMAPClient, command, real)
        assert proxy.cut_all() > 0
        return real(self, *args, **kwargs)

    monkeypatch.setattr(IMAPClient, command, cutting)


def expunge_command(server: DevDovecot) -> str:
    return "uid_expunge" if uidplus(server) else "expunge"


def ids(n: int, prefix: str = "m") -> list[str]:
    return [f"<{prefix}{i}@acme.example>" for i in range(n)]


def deliver(w: World, message_ids: list[str]) -> None:
    w.deliver(*(message(message_id=m, subject=f"Proposal {m}") for m in message_ids))


def message_ids_in(w: World, folder: str, *criteria: str) -> list[str]:
    client = w.client()
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        found = client.search(list(criteria) or ["ALL"])
        fetched = client.fetch(found, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if found else {}
        return [
            data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
            for data in fetched.values()
        ]
    finally:
        client.logout()


def assert_each_once(w: World, message_ids: list[str], copies: int = 1) -> None:
    """Each message in exactly one folder exactly once, none left in the intake, each logged once."""
    assert message_ids_in(w, "INBOX") == [], "left in the intake folder (flagged \\Deleted or not)"
    disposed = Counter(message_ids_in(w, "Processed") + message_ids_in(w, "Error"))
    assert disposed == Counter({m: copies for m in message_ids})
    logged = Counter(e.message_id for e in LoggedEmail.select())
    assert logged == Counter(dict.fromkeys(message_ids, 1))
    assert all(r.disposed for r in Ledger.select())


@pytest.mark.parametrize("command", ["add_flags", "expunge"])
def test_a_cut_between_the_commands_of_a_move_leaves_each_message_once(
    world: World, server: DevDovecot, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # Before add_flags: copied, not flagged (the next pass copied again: two copies). Before the
    # expunge: flagged, not expunged (the pass lists undeleted mail only: left in the intake forever).
    sent = ids(3)
    deliver(world, sent)
    cut_before(monkeypatch, proxy, command if command == "add_flags" else expunge_command(server))
    with pytest.raises(CUT):
        world.run_pass()
    assert len(message_ids_in(world, "Processed")) == 3  # the COPY went through
    report = world.run_pass()
    assert report.resumed == 3 and report.outcomes == {}
    assert_each_once(world, sent)
    world.run_pass()
    assert_each_once(world, sent)


def test_the_same_bytes_delivered_three_times_keep_a_copy_each(
    world: World, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy already in Processed belongs to the delivery moved there before; the two cut after
    # their COPY each find their own.
    same = message(message_id="<same@acme.example>")
    world.deliver(same)
    world.run_pass()
    world.deliver(same, same)
    cut_before(monkeypatch, proxy, "add_flags")
    with pytest.raises(CUT):
        world.run_pass()
    assert world.run_pass().resumed == 2
    assert message_ids_in(world, "INBOX") == []
    assert message_ids_in(world, "Processed") == ["<same@acme.example>"] * 3
    assert LoggedEmail.select().count() == 1 and Ledger.select().where(Ledger.disposed).count() == 3


# Only with UIDPLUS: without it every EXPUNGE removes what a person flagged (check warns about that).
@pytest.mark.parametrize("server", ["uidplus"], indirect=True)
def test_a_message_a_person_flagged_deleted_is_left_to_the_person(
    world: World, server: DevDovecot, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert uidplus(server)
    world.deliver(message(message_id="<theirs@acme.example>"))
    client = world.client()
    client.select_folder("INBOX")
    client.add_flags(client.search(["ALL"]), [b"\\Deleted"])
    client.logout()
    sent = ids(2)
    deliver(world, sent)
    cut_before(monkeypatch, proxy, "uid_expunge")
    with pytest.raises(CUT):
        world.run_pass()
    world.run_pass()
    assert message_ids_in(world, "INBOX") == ["<theirs@acme.example>"]
    assert Counter(message_ids_in(world, "Processed")) == Counter(dict.fromkeys(sent, 1))
    assert Ledger.select().count() == 2


def test_messages_left_flagged_by_an_earlier_version_are_expunged(
    world: World, server: DevDovecot, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before this fix a pass marked such rows disposed, the messages having left its listing.
    sent = ids(2)
    deliver(world, sent)
    cut_before(monkeypatch, proxy, expunge_command(server))
    with pytest.raises(CUT):
        world.run_pass()
    uidvalidity = Ledger.get().uidvalidity
    assert settle_vanished(world.store.account_id, world.settings.mailbox_name, uidvalidity, set()) == 2
    assert world.run_pass().resumed == 2
    assert_each_once(world, sent)


def test_a_cut_before_any_command_of_a_pass_leaves_each_message_once(
    world: World, server: DevDovecot, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every point of a pass in turn: two new messages, a pass cut before the daemon's k-th IMAP
    # command (the state of a cut after the command before), a resuming pass cut at its k-th too,
    # then a pass left alone.
    sent: list[str] = []
    commands, cut_at, cut = [0], [0], []
    real = imaplib.IMAP4._command

    def counting(self: imaplib.IMAP4, name: str, *args: object) -> object:
        if self.port == proxy.port:
            commands[0] += 1
            if commands[0] == cut_at[0]:
                cut.append(name if name != "UID" else f"UID {args[0]}")
                proxy.cut_all()
        return real(self, name, *args)

    monkeypatch.setattr(imaplib.IMAP4, "_command", counting)
    for k in range(1, 20):
        new = ids(2, f"k{k}-")
        deliver(world, new)
        sent += new
        for at in (k, k, 0):
            commands[0], cut_at[0] = 0, at
            with contextlib.suppress(*CUT):
                world.run_pass()
        assert_each_once(world, sent)
    assert {"UID COPY", "UID STORE", "UID EXPUNGE" if uidplus(server) else "EXPUNGE"} <= set(cut)
