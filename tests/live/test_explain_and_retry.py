""" "Why?" and "try again" from the command line, against Dovecot."""

from __future__ import annotations

import json
import os
import socket
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from support import NOTICES_ON, message

from emaillog.devmail import ImapAccount
from emaillog.imapsections import SectionReader
from emaillog.lease import leases_for
from emaillog.store.models import Outbox


def deliver(account: ImapAccount, raw: bytes) -> None:
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    client.append("INBOX", raw)
    client.logout()


def test_explain_errors_list_and_retry_after_the_admin_fixed_the_cause(
    cli, imap_account: ImapAccount
) -> None:
    deliver(imap_account, message(sender="newrep@acme.example"))
    assert cli("run", "--once")[0] == 0
    code, out, _ = cli("errors", "list", "--json")
    [row] = json.loads(out)
    assert (row["reason"], row["folder"]) == ("sender-not-a-user", "Error")
    code, out, _ = cli("explain", str(row["id"]))
    assert code == 0 and "HIT  sender-not-a-user" in out and "miss" in out and "attribution" in out
    code, out, _ = cli("explain", f"uid:{row['uid']}", "--json")
    assert json.loads(out)["trace"][-1]["rule"] == "sender-not-a-user"
    # The admin adds the rep, then puts the message back through the pipeline.
    assert cli("users", "add", "newrep@acme.example")[0] == 0
    code, out, _ = cli("errors", "retry", str(row["id"]))
    assert code == 0 and "moved back to INBOX: 1" in out
    code, out, _ = cli("emails", "list", "--json")
    assert [e["owner"] for e in json.loads(out)] == ["newrep@acme.example"]
    code, out, _ = cli("errors", "list", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("ledger", "list", "--json")
    assert [r["outcome"] for r in json.loads(out)] == ["rejected", "logged"]


def test_retry_all_and_bad_input(cli, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(3):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=f"<{n}@x>"))
    cli("run", "--once")
    code, _, err = cli("explain", "999")
    assert code == 2 and "no ledger row" in err and "Traceback" not in err
    # An id and --all: which was meant? --all ran before, the id not even looked at.
    with pytest.raises(SystemExit) as stopped:
        cli("errors", "retry", "1", "--all", "--no-pass")
    assert stopped.value.code == 2 and "not allowed with" in capsys.readouterr().err
    code, out, _ = cli("errors", "retry", "--all", "--no-pass")
    assert code == 0 and "moved back to INBOX: 3" in out


def test_a_message_id_with_escape_sequences_reaches_no_terminal(cli, imap_account: ImapAccount) -> None:
    # A stranger's Message-ID may hold ESC sequences (set the title, clear the screen, recolour).
    raw = message(sender="newrep@acme.example", message_id="<placeholder@x>")
    hostile = b"<\x1b]0;owned\x07\x1b[2Jx\xc2\x9b1m@evil.example>"
    deliver(imap_account, raw.replace(b"<placeholder@x>", hostile))
    assert cli("run", "--once")[0] == 0
    _, listed, _ = cli("errors", "list")
    _, explained, _ = cli("explain", "1")
    for out in (listed, explained):
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
        assert "\\x1b]0;owned" in out


def test_retry_beside_the_running_daemon_leaves_the_pass_to_it(
    cli, imap_account: ImapAccount, tmp_path: Path, database_url: str
) -> None:
    deliver(imap_account, message(sender="newrep@acme.example"))
    assert cli("run", "--once")[0] == 0
    assert cli("users", "add", "newrep@acme.example")[0] == 0
    # The daemon works the mailbox: it holds the mailbox's lease (a file lock, or PostgreSQL's).
    daemon = leases_for(database_url, tmp_path / "data")
    assert daemon.acquire("default", "default")  # the account and the mailbox
    try:
        code, out, err = cli("errors", "retry", "1")
    finally:
        daemon.release_all()
    # Moved back, and the daemon (IDLE) picks it up: no "stop it first", no temporary failure.
    assert code == 0, err
    assert "moved back to INBOX: 1" in out and "the running daemon" in out
    assert "stop it first" not in err
    assert folder_size(imap_account, "INBOX") == 1


def test_a_retried_message_rejected_again_gets_no_second_notice(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**NOTICES_ON, "EMAILLOG_SMTP_PORT": "1"}.items():  # the relay away: queued only
        monkeypatch.setenv(name, value)
    assert cli("users", "add", "eve@acme.example", "--inactive")[0] == 0
    deliver(imap_account, message(sender="eve@acme.example"))
    assert cli("run", "--once")[0] == 0
    assert Outbox.select().count() == 1
    # Retried before the cause is fixed: rejected again for the same reason, back in Error.
    code, out, _ = cli("errors", "retry", "1")
    assert code == 0 and "moved back to INBOX: 1" in out
    assert folder_size(imap_account, "Error") == 1
    code, out, _ = cli("errors", "list", "--json")
    [again] = json.loads(out)
    assert again["reason"] == "sender-not-permitted" and again["id"] != 1
    # Eve was told once; the same message again is not news to her.
    assert Outbox.select().count() == 1
    code, out, _ = cli("explain", str(again["id"]), "--json")
    assert json.loads(out)["trace"][-1]["reason"] == "suppressed-already-told"


