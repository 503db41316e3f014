"""Databases an older emaillog really made and filled (tests/data/upgrades) upgrade in place: every
row survives, and a pass afterwards neither logs again an email the old version logged nor misses
the message it left half done."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import World, make_world, with_picture
from upgrade_mail import COPIES, NEW, PENDING

from emaillog.devmail import ImapAccount
from emaillog.store import schema
from emaillog.store.models import Attachment, Ledger, LoggedEmail

OLD_DATABASES = Path(__file__).parent.parent / "data" / "upgrades"


def _rows(path: Path, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as con:
        names = ", ".join(f'"{c}"' for c in columns)
        return sorted(con.execute(f'SELECT {names} FROM "{table}"').fetchall(), key=repr)


def _tables(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [r[1] for r in con.execute(f'PRAGMA table_info("{t}")')] for t in tables}


def _load(dump: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        con.executescript(dump.read_text())
    con.close()


def _the_pending_message_here(world: World) -> tuple[int, int]:
    """Deliver the message the old version left half done, and point its ledger row at this mailbox
    (the fixture's row names the UIDVALIDITY of the Dovecot it was made with)."""
    world.deliver(PENDING)
    client = world.client()
    try:
        uidvalidity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        [uid] = client.search(["ALL"])
    finally:
        client.logout()
    assert Ledger.update(uidvalidity=uidvalidity, uid=uid).where(Ledger.outcome == "pending").execute() == 1
    return int(uidvalidity), int(uid)


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_an_old_versions_database_upgrades_without_losing_or_logging_twice(
    version: str, tmp_path: Path, imap_account: ImapAccount
) -> None:
    dump = OLD_DATABASES / f"schema-{version}.sql"
    old, new = tmp_path / "old.sqlite3", tmp_path / "data" / "emaillog.sqlite3"
    _load(dump, old)
    _load(dump, new)
    world = make_world(tmp_path, f"sqlite:///{new}", imap_account, rep=None)  # upgrades at opening
    assert schema.current_version(LoggedEmail._meta.database) == schema.CURRENT_VERSION

    # Every row survives as it was; only the emails' fingerprints may be made again (schema v8, v9).
    for table, columns in _tables(old).items():
        if table != "schema_version":
            kept = [c for c in columns if (table, c) != ("logged_email", "fingerprint")]
            assert _rows(old, table, kept) == _rows(new, table, kept), table
    emails = LoggedEmail.select().count()
    # Schema v12: the old files had no Content-ID read; they keep none.
    assert Attachment.select().count() > 0
    assert Attachment.select().where(Attachment.content_id.is_null(False)).count() == 0

    uidvalidity, uid = _the_pending_message_here(world)
    here = Ledger.uidvalidity == uidvalidity
    assert world.run_pass().outcomes == {"logged": 1}
    row = Ledger.get(here & (Ledger.uid == uid))
    assert (row.outcome, row.reason, row.disposed) == ("logged", None, True)
    assert LoggedEmail.select().where(LoggedEmail.message_id == "<pending@acme.example>").count() == 1

    world.deliver(*COPIES.values(), NEW)
    world.run_pass()
    *copies, last = Ledger.select().where(here & (Ledger.uid > uid)).order_by(Ledger.uid)
    assert (last.outcome, last.reason) == ("logged", None)
    assert {name: (r.outcome, r.reason) for name, r in zip(COPIES, copies, strict=True)} == {
        name: ("logged", "duplicate") for name in COPIES
    }
    assert LoggedEmail.select().count() == emails + 2  # the pending message and NEW, once each
    assert world.run_pass().seen == 0
    assert world.folder_counts() == {"INBOX": 0, "Processed": len(COPIES) + 2, "Error": 0}

    # A picture logged after the upgrade is stored with the id its HTML names it by.
    world.deliver(with_picture([b"<image001.png@01DA>"]))
    assert world.run_pass().outcomes == {"logged": 1}
    [picture] = Attachment.select().join(LoggedEmail).where(LoggedEmail.message_id == "<shot@acme.example>")
    assert (picture.filename, picture.content_id) == ("image001.png", "image001.png@01DA")
