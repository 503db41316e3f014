"""`emaillog check` against real servers: all green, then failing at each step with a clear message."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from imapclient import IMAPClient
from smtp_sink import SmtpSink, private_ca_context, serving
from support import check_env, run_checks

from emaillog.check import run_check
from emaillog.devmail import DevDovecot, ImapAccount, free_port
from emaillog.store.db import open_database
from emaillog.store.models import SchemaVersion

ROOT = Path(__file__).resolve().parents[2]


def test_all_steps_pass_and_folders_can_be_created(
    tmp_path: Path, imap_account: ImapAccount, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    env = check_env(
        tmp_path,
        imap_account,
        EMAILLOG_SMTP_HOST=smtp_sink.host,
        EMAILLOG_SMTP_PORT=str(smtp_sink.port),
        EMAILLOG_SMTP_SECURITY="none",
    )
    code, steps = run_checks(env, capsys)
    # Missing folders are no failure: the daemon creates them when it connects.
    assert code == 0 and steps["Processed and Error folders"]["result"] == "warn"
    assert "the daemon creates them when it connects" in steps["Processed and Error folders"]["detail"]
    code, steps = run_checks(env, capsys, create_folders=True)
    assert steps["Processed and Error folders"]["detail"] == "created Processed, Error"
    # The database has not been created yet: the daemon creates it at start, and a check leaves no
    # empty database (nor its directory) behind.
    assert steps["database"]["result"] == "warn" and "creates it at start" in steps["database"]["detail"]
    assert code == 0
    assert not (tmp_path / "data").exists()
    open_database(f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}").close()
    code, steps = run_checks(env, capsys)
    assert code == 0
    assert {name: s["result"] for name, s in steps.items()} == {
        "settings": "ok",
        "DNS": "ok",
        "connect and TLS": "ok",
        "login": "ok",
        "capabilities": "ok",
        "intake folder": "ok",
        "Processed and Error folders": "ok",
        "database": "ok",
        "SMTP relay": "ok",
        "sender authentication": "ok",
    }
    assert steps["capabilities"]["detail"] == "MOVE, UIDPLUS and IDLE"


def test_bad_settings(tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_POLL_SECONDS="0"), capsys)
    assert code == 78 and "EMAILLOG_POLL_SECONDS: 0 is below the minimum" in steps["settings"]["detail"]


def test_unknown_host(tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]) -> None:
    # TLS: a login to another machine never travels in clear (settings refuse security=none there).
    env = check_env(
        tmp_path, imap_account, EMAILLOG_IMAP_HOST="no-such-host.invalid", EMAILLOG_IMAP_SECURITY="ssl"
    )
    code, steps = run_checks(env, capsys)
    assert code == 75 and steps["DNS"]["detail"].startswith("cannot resolve no-such-host.invalid")
    assert steps["login"]["result"] == "skip"


def test_nothing_listening(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_IMAP_PORT=str(free_port())), capsys)
    assert code == 75 and "cannot connect to 127.0.0.1" in steps["connect and TLS"]["detail"]


def test_tls_to_a_plain_port(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_IMAP_SECURITY="ssl"), capsys)
    assert (
        code == 75
        and "is EMAILLOG_IMAP_SECURITY=ssl right for this port?" in steps["connect and TLS"]["detail"]
    )


@pytest.fixture
def untrusted_tls_port(tmp_path: Path) -> Iterator[int]:
    """A TLS server with a self-signed certificate (nobody's CA)."""
    context, _ = private_ca_context(tmp_path)

    def greet_and_close(conn: socket.socket) -> None:
        # Every connection (check's TLS step, then its login) gets a greeting and is closed.
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"* OK ready\r\n")
        except OSError:
            pass

    with serving(greet_and_close) as port:
        yield port


