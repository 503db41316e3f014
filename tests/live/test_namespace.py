"""A server that keeps every folder under INBOX (personal namespace "INBOX.", RFC 2342), as Courier,
Cyrus and Dovecot set up like them do: the folders named in the settings are made and used there.

Before, CREATE Processed failed with "Mailbox name should probably be prefixed with: INBOX." and the
daemon exited 75 at every start, for ever, without logging anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import require
from faultproxy import FaultProxy
from support import check_env, make_world, message, run_checks, throwaway_dovecot

from emaillog import status
from emaillog.devmail import DevDovecot, ImapAccount, dovecot_available
from emaillog.imapmailbox import ImapMailbox
from emaillog.settings import load
from emaillog.store.models import Ledger

FOLDERS = "Processed and Error folders"  # the step of `emaillog check`


@pytest.fixture(scope="module")
def prefixed() -> Iterator[DevDovecot]:
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    with throwaway_dovecot("ns", personal_prefix="INBOX.") as server:
        yield server


@pytest.fixture
def account(prefixed: DevDovecot, tmp_path: Path) -> ImapAccount:
    return prefixed.add_user(f"ns-{tmp_path.name[-8:]}", "pw")


def test_processed_and_error_are_made_and_filled_under_the_prefix(
    tmp_path: Path, account: ImapAccount
) -> None:
    world = make_world(tmp_path, f"sqlite:///{tmp_path / 'emaillog.sqlite3'}", account)
    world.deliver(message(), message(sender="Stranger <x@other.example>", message_id="<m2@acme.example>"))
    report = world.run_pass()
    assert report.moved == 2
    client = world.client()
    try:
        counts = {
            name: client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"]
            for name in ("INBOX", "INBOX.Processed", "INBOX.Error")
        }
        assert not client.folder_exists("Processed")
    finally:
        client.logout()
    assert counts == {"INBOX": 0, "INBOX.Processed": 1, "INBOX.Error": 1}
    # The ledger keeps the names people gave; only the server's names carry the prefix.
    assert sorted(row.folder for row in Ledger.select()) == ["Error", "Processed"]
    assert (
        status.gather(world.settings, world.store, probe=True)["mailboxes"][0]["error_folder_messages"] == 1
    )


def test_check_creates_and_names_the_folders_under_the_prefix(
    tmp_path: Path, account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    env = check_env(tmp_path, account)
    for create, expected in (
        (False, "missing: INBOX.Processed, INBOX.Error"),
        (True, "created INBOX.Processed"),
    ):
        _, steps = run_checks(env, capsys, create_folders=create)
        assert expected in steps[FOLDERS]["detail"], steps[FOLDERS]
    _, steps = run_checks(env, capsys)
    assert steps[FOLDERS]["result"] == "ok"
    assert steps[FOLDERS]["detail"] == "INBOX.Processed, INBOX.Error exist"


@pytest.mark.parametrize(
    ("answer", "processed"),
    [
        # RFC 2342 extension data after a namespace: imapclient cannot unpack it (ValueError), and
        # the daemon exited 1 with a traceback at every start. Read as no prefix.
        (b'* NAMESPACE (("INBOX." "." "X-PARAM" ("FLAG1"))) NIL NIL', "Processed"),
        # A prefix written without its delimiter names the same folders as "INBOX.".
        (b'* NAMESPACE (("INBOX" ".")) NIL NIL', "INBOX.Processed"),
    ],
)
def test_an_unusual_namespace_answer_is_read_without_failing(
    account: ImapAccount, answer: bytes, processed: str
) -> None:
    told = b'* NAMESPACE (("INBOX." ".")) NIL NIL'
    with FaultProxy(account.host, account.port) as proxy:
        proxy.answers = lambda data: data.replace(told, answer)
        mailbox = ImapMailbox(load(None, {**replace(account, port=proxy.port).settings()}).imap)  # type: ignore[arg-type]
        try:
            assert mailbox.on_server("Processed") == processed
            assert mailbox.on_server("INBOX") == "INBOX"
        finally:
            mailbox.close()
