"""A real SMTP server on loopback that keeps every message it is given, envelope and all.

Tests talk to it through smtplib exactly as the product talks to a relay, then read back what
arrived. ``stop()``/``start()`` take the relay down and bring it back on the same port, to test
what the product does while its relay is away.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

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

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
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

    def __init__(self, port: int | None = None, smtputf8: bool = True) -> None:
        self.host = HOST
        self.port = port if port is not None else _free_port()
        self.smtputf8 = smtputf8  # False: a relay that does not offer SMTPUTF8 (RFC 6531)
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

    def _record(self, message: ReceivedMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def start(self) -> None:
        # A Controller is single-use in practice; a fresh one per start keeps restarts simple.
        if self._controller is not None:
            return
        controller = Controller(
            _Recorder(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=10.0,
            enable_SMTPUTF8=self.smtputf8,
        )
        controller.start()
        self._controller = controller

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
