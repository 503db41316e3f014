"""Folder names as people write them: any script, spaces and quotes (modified UTF-7 and quoting on the
wire), and names a server will not take, whose hierarchy separator is the other one ('/' or '.').

A name the server refuses with [CANNOT] (RFC 5530) was retried at every pass as if the line had
dropped: `run --once` exited 75 ("mailbox unavailable"), and `check --create-folders` printed a
traceback; the daemon started, then failed every pass as a lost connection. It is a settings problem
(78, at start-up too), told with the server's separator; any other refusal is told by `check` in the
server's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require
from support import check_env, make_world, message, run_checks, throwaway_dovecot

from emaillog.cli import main
from emaillog.devmail import DevDovecot, ImapAccount, dovecot_available
from emaillog.mailbox import FolderUnusable
from emaillog.parallel import InlineParser
from emaillog.reconnect import EXIT_CONFIG, EXIT_TEMPFAIL, start_up_failure
from emaillog.rules import DEFAULT_CHAIN
from emaillog.sdnotify import Notifier
from emaillog.watch import Daemon

FOLDERS = "Processed and Error folders"  # the step of `emaillog check`


def test_folders_named_in_any_script_with_spaces_and_quotes(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    intake, processed, error = "Eingang CRM", "Erledigt – geprüft", 'Fehler/Überprüfung "neu"'
    world = make_world(
        tmp_path,
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        imap_account,
        EMAILLOG_INTAKE_FOLDER=intake,
        EMAILLOG_PROCESSED_FOLDER=processed,
        EMAILLOG_ERROR_FOLDER=error,
    )
    client = world.client()
    client.create_folder(intake)
    client.logout()
    world.deliver(
        message(), message(sender="Stranger <x@other.example>", message_id="<m2@acme.example>"), folder=intake
    )
    assert world.run_pass().moved == 2
    assert world.run_pass().seen == 0
    assert world.folder_counts() == {intake: 0, processed: 1, error: 1}


@pytest.fixture(scope="module")
def dotted() -> Iterator[DevDovecot]:
    """Folders under "INBOX.", levels separated by '.' (Courier, Cyrus)."""
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    with throwaway_dovecot("dotted", personal_prefix="INBOX.") as server:
        yield server


@pytest.mark.parametrize(
    ("separator", "name", "refusal"),
    [("/", "Processed.2024", "Character not allowed"), (".", "Processed/2024", "must not have '/'")],
)
def test_a_folder_name_the_server_will_not_take_is_a_settings_problem(
    tmp_path: Path,
    dovecot: DevDovecot,
    dotted: DevDovecot,
    capsys: pytest.CaptureFixture[str],
    separator: str,
    name: str,
    refusal: str,
) -> None:
    server = dovecot if separator == "/" else dotted
    account = server.add_user(f"names-{tmp_path.name[-8:]}", "pw")
    env = check_env(
        tmp_path,
        account,
        EMAILLOG_PROCESSED_FOLDER=name,
        EMAILLOG_BCC_ADDRESS="log@acme.example",
        EMAILLOG_COMPANY_DOMAINS="acme.example",
        EMAILLOG_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    code, steps = run_checks(env, capsys, create_folders=True)
    assert code == EXIT_CONFIG
    detail = steps[FOLDERS]["detail"]
    assert refusal in detail and f"separated by '{separator}'" in detail, detail
    assert main(["--env-file", str(env), "run", "--once"]) == EXIT_CONFIG
    assert (
        f"will not create the folder {'INBOX.' if separator == '.' else ''}{name}" in capsys.readouterr().err
    )


def test_a_create_the_server_answers_otherwise_is_told_by_check_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Folders under "INBOX." on a server that does not announce NAMESPACE: CREATE Processed gets a NO
    # without a response code, of which nothing says whether it lasts.
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    capabilities = ("IMAP4rev1", "LITERAL+", "UIDPLUS", "MOVE", "IDLE")
    with throwaway_dovecot("nons", personal_prefix="INBOX.", capabilities=capabilities) as server:
        env = check_env(tmp_path, server.add_user("nons", "pw"))
        code, steps = run_checks(env, capsys, create_folders=True)
    assert code == EXIT_TEMPFAIL
    assert steps[FOLDERS]["detail"].startswith("cannot create Processed, Error: create failed: "), steps[
        FOLDERS
    ]
    assert "prefixed with: INBOX." in steps[FOLDERS]["detail"]


def test_the_daemon_does_not_start_with_a_folder_the_server_will_not_create(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    # It started (READY=1), then failed every pass as a lost connection and reconnected for ever.
    world = make_world(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", imap_account, EMAILLOG_ERROR_FOLDER="Error.2024"
    )
    daemon = Daemon(world.settings, world.store, DEFAULT_CHAIN, Notifier(None), parser=InlineParser())
    with pytest.raises(FolderUnusable, match=r"will not create the folder Error\.2024") as raised:
        daemon.start(install_signals=False)
    assert start_up_failure(raised.value)[0] == EXIT_CONFIG
    assert daemon.mailbox is None and daemon.login_state == "missing"
