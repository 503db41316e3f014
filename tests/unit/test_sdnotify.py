"""sd_notify messages, received by a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from emaillog.sdnotify import Notifier

# The socket playing systemd's part, and the NOTIFY_SOCKET value that names it.
Manager = tuple[socket.socket, str]


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    """A bound datagram socket playing systemd's part, and the NOTIFY_SOCKET value naming it."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


def fields(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (Notifier.ready, {"READY": "1"}),
        (Notifier.watchdog, {"WATCHDOG": "1"}),
        (Notifier.stopping, {"STOPPING": "1"}),
    ],
)
def test_simple_messages(
    manager: Manager, call: Callable[[Notifier], None], expected: dict[str, str]
) -> None:
    sock, address = manager
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    call(notifier)
    assert fields(sock) == expected


def test_status_is_one_line(manager: Manager) -> None:
    sock, address = manager
    Notifier.from_environ({"NOTIFY_SOCKET": address}).status("polling INBOX\nREADY=1")
    assert fields(sock) == {"STATUS": "polling INBOX READY=1"}


def test_reloading_carries_monotonic_time(manager: Manager) -> None:
    sock, address = manager
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier.from_environ({"NOTIFY_SOCKET": address}).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    received = fields(sock)
    assert received["RELOADING"] == "1"
    assert before <= int(received["MONOTONIC_USEC"]) <= after


def test_abstract_socket() -> None:
    name = f"emaillog-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier.from_environ({"NOTIFY_SOCKET": "@" + name}).ready()
        assert fields(sock) == {"READY": "1"}


def test_unset_socket_is_a_no_op() -> None:
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    notifier.ready()
    notifier.status("x")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()


def test_unusable_socket_value_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    notifier.ready()
    assert "not a socket path" in caplog.text


def test_send_failure_warns_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="emaillog.sdnotify"):
        notifier.ready()
        notifier.watchdog()
        notifier.watchdog()
    assert len(caplog.records) == 1
    assert "cannot notify systemd" in caplog.records[0].getMessage()


def test_reads_environ_by_default(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    sock, address = manager
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    Notifier.from_environ().ready()
    assert fields(sock) == {"READY": "1"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert Notifier.from_environ(environ).watchdog_interval() == expected


def test_a_reload_whose_apply_fails_still_tells_systemd_it_is_ready(manager: Manager, tmp_path: Path) -> None:
    """systemd (Type=notify-reload) waits for READY=1 after RELOADING=1: an apply that raised (the
    database away while a mailbox restarts) left the reload hanging until systemd's timeout."""
    from emaillog.reloading import reload
    from emaillog.settings import load

    sock, address = manager
    settings = load(None, {"EMAILLOG_DATA_DIR": str(tmp_path)})

    def apply(*_: object) -> None:
        raise ConnectionError("the database went away")

    with pytest.raises(ConnectionError):
        reload(Notifier.from_environ({"NOTIFY_SOCKET": address}), lambda: settings, lambda s: None, apply)
    assert "RELOADING" in fields(sock)
    assert fields(sock) == {"READY": "1"}
