"""Leases: one process per mailbox; a process killed with -9 frees its mailboxes at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import wait_until

from emaillog.lease import AdvisoryLeases, FileLeases, leases_for

HOLDER = """
import sys, time
from emaillog.lease import leases_for
from pathlib import Path
leases = leases_for(sys.argv[1], Path(sys.argv[2]))
assert leases.acquire("acme")
print("held", flush=True)
time.sleep(600)
"""


def hold_in_child(url: str, data_dir: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_one_holder_at_a_time_and_kill_9_frees_it(database_url: str, tmp_path: Path) -> None:
    child = hold_in_child(database_url, tmp_path)
    leases = leases_for(database_url, tmp_path)
    try:
        assert not leases.acquire("acme")
        assert leases.acquire("globex")  # another mailbox is free
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        waited = wait_until(lambda: leases.acquire("acme"))
        assert waited < 30
        assert leases.alive()
    finally:
        leases.release_all()
        if child.poll() is None:
            child.kill()


def test_one_lease_given_back_frees_that_mailbox_only(database_url: str, tmp_path: Path) -> None:
    mine, theirs = leases_for(database_url, tmp_path), leases_for(database_url, tmp_path)
    try:
        assert mine.acquire("acme") and mine.acquire("globex")
        mine.release("acme")
        assert theirs.acquire("acme")
        assert not theirs.acquire("globex")
        assert mine.alive() and mine.acquire("globex")  # still held: the session was kept
    finally:
        mine.release_all()
        theirs.release_all()


def test_kinds(tmp_path: Path) -> None:
    assert isinstance(leases_for("sqlite:///x", tmp_path), FileLeases)
    assert isinstance(leases_for("postgresql://u@h/db", tmp_path), AdvisoryLeases)


def test_losing_the_session_loses_the_leases(postgres, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = postgres.create_database("lease_session")
    try:
        leases = AdvisoryLeases(url)
        assert leases.acquire("acme")
        assert leases._conn is not None
        leases._conn.close()  # the server side of the session is gone
        assert not leases.alive() and leases.held == set()
        assert leases.acquire("acme")  # a new session can take it again
        leases.release_all()
    finally:
        postgres.drop_database("lease_session")


pytestmark = pytest.mark.live


def test_an_unreachable_database_means_no_lease_not_a_crash() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    leases = AdvisoryLeases(f"postgresql://nobody@127.0.0.1:{port}/none")
    assert leases.acquire("acme") is False
    assert leases.alive() is False


def test_the_lease_connection_keeps_the_urls_options(postgres) -> None:  # type: ignore[no-untyped-def]
    # The test cluster has no TLS: with sslmode=require every connection must be refused, the
    # lease's too, rather than go ahead in plain text with the password.
    leases = AdvisoryLeases(postgres.url() + "?sslmode=require")
    assert leases.acquire("acme") is False
    leases = AdvisoryLeases(postgres.url() + "?sslmode=disable&options=-c%20statement_timeout%3D1234")
    try:
        assert leases.acquire("acme")
        assert leases._conn is not None
        with leases._conn.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "1234ms"
    finally:
        leases.release_all()


def _busy(started: Any) -> None:
    started.set()
    time.sleep(60)


def test_a_forked_child_does_not_hold_its_parents_lease(tmp_path: Path) -> None:
    """A parser worker is forked with the lease's descriptor; a flock belongs to the open file, so
    a worker outliving its daemon (or a lease given back on SIGHUP) kept the mailbox locked."""
    mine = FileLeases(tmp_path)
    assert mine.acquire("acme")
    fork = multiprocessing.get_context("fork")
    started = fork.Event()
    worker = fork.Process(target=_busy, args=(started,), daemon=True)
    worker.start()
    try:
        assert started.wait(30)  # past the fork's own steps in the child, the hook among them
        mine.release("acme")
        assert FileLeases(tmp_path).acquire("acme")  # the busy child holds nothing
    finally:
        worker.kill()
        worker.join()
