"""Servers stricter than a default Dovecot: a shorter command line (RFC 7162 §4 asks clients to stay
under about 8 kB; Dovecot allows 64 kB by default, other servers less), and fewer connections a user.

A long list of UIDs once went into one command: "BAD Error in IMAP command UID FETCH: Too long
argument" at every pass of a backlog of 2000 messages, for ever. A login over the user's limit of
connections ([LIMIT]) was taken for a refused password: exit 77, which systemd does not restart.
And a SEARCH answer longer than imaplib takes in one line failed every pass of a very large folder.
"""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest
from conftest import require
from imapclient import IMAPClient
from support import message, throwaway_dovecot

from emaillog.devmail import DevDovecot, ImapAccount, dovecot_available
from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import LoginRefused, MailboxError
from emaillog.reconnect import EXIT_TEMPFAIL, start_up_failure
from emaillog.settings import ImapSettings

SHORT_LINES = {"imap_max_line_length": "8k"}
WITHOUT_MOVE = ("IMAP4rev1", "LITERAL+", "UIDPLUS", "IDLE", "NAMESPACE")
# Every other message of this many left: 2500 UIDs, about 12 kB written one by one.
SEEDED = 5000


@pytest.fixture(scope="module", params=["move", "copy"])
def short_lines(request: pytest.FixtureRequest) -> Iterator[DevDovecot]:
    """Dovecot taking command lines of at most 8 kB: with MOVE, and without (COPY, STORE, EXPUNGE)."""
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    capabilities = None if request.param == "move" else WITHOUT_MOVE
    with throwaway_dovecot("lines", extra_settings=SHORT_LINES, capabilities=capabilities) as server:
        yield server


def sparse_backlog(server: DevDovecot, account: ImapAccount) -> list[int]:
    """A backlog whose UIDs are all apart (every other message was deleted): no two make a range."""
    raws = [message()] * SEEDED  # the same bytes: the UIDs are what matters here
    server.seed_maildir(account.user, "INBOX", raws)
    client = IMAPClient(account.host, port=account.port, ssl=False)
    try:
        client.login(account.user, account.password)
        client.select_folder("INBOX")
        odd = list(range(1, SEEDED + 1, 2))
        for start in range(0, len(odd), 500):
            client.add_flags(odd[start : start + 500], [b"\\Deleted"], silent=True)
        client.expunge()
        kept = sorted(client.search(["ALL"]))
    finally:
        client.logout()
    assert kept == list(range(2, SEEDED + 1, 2))
    return kept


def login(account: ImapAccount) -> ImapSettings:
    return ImapSettings(account.host, account.port, "none", account.user, account.password, timeout=30)


def test_a_backlog_of_scattered_uids_is_sized_fetched_and_moved(short_lines: DevDovecot) -> None:
    account = short_lines.add_user(f"lines-{short_lines.port}", "pw")
    kept = sparse_backlog(short_lines, account)
    mailbox = ImapMailbox(login(account))
    try:
        assert mailbox.has("MOVE") == (short_lines.capabilities is None)
        mailbox.ensure_folders(["Processed"])
        mailbox.select("INBOX")
        assert sorted(mailbox.sizes(kept)) == kept
        assert sorted(mailbox.fetch(kept)) == kept
        mailbox.move(kept, "Processed")
        assert mailbox.uids() == [] and mailbox.uids(deleted=True) == []
        assert mailbox.message_count("Processed") == len(kept)
    finally:
        mailbox.close()


def test_a_login_over_the_users_connection_limit_is_tried_again_not_refused() -> None:
    # The people sharing the mailbox hold its connections (a phone, a desktop client): the server
    # turns the next login away until one lets go. The password is right: a restart will get in.
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    with throwaway_dovecot("conns", extra_settings={"mail_max_userip_connections": "1"}) as server:
        account = server.add_user("conns", "pw")
        first = ImapMailbox(login(account))
        try:
            with pytest.raises(MailboxError, match=r"cannot log conns in for now: \[LIMIT\]") as raised:
                ImapMailbox(login(account))
        finally:
            first.close()
    assert not isinstance(raised.value, LoginRefused)
    assert start_up_failure(raised.value)[0] == EXIT_TEMPFAIL


def test_a_folder_too_large_for_one_search_answer_is_listed_by_ranges(
    dovecot: DevDovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # imaplib takes answer lines of up to 1,000,000 bytes: SEARCH in a folder of 160,000 messages
    # failed every pass. Here the line limit is 6,000 bytes and the folder 2,000 messages (9 kB).
    monkeypatch.setattr(imaplib, "_MAXLINE", 6000)
    account = dovecot.add_user(f"ranges-{dovecot.port}", "pw")
    dovecot.seed_maildir(account.user, "INBOX", [message()] * 2000)
    mailbox = ImapMailbox(login(account))
    try:
        mailbox.select("INBOX")
        deleted = [1, 2, 700, 1999]
        mailbox.client.add_flags(deleted, [b"\\Deleted"], silent=True)
        assert mailbox.uids() == [uid for uid in range(1, 2001) if uid not in deleted]
        assert mailbox.uids(deleted=True) == deleted
        mailbox.expunge(deleted)
        assert mailbox.select("INBOX").exists == 1996
        assert mailbox.uids() == [uid for uid in range(3, 2001) if uid not in deleted]
    finally:
        mailbox.close()
