"""A message the server will not hand over (SPEC §10: a message that fails three times goes to Error).

Dovecot answers a FETCH of a mail file it cannot open with "* BYE FETCH failed: Internal error
occurred" and closes the connection. Here the file is made unreadable on disk, for real. The pass
failed before counting any attempt, so every pass failed at the same batch and the mailbox was
blocked for ever, the mail behind it included. Now the refusal counts against the messages of the
FETCH: they are retried one at a time, the others go through, and the one the server never hands
over ends in Error with the reason.
"""

from __future__ import annotations

import dataclasses
import imaplib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from support import World, make_world, message

from emaillog import views
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.mailbox import FetchRefused, MailboxError
from emaillog.store.models import Ledger


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def deliver_one_unreadable(world: World, dovecot: DevDovecot, count: int, bad: int, **extra: bytes) -> None:
    """``count`` messages; the file of the ``bad``-th (from 0) made unreadable to Dovecot."""
    raws = [message(message_id=f"<m{i}@acme.example>", subject=f"S{i}") for i in range(count)]
    raws[bad] = extra.get("bad_raw", raws[bad])
    world.deliver(*raws)
    maildir = dovecot.root / "mail" / world.account.user
    files = [p for p in maildir.glob("*/*") if p.parent.name in ("cur", "new")]
    assert len(files) == count
    [target] = [p for p in files if p.read_bytes() == raws[bad].replace(b"\r\n", b"\n")]
    os.chmod(target, 0)


def passes_until_settled(world: World, most: int = 10) -> int:
    """Pass until one ends well; how many failed before it."""
    for failed in range(most):
        try:
            world.run_pass()
        except (MailboxError, imaplib.IMAP4.error):  # as the daemon: reconnect and pass again
            continue
        return failed
    raise AssertionError(f"still failing after {most} passes")


def test_a_message_the_server_will_not_hand_over_goes_to_error_and_blocks_nothing(
    world: World, dovecot: DevDovecot, caplog: pytest.LogCaptureFixture
) -> None:
    deliver_one_unreadable(world, dovecot, 3, bad=1)
    with caplog.at_level("WARNING", logger="emaillog"):
        failed = passes_until_settled(world)
    assert failed == world.settings.max_attempts  # once in its batch, then alone until the limit
    assert "the server would not hand over uids 1,2,3 of INBOX" in caplog.text
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 1}
    assert sorted(e["message_id"] for e in views.emails(world.store)) == [
        "<m0@acme.example>",
        "<m2@acme.example>",
    ]
    refused = Ledger.get(Ledger.uid == 2)
    assert (refused.outcome, refused.reason, refused.folder) == ("rejected", "processing-failed", "Error")
    assert refused.detail == "processing failed 3 times (the server refused to FETCH it)"
    assert refused.sha256 is None
    world.run_pass()
    assert world.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 1}
    assert len(views.emails(world.store)) == 2


def test_a_large_message_the_server_will_not_hand_over_goes_to_error(
    world: World, dovecot: DevDovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read by sections (largemail.py): its attempt was counted, then given back with the batch's.
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    large = message(message_id="<large@acme.example>", attachments=[("big.bin", os.urandom(20_000))])
    deliver_one_unreadable(world, dovecot, 2, bad=0, bad_raw=large)
    assert passes_until_settled(world) == world.settings.max_attempts
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 1}
    assert [e["message_id"] for e in views.emails(world.store)] == ["<m1@acme.example>"]
    assert Ledger.get(Ledger.uid == 1).reason == "processing-failed"


@pytest.fixture
def proxied(world: World, dovecot: DevDovecot) -> Iterator[FaultProxy]:
    """The daemon's connections through tests/faultproxy.py; the test's own (World.client) not."""
    with FaultProxy(dovecot.host, dovecot.port) as proxy:
        assert world.settings.imap is not None
        imap = dataclasses.replace(world.settings.imap, port=proxy.port)
        world.settings = dataclasses.replace(world.settings, imap=imap)
        yield proxy


def cut_in_the_answer(proxy: FaultProxy, marker: bytes, *, bye: bytes = b"") -> None:
    """Once: pass on the first chunk of the server's answer holding ``marker`` up to 40 octets into
    its literal, and cut the connection; with ``bye``, the server says that instead of its answer."""

    def half_then_cut(data: bytes) -> bytes:
        if marker not in data or proxy.answers is None:
            return data
        proxy.answers = None
        threading.Timer(0.2, proxy.cut_all).start()
        at = data.index(marker)
        if bye:  # the server's words instead of the answer
            return data[: data.rindex(b"* ", 0, at)] + bye
        return data[: at + len(marker) + 40]

    proxy.answers = half_then_cut


@pytest.mark.parametrize("bye", [b"", b"* BYE Server shutting down.\r\n"])
def test_a_cut_in_the_middle_of_a_large_messages_literal_costs_no_attempt(
    world: World, proxied: FaultProxy, monkeypatch: pytest.MonkeyPatch, bye: bytes
) -> None:
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    monkeypatch.setattr("emaillog.largemail.CHUNK", 4096)
    world.deliver(message(message_id="<large@acme.example>", attachments=[("big.bin", os.urandom(50_000))]))
    cut_in_the_answer(proxied, b"BODY[2]<4096> {4096}\r\n", bye=bye)
    with pytest.raises((MailboxError, imaplib.IMAP4.error, OSError)) as raised:
        world.run_pass()
    assert not isinstance(raised.value, FetchRefused)
    assert ("shutting down" in str(raised.value)) if bye else proxied.cuts == 1
    row = Ledger.get()
    assert (row.outcome, row.attempts, row.failures) == ("pending", 0, 0)  # given back, nothing held
    assert world.run_pass().outcomes == {"logged": 1}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}
    assert len(views.emails(world.store)) == 1