def test_untrusted_certificate(
    tmp_path: Path, imap_account: ImapAccount, untrusted_tls_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    env = check_env(
        tmp_path, imap_account, EMAILLOG_IMAP_SECURITY="ssl", EMAILLOG_IMAP_PORT=str(untrusted_tls_port)
    )
    code, steps = run_checks(env, capsys)
    detail = steps["connect and TLS"]["detail"]
    assert code == 78 and "certificate of 127.0.0.1 is not trusted" in detail and "self-signed" in detail


def test_a_certificate_not_verified_is_a_warning_not_ok(
    tmp_path: Path, imap_account: ImapAccount, untrusted_tls_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    env = check_env(
        tmp_path,
        imap_account,
        EMAILLOG_IMAP_SECURITY="ssl",
        EMAILLOG_IMAP_PORT=str(untrusted_tls_port),
        EMAILLOG_IMAP_VERIFY_TLS="no",
    )
    _, steps = run_checks(env, capsys)
    step = steps["connect and TLS"]
    assert step["result"] == "warn" and "certificate NOT verified" in step["detail"]


# ESC sequences (set the window title), a bidi override (shows the rest reversed), a C1 CSI.
HOSTILE_WORDS = "\x1b]0;owned\x07 \u202eevil \x9b31m"


@pytest.fixture
def hostile_starttls_port() -> Iterator[int]:
    """A server that greets, then refuses STARTTLS in words written for a terminal."""

    def refuse_starttls(conn: socket.socket) -> None:
        with conn:
            conn.sendall(b"* OK ready\r\n")
            conn.recv(100)
            conn.sendall(f"c1 NO {HOSTILE_WORDS}\r\n".encode())

    with serving(refuse_starttls) as port:
        yield port


def test_the_servers_words_reach_no_terminal_raw(
    tmp_path: Path, imap_account: ImapAccount, hostile_starttls_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    env = check_env(
        tmp_path,
        imap_account,
        EMAILLOG_IMAP_SECURITY="starttls",
        EMAILLOG_IMAP_PORT=str(hostile_starttls_port),
    )
    for as_json in (False, True):
        code = run_check(env, as_json=as_json)
        out = capsys.readouterr().out
        assert code == 78 and "STARTTLS refused: c1 NO " in out
        assert not any(char in out for char in "\x1b\x07\u202e\x9b"), out
    # The JSON escapes them, and a program reading it has the server's words as they were.
    step = next(s for s in json.loads(out) if s["step"] == "connect and TLS")
    assert HOSTILE_WORDS in step["detail"]


def test_login_refused(tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]) -> None:
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_IMAP_PASSWORD="wrong"), capsys)
    assert code == 77 and "Authentication failed" in steps["login"]["detail"]


def test_missing_intake_folder(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_INTAKE_FOLDER="Nope"), capsys)
    assert code == 78 and steps["intake folder"]["detail"] == "Nope does not exist (EMAILLOG_INTAKE_FOLDER)"


def test_a_processed_folder_that_exists_only_as_a_parent_is_missing(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    client = IMAPClient(imap_account.host, imap_account.port, ssl=False)
    client.login(imap_account.user, imap_account.password)
    for name in ("Processed/2024", "Error"):
        client.create_folder(name)
    client.logout()
    code, steps = run_checks(check_env(tmp_path, imap_account), capsys)
    step = steps["Processed and Error folders"]
    assert code == 0 and step["result"] == "warn" and step["detail"].startswith("missing: Processed;")
    code, steps = run_checks(check_env(tmp_path, imap_account), capsys, create_folders=True)
    assert steps["Processed and Error folders"]["detail"] == "created Processed"


def _with_folders(account: ImapAccount) -> None:
    client = IMAPClient(account.host, account.port, ssl=False)
    client.login(account.user, account.password)
    for name in ("Processed", "Error"):
        client.create_folder(name)
    client.logout()


def test_database_unreachable(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_folders(imap_account)
    url = f"postgresql://emaillog:secret@127.0.0.1:{free_port()}/emaillog"
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_DATABASE_URL=url), capsys)
    detail = steps["database"]["detail"]
    assert (
        code == 75
        and detail.startswith("cannot use postgresql://emaillog@127.0.0.1")
        and "secret" not in detail
    )


