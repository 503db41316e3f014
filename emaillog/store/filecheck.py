"""`attachments verify`: the stored files against the rows that name them, and files no row names.

A row's file may be missing, or differ from the row (its size, or the SHA-256 it is named by: a
disk's or a person's doing). A file no row names is left when the transaction that placed it did not
commit (a kill, a database gone mid-batch): nothing else ever removes it. Files are read in chunks,
as an attachment may be 50 MB.

An orphan is only one older than ``ORPHAN_AGE``: a pass places its files just before its commit.
Orphans are removed with the passes' recording held off (on SQLite by the write lock; on PostgreSQL
by a SHARE lock on the attachment table, which waits for a batch that has inserted its rows to
commit and holds back the next), each looked up again first. A pass that names an old orphan again
(the same file sent again) finds the file there and stores nothing: it has either committed its row
before the look-up, and the file is kept, or inserts it after the removal, and stores the file again
as it stores any file that is not there.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from peewee import Database

from .bulk import is_postgresql, write_transaction
from .files import attachment_path
from .models import Account, Attachment, LoggedEmail

CHUNK = 1024 * 1024
ORPHAN_AGE = 3600.0  # seconds: far longer than a batch takes from its first file to its commit
_NAME = re.compile(r"^[0-9a-f]{64}$")
# Before dcdd710 a file was written to a temp name beside its final one: a kill mid-write left it.
_OLD_TEMP = ".tmp-"
_SHOWN_EMAILS = 3  # ids of the emails naming a file printed with it; the rest counted


@dataclass
class Named:
    """A file as the rows of the deployment's accounts name it."""

    size: int
    emails: list[int] = field(default_factory=list)  # the first few ids of the emails naming it
    count: int = 0  # how many rows name it


@dataclass(frozen=True)
class Finding:
    kind: str  # missing | size | sha256 | unreadable | orphan | removed | unknown
    path: Path
    detail: str
    emails: tuple[int, ...] = ()
    more_emails: int = 0


@dataclass
class Verified:
    files: int = 0  # files checked against their rows
    bytes: int = 0
    recent: int = 0  # files no row names yet, younger than ORPHAN_AGE: left alone
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(f.kind == "removed" for f in self.findings)


def verify(db: Database, root: Path, accounts: Iterable[str], remove_orphans: bool) -> Verified:
    """Check every file the accounts' rows name; then look for files no row (of any account) names."""
    result = Verified()
    named = named_files(accounts)
    for sha256, row in sorted(named.items()):
        result.findings.extend(_checked(root, sha256, row, result))
    orphans = _unnamed(root, named, time.time() - ORPHAN_AGE, result)
    orphans = _not_named_anywhere(orphans)
    if remove_orphans and orphans:
        result.findings.extend(_removed(db, orphans))
    else:
        result.findings.extend(Finding("orphan", p, "no row names it") for p in orphans)
    return result


def named_files(accounts: Iterable[str]) -> dict[str, Named]:
    """The files the accounts' logged rows name, by SHA-256 (a row left out names no file)."""
    query = (
        Attachment.select(Attachment.sha256, Attachment.size, Attachment.email)
        .join(LoggedEmail)
        .join(Account)
        .where(Attachment.logged & Account.name.in_(list(accounts)))
        .order_by(Attachment.email)
        .tuples()
    )
    named: dict[str, Named] = {}
    for sha256, size, email_id in query.iterator():
        row = named.setdefault(sha256, Named(int(size)))
        row.count += 1
        if len(row.emails) < _SHOWN_EMAILS:
            row.emails.append(int(email_id))
    return named


def _checked(root: Path, sha256: str, row: Named, result: Verified) -> Iterator[Finding]:
    path = attachment_path(root, sha256)

    def found(kind: str, detail: str) -> Finding:
        return Finding(kind, path, detail, tuple(row.emails), row.count - len(row.emails))

    try:
        size = path.stat().st_size
        digest = file_sha256(path) if size == row.size else None
    except FileNotFoundError:
        yield found("missing", "no file")
        return
    except OSError as exc:  # a disk's read error is what this is looking for too
        yield found("unreadable", exc.strerror or str(exc))
        return
    result.files += 1
    result.bytes += size
    if size != row.size:
        yield found("size", f"{size} bytes, the row says {row.size}")
    elif digest != sha256:
        yield found("sha256", f"its bytes hash to {digest}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _unnamed(root: Path, named: dict[str, Named], before: float, result: Verified) -> list[Path]:
    """Files under ``root`` the rows read do not name and older than ``before``; a file not named
    as emaillog names them is reported and left alone (it is not ours to remove)."""
    found: list[Path] = []
    for path in _stored(root, result):
        if not _ours(root, path):
            result.findings.append(Finding("unknown", path, "not a file emaillog stores: left alone"))
        elif path.name in named:
            continue
        elif path.lstat().st_mtime >= before:
            result.recent += 1
        else:
            found.append(path)
    return found


def _ours(root: Path, path: Path) -> bool:
    """Named as emaillog names a stored file (or as an earlier version named its temp files)."""
    if path.parent.parent != root or not re.fullmatch(r"[0-9a-f]{2}", path.parent.name):
        return False
    by_its_hash = bool(_NAME.match(path.name)) and path.name[:2] == path.parent.name
    return by_its_hash or path.name.startswith(_OLD_TEMP)


def _stored(root: Path, result: Verified) -> Iterator[Path]:
    def unreadable(exc: OSError) -> None:  # os.walk passes a directory it cannot list over silently
        where = Path(exc.filename) if exc.filename else root
        result.findings.append(Finding("unreadable", where, exc.strerror or str(exc)))

    if not root.exists():  # nothing stored yet
        return
    for directory, _, names in os.walk(root, onerror=unreadable):
        for name in sorted(names):
            yield Path(directory) / name


def _not_named_anywhere(paths: list[Path]) -> list[Path]:
    """Of ``paths``, those no logged row of any account names (another tenant's may, on one
    database): looked up 500 at a time, as the table has no index on sha256."""
    left: list[Path] = []
    for start in range(0, len(paths), 500):
        some = {p.name: p for p in paths[start : start + 500]}
        there = {
            sha256
            for (sha256,) in Attachment.select(Attachment.sha256)
            .where(Attachment.logged & Attachment.sha256.in_(list(some)))
            .tuples()
        }
        left.extend(p for name, p in some.items() if name not in there)
    return left


def _removed(db: Database, orphans: list[Path]) -> list[Finding]:
    """Remove the orphans, each looked up again under the recording lock (see the module's doc)."""
    removed: list[Finding] = []
    with write_transaction(db):
        if is_postgresql(db):
            db.execute_sql(f'LOCK TABLE "{Attachment._meta.table_name}" IN SHARE MODE')
        for path in _not_named_anywhere(orphans):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                removed.append(Finding("orphan", path, f"no row names it; cannot remove it: {exc.strerror}"))
                continue
            removed.append(Finding("removed", path, "no row named it"))
    return removed