def test_retry_of_a_message_that_is_not_in_the_error_folder_is_a_usage_error(
    cli, imap_account: ImapAccount
) -> None:
    deliver(imap_account, message())  # from Rita, a user: logged and moved to Processed
    deliver(imap_account, message(sender="newrep@acme.example", message_id="<other@acme.example>"))
    assert cli("users", "add", "rita@acme.example")[0] == 0
    assert cli("run", "--once")[0] == 0
    code, _, err = cli("errors", "retry", "uid:1")  # logged, in Processed
    assert code == 2 and "not in the Error folder" in err and "Processed" in err
    assert folder_size(imap_account, "INBOX") == 0


def folder_size(account: ImapAccount, folder: str) -> int:
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    try:
        return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()


@pytest.mark.parametrize(
    "message_id",
    [
        b"bare-7@acme.example",  # some mailers and gateways write it bare; the ledger keeps <id>
        '<id-\u00fc"q@\u00e9vil.example>'.encode(),  # UTF-8 (RFC 6532), and a quote
    ],
)
def test_retry_finds_a_message_whatever_its_message_id_looks_like(
    cli, imap_account: ImapAccount, message_id: bytes
) -> None:
    raw = message(sender="newrep@acme.example", message_id="<placeholder@x>")
    deliver(imap_account, raw.replace(b"<placeholder@x>", message_id))
    assert cli("run", "--once")[0] == 0
    assert cli("users", "add", "newrep@acme.example")[0] == 0
    code, out, _ = cli("errors", "retry", "1")
    assert code == 0 and "moved back to INBOX: 1; not found in Error: 0" in out
    assert folder_size(imap_account, "Processed") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_retry_finds_a_message_without_holding_the_error_folder_in_memory(
    cli, imap_account: ImapAccount
) -> None:
    # Without a Message-ID to search by, every message of the Error folder is a candidate: large ones
    # (a body too large, a message over the maximum) were fetched whole, a hundred at a time.
    big = 9 * 1024 * 1024
    for _ in range(3):
        attachment = [("big.bin", os.urandom(big))]
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=None, attachments=attachment))
    assert cli("run", "--once")[0] == 0
    for command in (("errors", "list", "--json"), ("errors", "retry", "3", "--no-pass")):
        tracemalloc.start()
        try:
            code, out, _ = cli(*command)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert code == 0
        assert peak < big, f"{command}: peak {peak / 2**20:.0f} MiB"  # no message held whole, let alone three
    assert "moved back to INBOX: 1; not found in Error: 0" in out


def delete_from(account: ImapAccount, folder: str, message_id: str) -> None:
    """What a person does in a mail client: delete a message from a folder for good."""
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    try:
        client.select_folder(folder)
        uids = client.search(["HEADER", "Message-ID", message_id])
        assert len(uids) == 1
        client.delete_messages(uids)
        client.expunge()
    finally:
        client.logout()


def test_errors_list_tells_the_messages_a_person_deleted_from_the_error_folder(
    cli, imap_account: ImapAccount
) -> None:
    for n in range(3):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=f"<{n}@x>"))
    assert cli("run", "--once")[0] == 0
    delete_from(imap_account, "Error", "1@x")
    # The ledger still says Error for all three; the folder holds two.
    code, out, _ = cli("errors", "list")
    assert code == 0 and out.count("<0@x>") == 1 and out.count("<2@x>") == 1
    listed, _, gone = out.partition("no longer in Error")
    assert "<1@x>" not in listed and "#2" in gone and "deleted or moved" in gone
    code, out, _ = cli("errors", "list", "--json")
    assert code == 0
    assert [(r["message_id"], r["in_error_folder"]) for r in json.loads(out)] == [
        ("<0@x>", True),
        ("<1@x>", False),
        ("<2@x>", True),
    ]
    # --no-imap lists what the ledger says, and says that it did not look.
    code, out, _ = cli("errors", "list", "--no-imap", "--json")
    assert [r["in_error_folder"] for r in json.loads(out)] == [None, None, None]


def delete_uid(account: ImapAccount, folder: str, uid: int) -> None:
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=False)
    client.login(account.user, account.password)
    try:
        client.select_folder(folder)
        client.delete_messages([uid])
        client.expunge()
    finally:
        client.logout()


