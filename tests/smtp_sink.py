"""A real SMTP server on loopback that keeps every message it is given, envelope and all.

Tests talk to it through smtplib exactly as the product talks to a relay, then read back what
arrived. ``stop()``/``start()`` take the relay down and bring it back on the same port, to test
what the product does while its relay is away. ``answers`` and ``rcpt_answers`` make it refuse a
command (4xx/5xx at MAIL, RCPT per recipient, or after DATA), ``drop_at`` makes it hang up instead
of answering one, and ``connections`` counts the sessions opened to it. ``SilentRelay`` is a peer
that accepts a connection and then says nothing, or only one line (a 421), and hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: ``mail_from`` is "" for the null sender (MAIL FROM:<>)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    mail_options: tuple[str, ...] = ()  # the MAIL FROM parameters, e.g. "BODY=8BITMIME"


class _Recorder:
    """The aiosmtpd handler: runs on the server's thread, so it only appends under a lock."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> Any:
        return self._sink._answer("MAIL", server)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> Any:
        answer = self._sink.rcpt_answers.get(address) or self._sink._answer("RCPT", server)
        if answer is MISSING:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._sink.stall_data:
            # Takes the message and never answers: a relay hung while it scans the content.
            await asyncio.sleep(self._sink.stall_data)
        answer = self._sink._answer("DATA", server)
        if answer is not MISSING:
            return str(answer)
        content = envelope.original_content or b""
        # aiosmtpd reports the null reverse-path as "<>"; "" is what smtplib's callers pass for it.
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        options = tuple(envelope.mail_options)
        message = ReceivedMessage(mail_from, tuple(envelope.rcpt_tos), bytes(content), options)
        self._sink._record(message)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpSink:
    """Start it, send to ``(host, port)``, then look at ``messages`` or ``wait_for`` them."""

    def __init__(self, port: int | None = None, smtputf8: bool = True, **server_options: Any) -> None:
        """``server_options`` go to aiosmtpd as they are: ``tls_context`` and ``require_starttls``
        (STARTTLS), ``ssl_context`` (TLS from the first byte, as on port 465), ``authenticator``."""
        self.host = HOST
        self.port = port if port is not None else _free_port()
        self.smtputf8 = smtputf8  # False: a relay that does not offer SMTPUTF8 (RFC 6531)
        self.server_options = server_options
        # The reply to give instead of 250 at "MAIL", "RCPT" or "DATA" (after the message), e.g.
        # "451 4.3.0 try later"; per recipient address in rcpt_answers.
        self.answers: dict[str, str] = {}
        self.rcpt_answers: dict[str, str] = {}
        self.drop_at: str | None = None  # "MAIL", "RCPT" or "DATA": hang up instead of answering
        self.stall_data = 0.0  # seconds to sit on a message before answering it
        self.connections = 0  # sessions opened since start()
        self._messages: list[ReceivedMessage] = []
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._changed:
            return list(self._messages)

    def clear(self) -> None:
        with self._changed:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages arrived; fail with what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {count} messages within {timeout}s, got {len(self._messages)}"
                    )
                self._changed.wait(remaining)
            return list(self._messages)

    def _answer(self, command: str, server: SMTP) -> Any:
        if self.drop_at == command:
            assert server.transport is not None
            server.transport.close()
            return "421 closing"  # never reaches the client: the connection is gone
        return self.answers.get(command, MISSING)

    def _connected(self) -> None:
        with self._changed:
            self.connections += 1

    def _record(self, message: ReceivedMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def start(self) -> None:
        # A Controller is single-use in practice; a fresh one per start keeps restarts simple.
        if self._controller is not None:
            return
        controller = _CountingController(
            self,
            _Recorder(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=10.0,
            enable_SMTPUTF8=self.smtputf8,
            **self.server_options,
        )
        controller.start()
        self._controller = controller
        self.connections = 0  # not the controller's own look at whether the server is up

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _CountingSMTP(SMTP):
    """aiosmtpd's server, telling the sink of each connection it accepts."""

    def __init__(self, sink: SmtpSink, handler: Any, **options: Any) -> None:
        super().__init__(handler, **options)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sink._connected()
        super().connection_made(transport)


class _CountingController(Controller):
    def __init__(self, sink: SmtpSink, handler: Any, **options: Any) -> None:
        super().__init__(handler, **options)
        self._sink = sink

    def factory(self) -> SMTP:
        return _CountingSMTP(self._sink, self.handler, **self.SMTP_kwargs)


class SilentRelay:
    """A peer on loopback that accepts connections and sends ``greeting`` (nothing, by default: a
    relay that never says its banner), then holds the connection until stopped or hangs up."""

    def __init__(self, greeting: bytes = b"", hang_up: bool = False) -> None:
        self.greeting, self.hang_up = greeting, hang_up
        self._listener = socket.create_server((HOST, 0))
        self.host, self.port = HOST, self._listener.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            self.connections += 1
            conn.sendall(self.greeting)
            if self.hang_up:
                conn.close()
            else:
                self._held.append(conn)

    def __enter__(self) -> SilentRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for conn in self._held:
            conn.close()
        stop_listening(self._listener, self._thread)


@contextlib.contextmanager
def serving(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A test server on loopback that hands each connection it accepts to ``handle``; its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # stop_listening
                return
            handle(conn)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop_listening(listener, thread)


def stop_listening(listener: socket.socket, thread: threading.Thread) -> None:
    """Close a test server's listening socket and wait for its accept loop to end. shutdown()
    wakes the accept() that close() alone leaves blocked: the join then waited out its 5 s."""
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=5)


def private_ca_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context whose certificate for 127.0.0.1 is signed by itself, as by a private CA
    nobody's system store holds; and that certificate's file, for a client told to trust it."""
    key, cert = directory / "relay-key.pem", directory / "relay-cert.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert
