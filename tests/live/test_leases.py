"""Leases: one process per mailbox; a process killed with -9 frees its mailboxes at once."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg2
import pytest
from support import make_settings, wait_until

from emaillog.fleet import Fleet
from emaillog.fleetworkers import _Worker
from emaillog.lease import AdvisoryLeases, FileLeases, leases_for, lock_key, lock_key_legacy
from emaillog.rules import load_chain
from emaillog.runner import worked_elsewhere
from emaillog.sdnotify import Notifier
from emaillog.store import open_store

HOLDER = """
import sys, time
from emaillog.lease import leases_for
from pathlib import Path
leases = leases_for(sys.argv[1], Path(sys.argv[2]))
assert leases.acquire("acme", "acme")
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
        assert not leases.acquire("acme", "acme")
        assert leases.acquire("acme", "globex")  # another mailbox is free
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        waited = wait_until(lambda: leases.acquire("acme", "acme"))
        assert waited < 30
        assert leases.alive()
    finally:
        leases.release_all()
        if child.poll() is None:
            child.kill()


def test_one_lease_given_back_frees_that_mailbox_only(database_url: str, tmp_path: Path) -> None:
    mine, theirs = leases_for(database_url, tmp_path), leases_for(database_url, tmp_path)
    try:
        assert mine.acquire("acme", "acme") and mine.acquire("acme", "globex")
        mine.release("acme", "acme")
        assert theirs.acquire("acme", "acme")
        assert not theirs.acquire("acme", "globex")
        assert mine.alive() and mine.acquire("acme", "globex")  # still held: the session was kept
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
        assert leases.acquire("acme", "acme")
        assert leases._conn is not None
        leases._conn.close()  # the server side of the session is gone
        assert not leases.alive() and leases.held == set()
        assert leases.acquire("acme", "acme")  # a new session can take it again
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
    assert leases.acquire("acme", "acme") is False
    assert leases.alive() is False


def test_the_lease_connection_keeps_the_urls_options(postgres) -> None:  # type: ignore[no-untyped-def]
    # The test cluster has no TLS: with sslmode=require every connection must be refused, the
    # lease's too, rather than go ahead in plain text with the password.
    leases = AdvisoryLeases(postgres.url() + "?sslmode=require")
    assert leases.acquire("acme", "acme") is False
    leases = AdvisoryLeases(postgres.url() + "?sslmode=disable&options=-c%20statement_timeout%3D1234")
    try:
        assert leases.acquire("acme", "acme")
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
    assert mine.acquire("acme", "acme")
    fork = multiprocessing.get_context("fork")
    started = fork.Event()
    worker = fork.Process(target=_busy, args=(started,), daemon=True)
    worker.start()
    try:
        assert started.wait(30)  # past the fork's own steps in the child, the hook among them
        mine.release("acme", "acme")
        assert FileLeases(tmp_path).acquire("acme", "acme")  # the busy child holds nothing
    finally:
        worker.kill()
        worker.join()


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"lease_{uuid.uuid4().hex[:12]}"
    url: str = postgres.create_database(name)
    try:
        yield url
    finally:
        postgres.drop_database(name)


