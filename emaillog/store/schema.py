"""Schema upgrades that apply themselves (the numbered list of migrations.py, each run once inside a
transaction), and the refusal of a database a newer emaillog has upgraded: at start-up and while running."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from peewee import Database, DatabaseError, InterfaceError, SqliteDatabase

from .migrations import MIGRATIONS
from .models import SchemaVersion

log = logging.getLogger("emaillog")

# The schema this emaillog reads and writes: one version for each migration.
CURRENT_VERSION = len(MIGRATIONS)


def current_version(db: Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return int(latest.version) if latest else 0


class SchemaTooNew(Exception):
    """The database was upgraded by a newer emaillog than this one: its schema is not the one this
    code reads and writes."""


def upgrade(db: Database) -> int:
    """Apply every pending migration; return the resulting version.

    Several processes may open one database at the same moment (SPEC §14: daemons on several machines,
    an admin's command beside them). Each migration runs in a write transaction that reads the version
    again first, under a lock on PostgreSQL, so it runs once: unserialised, every process started
    together ran it (v10's fingerprints made again once each), and the later ones failed on the
    earlier one's tables ("column already exists", exit 1) or wrote its version row again.
    """
    version = current_version(db)
    if version < CURRENT_VERSION:
        if version:  # a new database's tables are made without a word
            # Said before the upgrade's lock is waited for: a long migration (v10 fingerprinted every
            # email again) or one another process runs then shows in the log, not as a silent start.
            log.info(
                "database: schema version %d, older than this emaillog's %d: upgrading",
                version,
                CURRENT_VERSION,
            )
        with _upgrade_lock(db):
            version = _apply_pending(db)
    if version > CURRENT_VERSION:
        raise _too_new(version)
    return version


def _too_new(version: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"the database is at schema version {version}, newer than this emaillog knows "
        f"({CURRENT_VERSION}): a newer emaillog upgraded it; run that version (or a newer one) here too"
    )


def refuse_newer(db: Database) -> None:
    """Raise SchemaTooNew when a newer emaillog has upgraded the database since this process opened it.

    Start-up refuses such a database (``upgrade``), but a process already running went on writing
    rows of the schema it knew into the upgraded one (a rolling upgrade: the first process of the
    new version upgrades while the others work on). One small query, made at each pass's start, at
    each claiming round of a fleet and in each batch's transaction (``refuse_newer_in_transaction``).
    """
    version = db.execute_sql('SELECT MAX("version") FROM "schema_version"').fetchone()[0] or 0
    if version > CURRENT_VERSION:
        raise _too_new(version)


def refuse_newer_in_transaction(db: Database) -> None:
    """``refuse_newer`` inside a batch's write transaction, and no upgrade begins until it ends.

    SQLite: the transaction holds the write lock, which each migration's transaction takes too.
    PostgreSQL: a shared hold on the upgrade lock (``_upgrade_lock``), taken without waiting. Read
    without it, a migration that rewrites rows could run for minutes while the batches of an older
    process, finding the old version still committed, wrote rows it would never see. Taken, the
    upgrade waits for the batch's commit; held by an upgrade, the batch is refused. The version is
    read by a later statement than the lock's, whose snapshot comes after the lock was granted.
    """
    if not isinstance(getattr(db, "obj", db), SqliteDatabase):
        held = db.execute_sql("SELECT pg_try_advisory_xact_lock_shared(%s)", (_UPGRADE_LOCK,)).fetchone()[0]
        if not held:
            # Only a newer emaillog upgrades a database this one already runs on.
            raise SchemaTooNew(
                f"a newer emaillog is upgrading the database's schema (this emaillog knows version "
                f"{CURRENT_VERSION}): run that version (or a newer one) here too"
            )
    refuse_newer(db)


def _apply_pending(db: Database) -> int:
    while True:
        with _write_transaction(db):
            version = current_version(db)  # again, now that no other process can be upgrading
            if version >= CURRENT_VERSION:
                return version
            MIGRATIONS[version](db)
            SchemaVersion.create(version=version + 1)


# pg_advisory_lock's key for schema upgrades; lease.py's keys are hashes of their own prefix.
_UPGRADE_LOCK = int.from_bytes(hashlib.sha256(b"emaillog-schema-upgrade").digest()[:8], "big", signed=True)


@contextmanager
def _upgrade_lock(db: Database) -> Iterator[None]:
    """PostgreSQL: a session advisory lock around the upgrade, held from outside its transactions,
    so that each one's first read comes after the lock at any isolation level. SQLite needs none:
    each migration's transaction is a write transaction from its start (``_write_transaction``)."""
    if isinstance(db, SqliteDatabase):
        yield
        return
    if not db.execute_sql("SELECT pg_try_advisory_lock(%s)", (_UPGRADE_LOCK,)).fetchone()[0]:
        # Or a process of an older version is recording a batch (refuse_newer_in_transaction).
        log.info("database: another process is upgrading the schema or recording a batch; waiting for it")
        db.execute_sql("SELECT pg_advisory_lock(%s)", (_UPGRADE_LOCK,))
    try:
        yield
    finally:
        # A lost connection has lost the lock with it; the upgrade's own error is the one to tell.
        with suppress(DatabaseError, InterfaceError):
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (_UPGRADE_LOCK,))


@contextmanager
def _write_transaction(db: Database) -> Iterator[None]:
    """SQLite: BEGIN IMMEDIATE takes the write lock before the version is read. A deferred transaction
    read a version another process was about to change, or failed at its first write ("database is
    locked") when its snapshot had gone stale."""
    with db.atomic("IMMEDIATE") if isinstance(db, SqliteDatabase) else db.atomic():
        yield