def test_database_password_in_the_query_is_not_shown(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # libpq takes any keyword from the query, the password too; `check` shows the URL it tried.
    _with_folders(imap_account)
    url = f"postgresql://127.0.0.1:{free_port()}/emaillog?user=emaillog&password=s3cret&sslmode=prefer"
    code, steps = run_checks(check_env(tmp_path, imap_account, EMAILLOG_DATABASE_URL=url), capsys)
    detail = steps["database"]["detail"]
    assert code == 75 and "s3cret" not in detail and "password=***&sslmode=prefer" in detail


def test_a_database_that_could_not_be_created(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not there yet, and the daemon could not create it: EMAILLOG_DATABASE_URL names a file under a file.
    _with_folders(imap_account)
    (tmp_path / "not-a-dir").write_text("")
    url = f"sqlite:///{tmp_path / 'not-a-dir' / 'emaillog.sqlite3'}"
    env = check_env(tmp_path, imap_account, EMAILLOG_DATABASE_URL=url)
    code, steps = run_checks(env, capsys)
    # A settings problem (the daemon stops on it before it takes a lease), so the first step says it.
    detail = steps["settings"]["detail"]
    assert code == 78 and steps["settings"]["result"] == "FAIL"
    assert f"EMAILLOG_DATABASE_URL: {tmp_path / 'not-a-dir' / 'emaillog.sqlite3'} cannot be created" in detail
    assert f"{tmp_path / 'not-a-dir'} is not a directory" in detail, detail
    # A directory where the file should be: "no database there yet" (0) before, 75 from the daemon.
    env = check_env(tmp_path, imap_account, EMAILLOG_DATABASE_URL=f"sqlite:///{tmp_path}")
    code, steps = run_checks(env, capsys)
    assert code == 78 and f"EMAILLOG_DATABASE_URL: {tmp_path} is not a file" in steps["settings"]["detail"]


def test_database_newer_than_the_program(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_folders(imap_account)
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}")
    SchemaVersion.create(version=99)
    db.close()
    code, steps = run_checks(check_env(tmp_path, imap_account), capsys)
    assert code == 78 and "at schema 99, newer than this emaillog" in steps["database"]["detail"]


def test_smtp_relay_unreachable(
    tmp_path: Path, imap_account: ImapAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_folders(imap_account)
    env = check_env(
        tmp_path,
        imap_account,
        EMAILLOG_SMTP_HOST="127.0.0.1",
        EMAILLOG_SMTP_PORT=str(free_port()),
        EMAILLOG_SMTP_SECURITY="none",
    )
    code, steps = run_checks(env, capsys)
    assert code == 75 and steps["SMTP relay"]["detail"].startswith("cannot reach the relay 127.0.0.1:")


@pytest.fixture
def refusing_relay() -> Iterator[int]:
    port = free_port()

    def refuse(server: object, session: object, envelope: object, mechanism: str, data: object) -> AuthResult:
        return AuthResult(success=False, handled=False)

    controller = Controller(
        object(),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
        authenticator=refuse,
    )
    controller.start()
    yield port
    controller.stop()


def test_smtp_login_refused(
    tmp_path: Path, imap_account: ImapAccount, refusing_relay: int, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_folders(imap_account)
    env = check_env(
        tmp_path,
        imap_account,
        EMAILLOG_SMTP_HOST="127.0.0.1",
        EMAILLOG_SMTP_PORT=str(refusing_relay),
        EMAILLOG_SMTP_SECURITY="none",
        EMAILLOG_SMTP_USER="crm",
        EMAILLOG_SMTP_PASSWORD="bad",
    )
    code, steps = run_checks(env, capsys)
    assert code == 77 and "refused the login of crm: 535" in steps["SMTP relay"]["detail"], [
        (s["step"], s["detail"]) for s in steps.values() if s["result"] == "FAIL"
    ]


def test_warns_without_sender_authentication_through_the_cli(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    _with_folders(imap_account)
    env = check_env(tmp_path, imap_account, EMAILLOG_TRUSTED_AUTHSERV_IDS="")
    done = subprocess.run(
        [sys.executable, "-m", "emaillog", "--env-file", str(env), "check"],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warn  sender authentication: EMAILLOG_TRUSTED_AUTHSERV_IDS is not set" in done.stdout
    assert "ok    login: logged in as" in done.stdout


def test_read_only_intake_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="emaillog-acl-dovecot-"))
    root.chmod(0o755)
    server = DevDovecot(root, read_only_folders=["Shared"])
    server.start()
    try:
        account = server.add_user("acl", "acl-password")
        server.seed_maildir("acl", "Shared", [b"Subject: x\r\n\r\nhello\r\n"])
        _with_folders(account)
        code, steps = run_checks(check_env(tmp_path, account, EMAILLOG_INTAKE_FOLDER="Shared"), capsys)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert code == 78
    assert steps["intake folder"]["detail"].startswith("Shared is read-only for acl: messages could never")
