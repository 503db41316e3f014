"""Leases: each mailbox is worked by exactly one process at a time (SPEC §14).

On PostgreSQL a lease is a session advisory lock held on a connection of its own: when the process
dies — even by ``kill -9`` — the server sees the socket close and frees the lock at once, so
another worker takes the mailbox over on its next attempt (every few seconds). With SQLite all
workers share one machine, and an ``flock`` on a file per mailbox does the same job.

A mailbox is named by its account and its name, as in the ledger: two tenants sharing one
PostgreSQL may each have a mailbox "default", and neither waits for the other's.

A lease is an optimisation of work, not the guarantee of exactly-once: the ledger, the unique
keys and MOVE already make a double pass harmless. It keeps two workers from racing for nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import weakref
from pathlib import Path
from typing import IO, Any, Protocol

from .databaseurl import POSTGRESQL_URLS
from .private import open_private, private_dir
from .reconnect import one_line

log = logging.getLogger("emaillog.lease")

LEASE_DIR = "leases"  # under the data dir: one lock file per mailbox (SQLite)


class Leases(Protocol):
    def acquire(self, account: str, mailbox: str) -> bool: ...
    def alive(self) -> bool: ...
    def workers(self, fleet: str) -> int | None: ...
    def release(self, account: str, mailbox: str) -> None: ...
    def release_all(self) -> None: ...


def lock_key(account: str, mailbox: str) -> int:
    """The key of the lease of ``account``'s ``mailbox``: taken exclusive, so one process works it.

    JSON keeps the two names apart whatever they hold (("a:b", "c") is not ("a", "b:c")), and the
    prefix keeps the key apart from the legacy ones."""
    return _key("emaillog-lease:" + json.dumps([account, mailbox]))


def lock_key_legacy(mailbox: str) -> int:
    """The key of the versions that leased a mailbox by its name alone (taken exclusive there).

    Taken shared here beside ``lock_key``: a process of the previous version and one of this one
    never work a mailbox of that name together during a rolling upgrade, while two processes of
    this version, of different accounts, share it and block each other nowhere."""
    return _key(f"emaillog-mailbox:{mailbox}")


def _key(text: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def key_halves(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint key as classid (its high 32 bits) and objid (its low)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


# The sessions holding a fleet's key: the processes working its mailboxes (AdvisoryLeases.workers).
_FLEET_MEMBERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock' AND classid = %s AND objid = %s
  AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class AdvisoryLeases:
    """PostgreSQL session advisory locks on a dedicated connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.held: set[tuple[str, str]] = set()  # (account, mailbox)
        self._conn: Any = None
        self._unavailable = False
        self._fleet_key: int | None = None  # the fleet key this session holds shared (workers)

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
            self._fleet_key = None
        return self._conn

    def acquire(self, account: str, mailbox: str) -> bool:
        """Take the lease if it is free; False also while the database cannot be reached."""
        import psycopg2

        if (account, mailbox) in self.held and self.alive():
            return True
        self.alive()  # a lost session forgets what it held before a new one is opened
        try:
            with self._connection().cursor() as cursor:
                taken = _take_both(cursor, account, mailbox)
        except psycopg2.Error as exc:
            if not self._unavailable:  # once an outage: the fleet tries again every few seconds
                log.warning(
                    "lease for mailbox %s not taken: the database is unavailable (%s)", mailbox, one_line(exc)
                )
            self._unavailable = True
            self.release_all()  # closing the session frees a lock taken before the failure too
            return False
        self._unavailable = False
        if taken:
            self.held.add((account, mailbox))
            log.info("lease taken: mailbox %s", mailbox)
        return taken

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

    def workers(self, fleet: str) -> int | None:
        """The processes that work the mailboxes ``fleet`` names, this one included; None if unknown.

        Each holds a shared lock on the fleet's key, on its lease session, and pg_locks (which every
        role may read) counts them. Counted by their lease sessions on the database instead, another
        deployment's processes (another tenant on the same PostgreSQL) and an admin command's lease
        check lowered this process's share: it gave back mailboxes that no other process would take.
        """
        import psycopg2

        key = _key("emaillog-fleet:" + fleet)
        try:
            with self._connection().cursor() as cursor:
                if self._fleet_key != key:  # a new session, or the mailboxes changed on SIGHUP
                    if self._fleet_key is not None:
                        cursor.execute("SELECT pg_advisory_unlock_shared(%s)", (self._fleet_key,))
                    cursor.execute("SELECT pg_try_advisory_lock_shared(%s)", (key,))
                    self._fleet_key = key
                cursor.execute(_FLEET_MEMBERS, key_halves(key))
                row = cursor.fetchone()
        except psycopg2.Error:
            return None
        return int(row[0]) if row else None

    def release(self, account: str, mailbox: str) -> None:
        """Give one lease back (a mailbox no longer configured); the session keeps the others."""
        if (account, mailbox) not in self.held or self._conn is None or self._conn.closed:
            return
        self.held.discard((account, mailbox))
        try:
            with self._conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_unlock(%s), pg_advisory_unlock_shared(%s)",
                    (lock_key(account, mailbox), lock_key_legacy(mailbox)),
                )
        except Exception:  # noqa: BLE001 - a lost session has freed the locks already
            self.alive()

    def release_all(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()  # closing the session frees every lock it held
        self._conn = None
        self.held.clear()


def _take_both(cursor: Any, account: str, mailbox: str) -> bool:
    """The account's lock, then the legacy name's shared: both or neither (see lock_key_legacy)."""
    key = lock_key(account, mailbox)
    cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    if not cursor.fetchone()[0]:
        return False  # another process of this version works the mailbox: the usual case
    cursor.execute("SELECT pg_try_advisory_lock_shared(%s)", (lock_key_legacy(mailbox),))
    if cursor.fetchone()[0]:
        return True
    cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))  # a previous version's process works it
    return False


class FileLeases:
    """flock on <data dir>/leases/<mailbox>.lock: freed by the kernel when the process dies.

    Named by the mailbox alone, the account left out: a data dir is one deployment's (its state
    files, state/<mailbox>.json, are named so too), and a file named by the account as well would
    not be the one the previous version locks: during an upgrade both versions could work a mailbox.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, IO[bytes]] = {}
        _IN_THIS_PROCESS.add(self)

    def acquire(self, account: str, mailbox: str) -> bool:
        if mailbox in self.files:
            return True
        private_dir(self.directory)
        handle = open_private(self.directory / f"{mailbox}.lock", "ab")  # held while the lease is
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

    def workers(self, fleet: str) -> int | None:
        """Unknown: a lock file says who took it last, not who is alive and claiming."""
        return None

    def holder(self, mailbox: str) -> int | None:
        """The pid written by the process that holds ``mailbox``'s lease, if it can be read."""
        try:
            return int((self.directory / f"{mailbox}.lock").read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self, account: str, mailbox: str) -> None:
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
