"""The sd_notify protocol: tell systemd that the daemon is ready, alive, reloading or stopping.

A message is a few ``KEY=value`` lines sent as one datagram to the AF_UNIX socket named in
``$NOTIFY_SOCKET`` (https://systemd.io/NOTIFY/ and sd_notify(3)). Written with the stdlib socket module
rather than a binding to libsystemd: the protocol is this small, and the daemon must also run where
systemd is absent (a container, a developer's shell), where every method is a no-op.

Notification is advisory: a failed send must never stop mail from being logged, so nothing here raises.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _socket_address(value: str) -> str | None:
    """The address to send to, or None when ``$NOTIFY_SOCKET`` names nothing we can use."""
    if value.startswith("/"):
        return value
    # "@name" is a socket in Linux's abstract namespace, which Python spells with a leading NUL.
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    # systemd 253 added vsock:CID:PORT for virtual machines; the daemon never runs as a VM's init.
    return None


def _watchdog_seconds(environ: Mapping[str, str]) -> float | None:
    """The watchdog period systemd expects pings within, as sd_watchdog_enabled(3) reads it."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the
    # environment must not take the parent's job (or keep a dead parent looking alive).
    pid = environ.get("WATCHDOG_PID")
    if pid is not None and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


class Notifier:
    """Sends sd_notify messages to the service manager; does nothing when there is none."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self._address = address
        self._watchdog_seconds = watchdog_seconds
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """A notifier for ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        address = _socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("NOTIFY_SOCKET=%r is not a socket path; systemd will not be notified", raw)
        return cls(address, _watchdog_seconds(env))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def ready(self) -> None:
        """Start-up is complete: systemd marks the unit active and releases ``systemctl start``."""
        self._send("READY=1")

    def extend_start(self, seconds: float) -> None:
        """Start-up goes on: give it ``seconds`` more than TimeoutStartSec= if it needs them."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def status(self, text: str) -> None:
        """A one-line status shown by ``systemctl status``."""
        # A newline would end the STATUS field and start another assignment (READY=1, say).
        self._send("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> None:
        """Still alive: resets the WatchdogSec= timer."""
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutdown has begun (the message in hand is being finished)."""
        self._send("STOPPING=1")

    def reloading(self) -> None:
        """Settings are being re-read; send ``ready()`` when done."""
        # MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) tell this reload from an earlier one;
        # older versions ignore it. It must be CLOCK_MONOTONIC, the clock systemd itself uses.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds within which ``watchdog()`` must be called, or None when no watchdog is set."""
        return self._watchdog_seconds

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the daemon on a reader that is not reading: drop the datagram instead.
                sock.sendto(message.encode(), socket.MSG_DONTWAIT, self._address)
        except OSError as exc:
            self._warn_once(exc)

    def _warn_once(self, exc: OSError) -> None:
        # Once is enough: a watchdog ping every half minute must not flood the journal.
        if not self._warned:
            self._warned = True
            log.warning("cannot notify systemd (%s); further failures are not logged", exc)