def test_errors_list_goes_on_past_a_large_message_deleted_while_it_is_read(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large message is hashed in chunks after the folder was listed; one a person deletes in
    # between answers NIL, which raised MessageVanished (no MailboxError): a traceback, exit 1.
    # Without a Message-ID, a message is told by its bytes.
    from emaillog import errors
    from emaillog.imapsections import SectionReader

    for n in range(2):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=None, subject=f"S{n}"))
    assert cli("run", "--once")[0] == 0
    monkeypatch.setattr(errors, "STREAM_OVER", 100)  # both are "large": hashed by sections
    hashed = SectionReader.sha256

    def deleted_first(reader: SectionReader) -> str:
        if reader.uid == 1:
            delete_uid(imap_account, "Error", 1)
        return hashed(reader)

    monkeypatch.setattr(SectionReader, "sha256", deleted_first)
    code, out, _ = cli("errors", "list", "--json")
    assert code == 0
    assert [(r["uid"], r["in_error_folder"]) for r in json.loads(out)] == [(1, False), (2, True)]


def test_header_fields_leave_out_a_message_another_session_expunged(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    # Listed, then expunged by a mail client before its Message-ID was fetched: Dovecot answers NIL
    # for a message whose fields it had not cached, and the message is gone, not an error.
    from imapclient import IMAPClient

    from emaillog.imapmailbox import ImapMailbox
    from emaillog.settings import load

    client = IMAPClient(imap_account.host, port=imap_account.port, ssl=False)
    client.login(imap_account.user, imap_account.password)
    client.create_folder("Error")
    for n in range(3):
        client.append("Error", message(message_id=f"<{n}@x>"))
    settings = load(None, {**imap_account.settings(), "EMAILLOG_DATA_DIR": str(tmp_path / "data")})
    assert settings.imap is not None
    mailbox = ImapMailbox(settings.imap)
    try:
        mailbox.select("Error")
        uids = mailbox.uids()
        client.select_folder("Error")
        client.delete_messages([uids[0]])
        client.expunge()
        fields = mailbox.header_fields(uids, ["MESSAGE-ID"], 4096)
    finally:
        mailbox.close()
        client.logout()
    assert fields == {uids[1]: b"Message-ID: <1@x>\r\n\r\n", uids[2]: b"Message-ID: <2@x>\r\n\r\n"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_errors_list_reads_no_message_bodies(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Which messages are still in Error was told by hashing every one of them: a folder of thousands,
    # some of 50 MB, was read whole (390 MB for 2,000 messages) to list what the ledger says.
    big = 20 * 1024 * 1024
    deliver(imap_account, message(sender="x@elsewhere.example", attachments=[("big.bin", os.urandom(big))]))
    for n in range(3):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=f"<{n}@x>"))
    assert cli("run", "--once")[0] == 0
    assert folder_size(imap_account, "Error") == 4
    with FaultProxy(imap_account.host, imap_account.port) as proxy:
        monkeypatch.setenv("EMAILLOG_IMAP_PORT", str(proxy.port))
        code, out, _ = cli("errors", "list", "--json")
    assert code == 0
    assert [r["in_error_folder"] for r in json.loads(out)] == [True] * 4
    assert proxy.from_server < 100_000, f"{proxy.from_server} bytes fetched"  # small messages: ~1 KB each


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_errors_list_tells_apart_messages_that_share_a_message_id(cli, imap_account: ImapAccount) -> None:
    # The same Message-ID on two messages (a resend, a gateway's copy): the bytes tell which is gone.
    for body in ("first", "second"):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id="<same@x>", body=body))
    deliver(imap_account, message(sender="x@elsewhere.example", message_id="<other@x>"))
    assert cli("run", "--once")[0] == 0
    code, out, _ = cli("errors", "list", "--json")
    assert [(r["uid"], r["in_error_folder"]) for r in json.loads(out)] == [(1, True), (2, True), (3, True)]
    delete_uid(imap_account, "Error", 1)
    code, out, _ = cli("errors", "list", "--json")
    assert code == 0
    assert [(r["uid"], r["in_error_folder"]) for r in json.loads(out)] == [(1, False), (2, True), (3, True)]


