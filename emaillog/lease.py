"""Leases: each mailbox is worked by exactly one process at a time (SPEC §14).

On PostgreSQL a lease is a session advisory lock held on a connection of its own: when the process
dies — even by ``kill -9`` — the server sees the socket close and frees the lock at once, so
another worker takes the mailbox over on its next attempt (every few seconds). With SQLite all
workers share one machine, and an ``flock`` on a file per mailbox does the same job.

A lease is an optimisation of work, not the guarantee of exactly-once: the ledger, the unique
keys and MOVE already make a double pass harmless. It keeps two workers from racing for nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import weakref
from pathlib import Path
from typing import IO, Any, Protocol

from .databaseurl import POSTGRESQL_URLS
from .reconnect import one_line

log = logging.getLogger("emaillog.lease")

LEASE_DIR = "leases"  # under the data dir: one lock file per mailbox (SQLite)


class Leases(Protocol):
    def acquire(self, mailbox: str) -> bool: ...
    def alive(self) -> bool: ...
    def release(self, mailbox: str) -> None: ...
    def release_all(self) -> None: ...


def lock_key(mailbox: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    return int.from_bytes(
        hashlib.sha256(f"emaillog-mailbox:{mailbox}".encode()).digest()[:8], "big", signed=True
    )


class AdvisoryLeases:
    """PostgreSQL session advisory locks on a dedicated connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.held: set[str] = set()
        self._conn: Any = None
        self._unavailable = False

    def _connection(self) -> Any:
        import psycopg2

        if self._conn is None or self._conn.closed:
            from .store.db import postgres_params

            # The URL's query options too: without them sslmode=verify-full (or require) was dropped
            # here, and this connection went out in plain text, its password open to a MITM.
            params = postgres_params(self.url)
            params.setdefault("connect_timeout", 10)
            params["application_name"] = f"emaillog-lease-{os.getpid()}"
            self._conn = psycopg2.connect(**params)
            self._conn.autocommit = True
            self.held.clear()  # a new session holds nothing
        return self._conn

    def acquire(self, mailbox: str) -> bool:
        """Take the lease if it is free; False also while the database cannot be reached."""
        import psycopg2

        if mailbox in self.held and self.alive():
            return True
        self.alive()  # a lost session forgets what it held before a new one is opened
        try:
            with self._connection().cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(mailbox),))
                row = cursor.fetchone()
        except psycopg2.Error as exc:
            if not self._unavailable:  # once an outage: the fleet tries again every few seconds
                log.warning(
                    "lease for mailbox %s not taken: the database is unavailable (%s)", mailbox, one_line(exc)
                )
            self._unavailable = True
            self.release_all()
            return False
        self._unavailable = False
        if row and row[0]:
            self.held.add(mailbox)
            log.info("lease taken: mailbox %s", mailbox)
            return True
        return False

    def alive(self) -> bool:
        """The session still exists, so its locks are still ours."""
        if self._conn is None or self._conn.closed:
            self.held.clear()
            return False
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means the session (and its locks) is gone
            self.held.clear()
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return False

    def release(self, mailbox: str) -> None:
        """Give one lease back (a mailbox no longer configured); the session keeps the others."""
        if mailbox not in self.held or self._conn is None or self._conn.closed:
            return
        self.held.discard(mailbox)
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (lock_key(mailbox),))
        except Exception:  # noqa: BLE001 - a lost session has freed the lock already
            self.alive()

    def release_all(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()  # closing the session frees every lock it held
        self._conn = None
        self.held.clear()


class FileLeases:
    """flock on <data dir>/leases/<mailbox>.lock: freed by the kernel when the process dies."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, IO[bytes]] = {}
        _IN_THIS_PROCESS.add(self)

    def acquire(self, mailbox: str) -> bool:
        if mailbox in self.files:
            return True
        self.directory.mkdir(parents=True, exist_ok=True)
        handle = open(self.directory / f"{mailbox}.lock", "ab")  # noqa: SIM115 - held while the lease is
        # Known before it is locked: a fork meanwhile (another thread's) drops it in the child too.
        self.files[mailbox] = handle
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            del self.files[mailbox]
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        log.info("lease taken: mailbox %s", mailbox)
        return True

    def alive(self) -> bool:
        return True

    def holder(self, mailbox: str) -> int | None:
        """The pid written by the process that holds ``mailbox``'s lease, if it can be read."""
        try:
            return int((self.directory / f"{mailbox}.lock").read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self, mailbox: str) -> None:
        handle = self.files.pop(mailbox, None)
        if handle is not None:
            handle.close()

    def release_all(self) -> None:
        for handle in self.files.values():
            handle.close()
        self.files.clear()


# A flock belongs to the open file, so a forked child (a parser worker) holds the lease too for as
# long as it keeps the inherited descriptor: the child closes it at once and the lease stays the
# daemon's alone, freed when the daemon dies.
_IN_THIS_PROCESS: weakref.WeakSet[FileLeases] = weakref.WeakSet()


def _drop_inherited_leases() -> None:
    for leases in list(_IN_THIS_PROCESS):
        leases.release_all()


os.register_at_fork(after_in_child=_drop_inherited_leases)


def leases_for(database_url: str, data_dir: Path) -> Leases:
    if database_url.startswith(POSTGRESQL_URLS):
        return AdvisoryLeases(database_url)
    return FileLeases(data_dir / LEASE_DIR)
