"""How the store talks to each database: the settings it relies on are in force."""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from datetime import datetime
from pathlib import Path

import peewee
import pytest
from pg import PgCluster

from emaillog.store import account_id_for, migrations, schema
from emaillog.store.bulk import PAGE_ROWS, execute_in, insert_returning, insert_rows, select_in
from emaillog.store.db import SQLITE_PRAGMAS, open_database
from emaillog.store.ledger import LedgerKey, begin_attempts, rows_for
from emaillog.store.models import (
    Attachment,
    Company,
    Contact,
    Ledger,
    LoggedEmail,
    NeverLog,
    SchemaVersion,
    User,
)


@pytest.mark.live
def test_postgresql_sessions_compress_email_bodies_with_lz4(postgres: PgCluster) -> None:
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = open_database(postgres.create_database(name))
    try:
        db.close()
        db.connect()  # every new connection, not only the first
        assert db.execute_sql("SHOW default_toast_compression").fetchone() == ("lz4",)
    finally:
        db.close()
        postgres.drop_database(name)


def test_sqlite_runs_with_the_durable_pragmas(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'emaillog.sqlite3'}")
    try:
        assert db.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute_sql("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert db.execute_sql("PRAGMA cache_size").fetchone() == (SQLITE_PRAGMAS["cache_size"],)
    finally:
        db.close()


def test_bulk_writes_report_a_locked_database_as_peewees_operational_error(tmp_path: Path) -> None:
    """The pass tells "database unavailable" (retry, no attempt used) from a bug by peewee's errors:
    the bulk helpers, which use the driver's cursor directly, must raise those too, not sqlite3's."""
    path = tmp_path / "emaillog.sqlite3"
    db = open_database(f"sqlite:///{path}")
    db.execute_sql("PRAGMA busy_timeout = 50")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        row = (99, datetime(2026, 11, 28))
        with pytest.raises(peewee.OperationalError, match="locked"):
            insert_rows(db, SchemaVersion, ("version", "applied_at"), [row])
        with pytest.raises(peewee.OperationalError, match="locked"):
            insert_returning(db, SchemaVersion, ("version", "applied_at"), [row], ("id",))
    finally:
        holder.rollback()
        holder.close()
        db.close()


def test_in_lists_longer_than_a_page_find_every_row(database_url: str) -> None:
    """select_in and execute_in send a page of values per statement: rows of every page count."""
    db = open_database(database_url)
    try:
        versions = list(range(1000, 1000 + 2 * PAGE_ROWS + 7))
        insert_rows(
            db, SchemaVersion, ("version", "applied_at"), [(v, datetime(2026, 11, 29)) for v in versions]
        )
        by_version = (
            'SELECT "version" FROM "schema_version" WHERE "applied_at" >= ? AND "version" IN ({values})'
        )
        wanted = [*versions[::2], -1]  # every page, and one value that matches nothing
        found = select_in(db, by_version, (datetime(2026, 11, 29),), wanted)
        assert sorted(v for (v,) in found) == versions[::2]
        assert select_in(db, by_version, (datetime(2026, 11, 29),), []) == []
        moved = 'UPDATE "schema_version" SET "applied_at" = ? WHERE "version" IN ({values})'
        execute_in(db, moved, (datetime(2026, 11, 30),), versions[1::2])
        later = select_in(db, by_version, (datetime(2026, 11, 30),), versions)
        assert sorted(v for (v,) in later) == versions[1::2]
    finally:
        db.close()


def _ledger_keys(db: peewee.Database) -> set[tuple[str, ...]]:
    # PostgreSQL lists the primary key among them.
    return {tuple(i.columns) for i in db.get_indexes(Ledger._meta.table_name) if i.unique} - {("id",)}


def test_an_upgrade_puts_the_account_in_the_ledgers_key(database_url: str) -> None:
    """Schema v11: a database made before it keeps its ledger rows, and a mailbox of another account
    with the same name, UIDVALIDITY and UID gets a row of its own instead of the first account's."""
    db = open_database(database_url, migrate=False)
    try:
        for number, migration in enumerate(migrations.MIGRATIONS[:10], start=1):
            migration(db)
            SchemaVersion.create(version=number)
        assert _ledger_keys(db) == {("mailbox", "uidvalidity", "uid")}
        acme, globex = account_id_for("acme"), account_id_for("globex")
        # The row as a version before v11 left it (its upsert named the old key).
        Ledger.insert(account=acme, mailbox="default", uidvalidity=7, uid=1, attempts=1).execute()
        schema.upgrade(db)
        assert _ledger_keys(db) == {("account_id", "mailbox", "uidvalidity", "uid")}
        assert ("account_id",) not in {tuple(i.columns) for i in db.get_indexes(Ledger._meta.table_name)}
        key = LedgerKey("default", 7, 1)
        begin_attempts(globex, [key])
        begin_attempts(globex, [key])
        counts = {
            a: {u: r.attempts for u, r in rows_for(a, "default", 7, [1]).items()} for a in (acme, globex)
        }
        assert counts == {acme: {1: 1}, globex: {1: 2}}
    finally:
        db.close()


def test_an_upgrade_gives_attachments_a_content_id_that_older_rows_lack(database_url: str) -> None:
    """Schema v12: the attachments of a database made before it keep every row, with no Content-ID
    (none was read), and new rows store theirs."""
    db = open_database(database_url, migrate=False)
    try:
        for number, migration in enumerate(migrations.MIGRATIONS[:11], start=1):
            migration(db)
            SchemaVersion.create(version=number)
        assert "content_id" not in {c.name for c in db.get_columns(Attachment._meta.table_name)}
        acme = account_id_for("acme")
        owner = User.insert(account=acme, email="rita@acme.example").execute()
        email = LoggedEmail.insert(
            account=acme,
            identity="<m1@acme.example>",
            route="bcc",
            direction="outgoing",
            owner=owner,
            subject="Screenshot",
            text_body="See it",
        ).execute()
        old = {
            "email": email,
            "filename": "a.png",
            "content_type": "image/png",
            "size": 3,
            "sha256": "ab" * 32,
        }
        Attachment.insert(**old).execute()
        schema.upgrade(db)
        [column] = [c for c in db.get_columns(Attachment._meta.table_name) if c.name == "content_id"]
        assert column.null
        Attachment.insert(**old, content_id="image001.png@01DA").execute()
        rows = Attachment.select(Attachment.filename, Attachment.content_id).order_by(Attachment.id).tuples()
        assert list(rows) == [("a.png", None), ("a.png", "image001.png@01DA")]
    finally:
        db.close()


def test_an_upgrade_puts_domains_typed_in_a_labels_in_the_form_compared(database_url: str) -> None:
    """Schema v13: a company or never-log domain that a version before 4e9a585 stored in A-labels,
    as the admin typed it, matched no contact (their domains are compared in Unicode); it takes
    that form, and a copy of a company stored in it already goes, its admin-given name kept."""
    db = open_database(database_url, migrate=False)
    try:
        for number, migration in enumerate(migrations.MIGRATIONS[:12], start=1):
            migration(db)
            SchemaVersion.create(version=number)
        acme, globex = account_id_for("acme"), account_id_for("globex")

        def company(account: int, domain: str, name: str) -> int:
            return int(Company.insert(account=account, domain=domain, name=name).execute())

        company(acme, "xn--bcher-kva.example", "Bücher GmbH")
        company(acme, "xn--mller-kva.example", "xn--mller-kva.example")  # named after its domain
        company(acme, "xn--caf-dma.example", "Café SA")
        cafe = company(acme, "café.example", "café.example")  # the daemon made it for the contacts
        Contact.insert(account=acme, company=cafe).execute()
        company(globex, "xn--caf-dma.example", "xn--caf-dma.example")  # another account's own
        # Python's IDNA codec reads no IDNA 2008 label (ß): address keys keep it so too.
        company(acme, "xn--strae-oqa.example", "Straße")
        # A copy some contact is linked to (no version linked one) is left for the admin.
        koeln = company(acme, "xn--kln-sna.example", "Köln AG")
        company(acme, "köln.example", "köln.example")
        Contact.insert(account=acme, company=koeln).execute()
        for value in ("xn--rival-fsa.example", "bob@xn--rival-fsa.example", "xn--mller-kva.example"):
            NeverLog.insert(account=acme, value=value).execute()
        NeverLog.insert(account=acme, value="müller.example").execute()

        schema.upgrade(db)
        companies = {(c.account_id, c.domain): c.name for c in Company.select()}
        assert companies == {
            (acme, "bücher.example"): "Bücher GmbH",
            (acme, "müller.example"): "müller.example",
            (acme, "café.example"): "Café SA",
            (globex, "café.example"): "café.example",
            (acme, "xn--strae-oqa.example"): "Straße",
            (acme, "xn--kln-sna.example"): "Köln AG",
            (acme, "köln.example"): "köln.example",
        }
        assert sorted(c.company_id for c in Contact.select()) == sorted([cafe, koeln])
        entries = sorted(n.value for n in NeverLog.select())
        assert entries == ["bob@rivalé.example", "müller.example", "rivalé.example"]
    finally:
        db.close()


def test_a_new_sqlite_database_is_private_whatever_the_umask(tmp_path: Path) -> None:
    # Run from a shell (umask 022), not under the unit's UMask=0077: the mail must stay the owner's.
    old = os.umask(0o022)
    try:
        db = open_database(f"sqlite:///{tmp_path / 'data' / 'emaillog.sqlite3'}")
        db.close()
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert modes and all(mode == 0o600 for mode in modes.values()), modes


def _indexes_of(db: peewee.Database) -> set[str]:
    if isinstance(db, peewee.SqliteDatabase):
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {name for (name,) in db.execute_sql(query).fetchall()}


def test_an_upgrade_drops_the_indexes_a_racing_upgrade_made_again(database_url: str) -> None:
    """Schema v14: versions that upgraded unserialised could run v1 again after v11 on a database
    opened by several processes at once, making again the ledger's key without its account (unique:
    two accounts' mailboxes of one name share UIDs) and the single-column indexes v6 and v7 dropped.
    The upgrade leaves the indexes a database upgraded alone has."""
    db = open_database(database_url, migrate=False)
    try:
        for number, migration in enumerate(migrations.MIGRATIONS[:13], start=1):
            migration(db)
            SchemaVersion.create(version=number)
        alone = _indexes_of(db)
        migrations.MIGRATIONS[0](db)  # what the racing process did
        assert "ledger_mailbox_uidvalidity_uid" in _indexes_of(db) - alone
        schema.upgrade(db)
        # v15 and v16 add these
        assert _indexes_of(db) == alone | {"logged_email_account_id_in_reply_to", "deal_account_id_name"}
    finally:
        db.close()