def test_errors_list_with_the_mailbox_down_says_how_to_list_without_it(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver(imap_account, message(sender="x@elsewhere.example", message_id="<0@x>"))
    assert cli("run", "--once")[0] == 0
    with socket.socket() as unused:  # a port nothing listens on: the server is down
        unused.bind(("127.0.0.1", 0))
        monkeypatch.setenv("EMAILLOG_IMAP_PORT", str(unused.getsockname()[1]))
        code, _, err = cli("errors", "list")
    assert code == 75 and "mailbox unavailable" in err
    assert "errors list --no-imap" in err
    code, out, _ = cli("errors", "list", "--no-imap")
    assert code == 0 and "<0@x>" in out


def test_errors_list_with_nothing_in_error_needs_no_mailbox(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as unused:  # a port nothing listens on: the server is down
        unused.bind(("127.0.0.1", 0))
        monkeypatch.setenv("EMAILLOG_IMAP_PORT", str(unused.getsockname()[1]))
        code, out, err = cli("errors", "list", "--json")
    assert (code, json.loads(out), err) == (0, [], "")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_retry_all_reads_each_message_without_a_message_id_once(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a Message-ID to search by, each row hashed the whole Error folder again to find its
    # message: N such rows, N reads of every message, each fetched whole over IMAP.
    from emaillog import errors
    from emaillog.imapmailbox import ImapMailbox

    read: list[int] = []  # the UIDs fetched whole (BODY[]), in batches or by sections

    class Counting(ImapMailbox):
        def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
            read.extend(uids)
            return super().fetch(uids)

        def sections(self, uid: int) -> SectionReader:
            read.append(uid)
            return super().sections(uid)

    for n in range(5):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=None, subject=f"S{n}"))
    twice = message(sender="x@elsewhere.example", message_id=None, subject="again")
    for _ in range(2):  # the same bytes twice: a row for each, and each row gets its own copy
        deliver(imap_account, twice)
    deliver(imap_account, message(sender="x@elsewhere.example", message_id="<with-id@x>"))
    assert cli("run", "--once")[0] == 0
    assert folder_size(imap_account, "Error") == 8
    monkeypatch.setattr(errors, "ImapMailbox", Counting)
    code, out, _ = cli("errors", "retry", "--all", "--no-pass")
    assert code == 0 and "moved back to INBOX: 8; not found in Error: 0" in out
    assert (folder_size(imap_account, "Error"), folder_size(imap_account, "INBOX")) == (0, 8)
    assert len(read) == len(set(read)) <= 8, f"UIDs read whole: {sorted(read)}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_retry_all_where_the_server_cannot_search_reads_each_message_once(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that cannot search for a Message-ID (UTF-8 on a server without that charset:
    # [BADCHARSET]) leaves every message a candidate; each is still read whole once, its own too.
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    from emaillog import errors
    from emaillog.imapmailbox import ImapMailbox

    read: list[int] = []

    class Counting(ImapMailbox):
        def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
            read.extend(uids)
            return super().fetch(uids)

    searched = IMAPClient.search

    def no_charset(client: IMAPClient, criteria: object = "ALL", charset: str | None = None) -> object:
        if isinstance(criteria, list) and criteria[:1] == ["HEADER"]:
            raise IMAPClientError("SEARCH command error: BAD [b'[BADCHARSET (US-ASCII)] Unknown charset']")
        return searched(client, criteria, charset)

    for n in range(3):
        deliver(imap_account, message(sender="x@elsewhere.example", message_id=f"<{n}@x>"))
    deliver(imap_account, message(sender="x@elsewhere.example", message_id=None))
    assert cli("run", "--once")[0] == 0
    monkeypatch.setattr(IMAPClient, "search", no_charset)
    monkeypatch.setattr(errors, "ImapMailbox", Counting)
    code, out, _ = cli("errors", "retry", "--all", "--no-pass")
    assert code == 0 and "moved back to INBOX: 4; not found in Error: 0" in out
    assert len(read) == len(set(read)) <= 4, f"UIDs read whole: {sorted(read)}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # IMAP's part: one backend is enough
def test_retry_counts_a_message_deleted_before_its_move_as_not_found(
    cli, imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read, then deleted by a person in a mail client before it was moved: MOVE takes nothing, and
    # the row goes to the other copy of the same message; with none left, the second row is not found.
    from emaillog import errors
    from emaillog.imapmailbox import ImapMailbox

    class DeletedFirst(ImapMailbox):
        def move(self, uids: Sequence[int], folder: str) -> frozenset[int]:
            if uids == [1]:
                delete_uid(imap_account, "Error", 1)
            return super().move(uids, folder)

    twice = message(sender="x@elsewhere.example", message_id=None)
    for _ in range(2):
        deliver(imap_account, twice)
    assert cli("run", "--once")[0] == 0
    monkeypatch.setattr(errors, "ImapMailbox", DeletedFirst)
    code, out, _ = cli("errors", "retry", "--all", "--no-pass")
    assert code == 1 and "moved back to INBOX: 1; not found in Error: 1" in out
    assert (folder_size(imap_account, "Error"), folder_size(imap_account, "INBOX")) == (0, 1)
