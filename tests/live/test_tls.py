"""TLS to the mailbox as the daemon meets it: a certificate nobody vouches for, a certificate for
another name, a server that offers no STARTTLS. Each stops ``daemon.py --once`` before any login, in
one line naming the host and the setting to change, with the exit code ``emaillog check`` gives (78).

The suite's Dovecot speaks no TLS: a relay with a self-signed certificate for 127.0.0.1 stands in
front of it for the ssl cases, and Dovecot itself is the server without STARTTLS."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_sink import private_ca_context, stop_listening

from emaillog.devmail import DevDovecot, ImapAccount

ROOT = Path(__file__).resolve().parents[2]


class TlsFront:
    """Accepts TLS with a private CA's certificate for 127.0.0.1 and relays the plain bytes to Dovecot."""

    def __init__(self, directory: Path, upstream: tuple[str, int]) -> None:
        self.context, self.ca_file = private_ca_context(directory)
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()  # the client refused the certificate: what these tests expect
            return
        server = socket.create_connection(self.upstream)
        threading.Thread(target=_pipe, args=(client, server), daemon=True).start()
        _pipe(server, client)

    def close(self) -> None:
        stop_listening(self.listener, self._thread)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def tls_front(tmp_path: Path, imap_account: ImapAccount) -> Iterator[TlsFront]:
    front = TlsFront(tmp_path, (imap_account.host, imap_account.port))
    yield front
    front.close()


def once(tmp_path: Path, account: ImapAccount, **settings: str) -> tuple[int, str]:
    values = {
        **account.settings(),
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        "EMAILLOG_BCC_ADDRESS": "log@acme.example",
        "EMAILLOG_COMPANY_DOMAINS": "acme.example",
        "EMAILLOG_IMAP_TIMEOUT": "5",
        **settings,
    }
    env_file = tmp_path / "emaillog.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    done = subprocess.run(
        [sys.executable, str(ROOT / "daemon.py"), "--once", "--env-file", str(env_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def test_a_certificate_nobody_vouches_for_stops_the_daemon_naming_the_ca_setting(
    tmp_path: Path, imap_account: ImapAccount, tls_front: TlsFront
) -> None:
    code, log = once(
        tmp_path, imap_account, EMAILLOG_IMAP_SECURITY="ssl", EMAILLOG_IMAP_PORT=str(tls_front.port)
    )
    assert code == 78, log
    assert "the certificate of 127.0.0.1 is not trusted: self-signed certificate" in log, log
    assert "EMAILLOG_IMAP_CA_FILE" in log, log
    # With the private CA named, the same server is trusted and the pass runs.
    code, log = once(
        tmp_path,
        imap_account,
        EMAILLOG_IMAP_SECURITY="ssl",
        EMAILLOG_IMAP_PORT=str(tls_front.port),
        EMAILLOG_IMAP_CA_FILE=str(tls_front.ca_file),
    )
    assert code == 0 and "pass done" in log, log


def test_a_certificate_for_another_name_stops_the_daemon_naming_the_host_setting(
    tmp_path: Path, imap_account: ImapAccount, tls_front: TlsFront
) -> None:
    code, log = once(
        tmp_path,
        imap_account,
        EMAILLOG_IMAP_HOST="localhost",  # the certificate is for 127.0.0.1
        EMAILLOG_IMAP_SECURITY="ssl",
        EMAILLOG_IMAP_PORT=str(tls_front.port),
        EMAILLOG_IMAP_CA_FILE=str(tls_front.ca_file),
    )
    assert code == 78, log
    assert "the certificate of localhost is not valid for that name" in log, log
    assert "EMAILLOG_IMAP_HOST" in log, log


def test_a_server_without_starttls_gets_no_login_in_clear(
    tmp_path: Path, dovecot: DevDovecot, imap_account: ImapAccount
) -> None:
    code, log = once(tmp_path, imap_account, EMAILLOG_IMAP_SECURITY="starttls")
    assert code == 78, log
    assert f"{imap_account.host}:{imap_account.port} (starttls) offers no STARTTLS" in log, log
    assert "the login is not sent in clear" in log and "EMAILLOG_IMAP_SECURITY" in log, log
    # Dovecot saw no attempt to log in as this user (auth_verbose logs every one).
    assert imap_account.user not in dovecot.log_text()


def test_a_postgresql_on_another_machine_without_verify_full_is_warned_of_at_start(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    # libpq's default (sslmode=prefer) checks no certificate and falls back to plain text. 192.0.2.1
    # (TEST-NET-1) is another machine that is never there: the pass stops at the database (75).
    url = "postgresql://crm:s3cret@192.0.2.1:5432/crm?connect_timeout=2"
    code, log = once(tmp_path, imap_account, EMAILLOG_DATABASE_URL=url)
    assert code == 75, log
    assert "the certificate of the database at 192.0.2.1 is NOT verified (sslmode=prefer)" in log, log
    assert "sslmode=verify-full" in log and "s3cret" not in log, log
    code, log = once(tmp_path, imap_account, EMAILLOG_DATABASE_URL=url + "&sslmode=verify-full")
    assert code == 75 and "NOT verified" not in log, log
