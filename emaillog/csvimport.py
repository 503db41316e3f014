"""Importing users, companies, deals and never-log entries from a CSV file (SPEC §13).

The whole file is checked before anything is written, with the checks of the single-row commands
(adminvalues.py): one bad row and nothing is imported, and the admin is told every bad row at once
rather than one per attempt. Then each row is compared with what the account already has and written
in one transaction, so importing the same file again creates nothing new.

This module runs an import; csvfile.py reads the file into rows, csvkinds.py says what a row of
each kind means and how it is written.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from peewee import Database

from .csvfile import CsvRejected, Row, read_rows
from .csvkinds import CREATED, KINDS, UNCHANGED, UPDATED, Kind
from .settings import Settings
from .store import Store, open_read_only, store_for
from .store.bulk import write_transaction
from .store.db import DatabaseMissing, open_database
from .store.models import Account
from .store.schema import current_version

R = TypeVar("R")


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)

    def render(self, what: str, path: Path, dry_run: bool) -> str:
        created, updated, unchanged = (self.counts[s] for s in (CREATED, UPDATED, UNCHANGED))
        if dry_run:
            return (
                f"{what} from {path}: {created} to create, {updated} to update, {unchanged} unchanged "
                "(dry run: nothing written)"
            )
        return f"{what} from {path}: {created} created, {updated} updated, {unchanged} unchanged"


def checked(path: Path, kind: Kind[R], rows: list[Row]) -> list[R]:
    """Every row's record; CsvRejected naming every bad row when there is one."""
    found: list[R] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        record = None if row.problems else kind.parse(row)
        if record is not None:
            key = kind.key(record)
            if key in first_line:
                row.problems.append(f"{key} is also on line {first_line[key]}")
            first_line.setdefault(key, row.line)
            found.append(record)
        problems += [(row.line, "; ".join(row.problems))] if row.problems else []
    if problems:
        raise CsvRejected(path, problems)
    return found


def import_file(
    store: Store, settings: Settings, kind_name: str, path: Path, *, dry_run: bool
) -> tuple[str, list[str]]:
    """Import ``path`` into the store's account; the summary line to show the admin, and the notes
    (contacts the import takes out of the mail path, formercontacts.py)."""
    kind = KINDS[kind_name](store, settings)
    found = checked(path, kind, read_rows(path, type(kind)))
    summary = Summary()
    notes: dict[str, None] = {}  # a contact named by two rows (an alias here, connected there) once
    # One transaction: a failure half-way (the database going away) leaves nothing half-imported.
    # It takes SQLite's write lock at its start, so it waits for a pass that is writing.
    with store.db.atomic() if dry_run else write_transaction(store.db):
        kind.writing()
        for record in found:
            status = kind.state(record)
            summary.counts[status] += 1
            if status != UNCHANGED:
                if not dry_run:
                    kind.apply(record)
                notes.update(dict.fromkeys(kind.notes(record)))
    return summary.render(kind.what, path, dry_run), list(notes)


def dry_run(settings: Settings, kind_name: str, path: Path) -> tuple[str, list[str]]:
    """``import --dry-run``: the file checked and compared with the account, writing nothing.

    The database is opened read-only, as `run --dry-run` opens it: opened for writing it was
    created, upgraded and given the account, none of which the admin asked for. A schema older or
    newer than this version's is StoreNotReady. Where there is nothing yet, the file is checked
    against an empty throwaway database instead: the same checks, every good row to create.
    """
    db = _existing(settings)
    if db is None:
        return _against_nothing(settings, kind_name, path, "there is no database yet: the import creates it")
    try:
        if Account.get_or_none(Account.name == settings.account) is None:
            return _against_nothing(
                settings,
                kind_name,
                path,
                f"the account {settings.account!r} has nothing yet: the import creates it",
            )
        return import_file(store_for(db, settings, read_only=True), settings, kind_name, path, dry_run=True)
    finally:
        db.close()


def _existing(settings: Settings) -> Database | None:
    """The database read-only; None when nothing was made yet (no SQLite file, no tables)."""
    try:
        probe = open_database(settings.database_url, migrate=False, read_only=True)
    except DatabaseMissing:
        return None
    made = current_version(probe) > 0
    probe.close()
    return open_read_only(settings) if made else None


def _against_nothing(settings: Settings, kind_name: str, path: Path, note: str) -> tuple[str, list[str]]:
    with tempfile.TemporaryDirectory(prefix="emaillog-dry-run-") as scratch:
        db = open_database(f"sqlite:///{Path(scratch) / 'empty.sqlite3'}")
        try:
            summary, notes = import_file(store_for(db, settings), settings, kind_name, path, dry_run=True)
        finally:
            db.close()
    return f"{summary}; {note}", notes
