"""The command line when the database or the mailbox cannot be reached: one line and the SPEC §13
exit code (75 temporary, 77 login refused), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from emaillog.cli import main

# A mailbox on port 1 of loopback: nothing listens there, the connection is refused at once.
UNREACHABLE_IMAP = {
    "EMAILLOG_IMAP_HOST": "127.0.0.1",
    "EMAILLOG_IMAP_PORT": "1",
    "EMAILLOG_IMAP_SECURITY": "none",
    "EMAILLOG_IMAP_USER": "crm",
    "EMAILLOG_IMAP_PASSWORD": "pw",
}


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **values: str) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {"EMAILLOG_DATA_DIR": str(tmp_path / "data"), **values}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    "argv", [["users", "add", "a@acme.example"], ["emails", "list", "--json"], ["status", "--no-imap"]]
)
def test_database_unreachable_exits_75_in_one_line(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    _env(monkeypatch, tmp_path, EMAILLOG_DATABASE_URL="postgresql://emaillog:hunter2@127.0.0.1:1/crm")
    assert main(argv) == 75
    err = capsys.readouterr().err
    assert err.startswith("emaillog: database unavailable:") and "Traceback" not in err
    assert "hunter2" not in err


def test_errors_retry_with_the_mailbox_unreachable_exits_75(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path, **UNREACHABLE_IMAP)
    assert main(["errors", "retry", "--all", "--no-pass"]) == 75
    err = capsys.readouterr().err
    assert err.startswith("emaillog: mailbox unavailable:") and "Traceback" not in err


def test_the_daemon_with_its_database_unreachable_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # libpq's message spans lines ("...refused\n\tIs the server running on that host..."): under
    # journald each would be an entry of its own, without the level or the logger's name.
    _env(
        monkeypatch,
        tmp_path,
        EMAILLOG_DATABASE_URL="postgresql://emaillog:hunter2@127.0.0.1:1/crm",
        **UNREACHABLE_IMAP,
    )
    assert main(["run", "--once"]) == 75
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "ERROR emaillog: database unavailable: " in lines[0], lines
    assert "Is the server running" in lines[0] and "hunter2" not in lines[0]


@pytest.mark.parametrize("argv", [["users", "list"], ["users", "add", "a@acme.example"], ["run", "--once"]])
def test_a_file_that_is_not_a_database_is_one_line_and_78(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # EMAILLOG_DATABASE_URL naming a file that is not SQLite's (a backup archive, a typo'd path):
    # peewee's plain DatabaseError was a traceback and exit 1, for the daemon as for the admin.
    not_a_database = tmp_path / "crm.sqlite3"
    not_a_database.write_bytes(b"PK\x03\x04 a zip file, not SQLite\n" * 100)
    _env(monkeypatch, tmp_path, EMAILLOG_DATABASE_URL=f"sqlite:///{not_a_database}", **UNREACHABLE_IMAP)
    assert main(argv) == 78
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # The daemon logs its lease first; the last line is the answer.
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("database unusable: file is not a database (EMAILLOG_DATABASE_URL)")
    )
    assert not_a_database.read_bytes().startswith(b"PK\x03\x04")


def test_status_escapes_what_the_servers_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The daemon keeps the IMAP server's refusal and its last error in the state file; `status`
    # printed them raw: an OSC sequence retitled the terminal, a newline passed for another field.
    from emaillog.settings import load
    from emaillog.status import StateFile

    _env(monkeypatch, tmp_path, **UNREACHABLE_IMAP)
    assert main(["users", "add", "a@acme.example"]) == 0
    StateFile.for_settings(load()).update(
        login_state="refused",
        login_detail="[AUTHENTICATIONFAILED] no\x1b]0;pwned\x07\n  lease: held by pid 1",
        last_error="database: <a\x1b[2J@x>",
        last_summary="1 seen\x9b31m",
    )
    capsys.readouterr()
    assert main(["status", "--no-imap"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "IMAP refused: [AUTHENTICATIONFAILED] no\\x1b]0;pwned\\x07\\x0a  lease: held by pid 1" in out
    assert "  last error: database: <a\\x1b[2J@x>" in out.splitlines()
    assert "(1 seen\\x9b31m)" in out
