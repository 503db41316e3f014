"""A login that fails is a refusal (77) only when the server refused it (RFC 5530 codes read).

A server answers on a loopback socket with the bare IMAP needed to reach LOGIN: no Dovecot can be
made to say [UNAVAILABLE] or to drop the line mid-login on cue, so this small peer does.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import LoginRefused, MailboxError
from emaillog.settings import ImapSettings

LOGIN_ANSWERS = {
    "refused": b"NO [AUTHENTICATIONFAILED] Authentication failed.",
    "unavailable": b"NO [UNAVAILABLE] Temporary authentication failure.",
    # Gmail, over its 15 connections a user (Dovecot's [LIMIT] is in tests/live/test_server_limits.py).
    "too-many": b"NO [ALERT] Too many simultaneous connections. (Failure)",
    "cut": None,  # the connection closes instead of answering
}


def serve(listener: socket.socket, answer: bytes | None) -> None:
    conn, _ = listener.accept()
    with conn, conn.makefile("rb") as lines:
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] test server ready\r\n")
        for line in lines:
            tag, _, command = line.decode().strip().partition(" ")
            if command.upper().startswith("CAPABILITY"):
                conn.sendall(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
            elif command.upper().startswith("LOGIN"):
                if answer is None:
                    return
                conn.sendall(tag.encode() + b" " + answer + b"\r\n")
            else:
                conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ImapSettings]:
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=serve, args=(listener, LOGIN_ANSWERS[request.param]), daemon=True)
    thread.start()
    try:
        yield ImapSettings("127.0.0.1", listener.getsockname()[1], "none", "rita", "secret", timeout=5)
    finally:
        listener.close()
        thread.join(5)


@pytest.mark.parametrize("server", ["refused"], indirect=True)
def test_a_refused_login_is_login_refused(server: ImapSettings) -> None:
    with pytest.raises(LoginRefused, match="refused the login of rita"):
        ImapMailbox(server)


@pytest.mark.parametrize("server", ["unavailable", "too-many", "cut"], indirect=True)
def test_a_server_that_cannot_check_now_is_a_temporary_failure(server: ImapSettings) -> None:
    with pytest.raises(MailboxError) as raised:
        ImapMailbox(server)
    assert not isinstance(raised.value, LoginRefused), raised.value