@contextlib.contextmanager
def session(url: str) -> Iterator[Any]:
    """A cursor on a session of its own, as a process of the previous version had; its advisory
    locks are freed on leaving (at once: the server frees them a moment after a close)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
            cursor.execute("SELECT pg_advisory_unlock_all()")
    finally:
        conn.close()


def _try_lock(cursor: Any, key: int) -> bool:
    cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    return bool(cursor.fetchone()[0])


def test_two_accounts_with_a_mailbox_of_the_same_name_do_not_block_each_other(pg_url: str) -> None:
    """Issue 6: two tenants on one PostgreSQL, each with the default mailbox name. Leased by the
    name alone, the second waited for the first for ever (its fleet idle, a --once run exit 75)."""
    acme, globex, acme_again = AdvisoryLeases(pg_url), AdvisoryLeases(pg_url), AdvisoryLeases(pg_url)
    try:
        assert acme.acquire("acme", "default")
        assert globex.acquire("globex", "default")
        assert not acme_again.acquire("acme", "default")  # within one account: still one process
        acme.release("acme", "default")
        assert acme_again.acquire("acme", "default")
        assert globex.alive() and globex.acquire("globex", "default")
    finally:
        for leases in (acme, globex, acme_again):
            leases.release_all()


# The key the versions before account-keyed leases (schema 12 and earlier) lock exclusive for the
# mailbox "default": the first 8 bytes of sha256("emaillog-mailbox:default"), as those processes,
# still running during a rolling upgrade, compute it. Written out, so that the test does not take
# lock_key_legacy's word for what they lock.
PREVIOUS_VERSIONS_KEY_OF_DEFAULT = 6731226826966629888


def test_a_process_of_the_previous_version_and_one_of_this_never_work_a_mailbox_together(
    pg_url: str,
) -> None:
    """A rolling upgrade: the old process leases by the name alone, exclusive; the new one takes
    that key too, shared, so each waits for the other whatever the new one's account."""
    assert lock_key_legacy("default") == PREVIOUS_VERSIONS_KEY_OF_DEFAULT
    new = AdvisoryLeases(pg_url)
    try:
        with session(pg_url) as old:
            assert _try_lock(old, PREVIOUS_VERSIONS_KEY_OF_DEFAULT)
            assert not new.acquire("acme", "default")
            assert new.acquire("acme", "sales")  # another name is free
            with session(pg_url) as other:  # both or neither: the account's lock was given back
                assert _try_lock(other, lock_key("acme", "default"))
        assert new.acquire("acme", "default")  # the old process is gone
        with session(pg_url) as old:
            assert not _try_lock(old, PREVIOUS_VERSIONS_KEY_OF_DEFAULT)
            new.release("acme", "default")  # given back: both locks
            assert _try_lock(old, PREVIOUS_VERSIONS_KEY_OF_DEFAULT)
    finally:
        new.release_all()


def test_an_admin_command_sees_the_daemon_of_its_own_account_only(pg_url: str, tmp_path: Path) -> None:
    """What `errors retry` asks (runner.worked_elsewhere): another tenant's daemon on a mailbox of the
    same name does not work this one's."""
    settings = make_settings(tmp_path, pg_url, EMAILLOG_ACCOUNT="globex")
    other = AdvisoryLeases(pg_url)
    try:
        assert other.acquire("globex", settings.mailbox_name)
        assert worked_elsewhere(settings)
        other.release("globex", settings.mailbox_name)
        assert other.acquire("acme", settings.mailbox_name)
        assert not worked_elsewhere(settings)
    finally:
        other.release_all()


def test_a_reload_that_moves_a_mailbox_to_another_account_gives_the_old_lease_back(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mailbox is leased under its new account from then on; the old account's lease, kept, was
    held by this process until it ended."""
    settings = make_settings(tmp_path, pg_url, EMAILLOG_ACCOUNT="acme")
    fleet = Fleet(settings, load_chain(settings.chain_file), open_store(settings).db, Notifier(None))
    monkeypatch.setattr(fleet, "_begin", lambda daemon, started: None)  # no IMAP here: no thread
    other = AdvisoryLeases(pg_url)
    name = settings.mailbox_name
    try:
        assert fleet._claim(settings)
        ended = threading.Thread(target=lambda: None)
        ended.start()
        fleet.workers[name] = _Worker(SimpleNamespace(stopping=False, requests=queue.SimpleQueue()), ended)  # type: ignore[arg-type]
        fleet._apply(replace(settings, account="acme-group"), fleet.chain)
        assert not other.acquire("acme-group", name)  # taken under the new account
        assert other.acquire("acme", name)
    finally:
        other.release_all()
        fleet.leases.release_all()
        fleet.parser.close()
