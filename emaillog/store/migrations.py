"""The schema's migrations: a numbered list, append-only, each taking the schema from version N-1 to N.

Applying them (once each, under a lock) and checking the version is schema.py's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from peewee import Database, Expression, Field, Model, fn
from playhouse.migrate import SchemaMigrator, migrate

from ..addresses import Address, domain_key
from ..rules.identity import WINDOW, fingerprint, fingerprint_with_links, whole_body_fingerprint
from .models import (
    ALL_MODELS,
    Attachment,
    Company,
    Contact,
    Deal,
    EmailCompany,
    Ledger,
    LoggedEmail,
    NeverLog,
    Outbox,
)


def _v1_initial(db: Database) -> None:
    # The tables as version 1 had them: later columns are added by their own migration below.
    with (
        _without(LoggedEmail.fingerprint),
        _without(Ledger.failures),
        _without(Attachment.content_id),
        _indexes(LoggedEmail, _V1_EMAIL_INDEXES),
        _indexes(Ledger, _V1_LEDGER_INDEXES),
        _indexes(Deal, ()),
    ):
        db.create_tables(ALL_MODELS, safe=True)
        for table, column in _V1_COLUMN_INDEXES:
            db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}" ("{column}")')


def _v2_outbox(db: Database) -> None:
    db.create_tables([Outbox], safe=True)


def _v3_fingerprint(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column(LoggedEmail._meta.table_name, "fingerprint", LoggedEmail.fingerprint))
    db.execute_sql('CREATE INDEX IF NOT EXISTS "logged_email_fingerprint" ON "logged_email" ("fingerprint")')


def _v4_undisposed_index(db: Database) -> None:
    # A partial index (SQLite and PostgreSQL both have them): the rows not yet known to have left the
    # intake folder are few, so each pass can look for them without reading the whole ledger.
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "ledger_undisposed" ON "ledger" ("mailbox", "uidvalidity") '
        "WHERE NOT disposed"
    )


def _v5_ledger_failures(db: Database) -> None:
    # Attempts ended by the message's own crash, told apart from attempts a killed process left
    # unfinished: only the former send a message to Error after max_attempts.
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column(Ledger._meta.table_name, "failures", Ledger.failures))


def _v6_email_lookups_by_account(db: Database) -> None:
    # Lookups by fingerprint and by Message-ID (duplicates, threads) are always within an account.
    # With one index on the account and one on the column, SQLite chose the account's: each batch
    # read every email the account had ever logged. One index on both columns serves the lookup.
    db.execute_sql('DROP INDEX IF EXISTS "logged_email_fingerprint"')
    db.execute_sql('DROP INDEX IF EXISTS "logged_email_message_id"')
    for column in ("fingerprint", "message_id"):
        db.execute_sql(
            f'CREATE INDEX IF NOT EXISTS "logged_email_account_id_{column}" '
            f'ON "logged_email" ("account_id", "{column}")'
        )


def _v7_no_index_a_composite_serves(db: Database) -> None:
    # A foreign key column that leads a composite index needs no index of its own: the composite
    # serves its lookups and cascades, and every index is written on every insert of these tables.
    for index in (
        "logged_email_account_id",
        "contact_address_account_id",
        "email_contact_email_id",
        "email_company_email_id",
        "email_deal_email_id",
    ):
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


def _v8_fingerprints_before_v3(db: Database) -> None:
    # Version 3 added the fingerprint column empty: an email logged before it was never found by a
    # copy known only by its fingerprint (an inline forward of it, a copy without a Message-ID) and
    # such a copy was logged a second time. The fingerprint is made again from the stored email.
    _refingerprint(LoggedEmail.fingerprint.is_null(), lambda row: True)


def _v9_fingerprints_of_whole_bodies(db: Database) -> None:
    # Versions before e559518 read the fingerprint's letters from the whole body, later ones from its
    # first WINDOW characters: for a longer body whose start holds few letters (a plain-text table,
    # a long rule of dashes) the two differ, and a copy of such an email known by its fingerprint
    # was logged a second time. Only a stored fingerprint of the earlier kind is made again.
    _refingerprint(
        fn.LENGTH(LoggedEmail.text_body) > WINDOW,
        lambda row: row[1] == whole_body_fingerprint(*_fingerprint_inputs(row)),
    )


def _v10_fingerprints_without_links(db: Database) -> None:
    # Versions before schema v10 counted link targets and picture placeholders as the body's letters:
    # "sign here <https://…>" of Gmail's text and "sign here" of an HTML-only Outlook forward gave
    # two fingerprints, and a copy of an email logged before the upgrade forwarded from the other
    # client was logged a second time. Only a body that may hold such a token can have changed.
    may_hold = (
        LoggedEmail.text_body.contains("[")
        | LoggedEmail.text_body.contains("://")
        | LoggedEmail.text_body.contains("mailto:")
    )
    _refingerprint(may_hold, _stored_with_links)


def _v11_ledger_keyed_by_account(db: Database) -> None:
    # A mailbox name is unique within a deployment, not within a database: two deployments on one
    # database (an env file each) both had a mailbox "default". Keyed by (mailbox, UIDVALIDITY, UID),
    # and Dovecot giving two folders made in the same second the same UIDVALIDITY, one account's pass
    # took the other's rows for its own and moved its messages to Processed unlogged. Every row
    # already names its account: the rows unique without it are unique with it. The account's own
    # index goes, as v7's did: the key, which it leads, serves the same lookups.
    db.execute_sql('DROP INDEX IF EXISTS "ledger_mailbox_uidvalidity_uid"')
    db.execute_sql('DROP INDEX IF EXISTS "ledger_account_id"')
    db.execute_sql(
        'CREATE UNIQUE INDEX IF NOT EXISTS "ledger_account_id_mailbox_uidvalidity_uid" '
        'ON "ledger" ("account_id", "mailbox", "uidvalidity", "uid")'
    )


def _v12_attachment_content_id(db: Database) -> None:
    # The stored HTML keeps <img src="cid:…"> (pasted screenshots, signature logos), but nothing said
    # which attachment each one names: a CRM page showed every one as a broken picture. Emails logged
    # before keep no id (their parts' Content-IDs were not kept): the column is NULL for them.
    # Added only where missing, as v11's index is: a database whose version rows were set back
    # (as the tests of earlier upgrades do) runs this again over a table that has it.
    table = Attachment._meta.table_name
    if "content_id" not in {column.name for column in db.get_columns(table)}:
        migrate(SchemaMigrator.from_database(db).add_column(table, "content_id", Attachment.content_id))


def _v13_domains_in_unicode(db: Database) -> None:
    # Versions before 4e9a585 stored a company's or a never-log domain as the admin typed it: one
    # typed in A-labels (xn--bcher-kva.de) never matched a contact, whose domain is compared in
    # Unicode (addresses.domain_key), and `never-log remove` of it said it was not on the list.
    # Each such row takes the form compared now; where that form is stored already (a company the
    # daemon made from the contacts' domain), the A-label row is a copy that matched nothing.
    for company in list(Company.select().where(Company.domain.contains("xn--"))):
        _company_in_unicode(company)
    for entry in list(NeverLog.select().where(NeverLog.value.contains("xn--"))):
        _never_log_in_unicode(entry)


def _company_in_unicode(company: Company) -> None:
    domain = domain_key(company.domain)
    if domain == company.domain:
        return  # not IDNA the codec reads: address keys keep such a domain in A-labels too
    # A name `companies add` defaulted to the domain follows it; one the admin gave is kept.
    name = domain if company.name == company.domain else company.name
    twin = Company.get_or_none((Company.account == company.account_id) & (Company.domain == domain))
    if twin is None:
        Company.update(domain=domain, name=name).where(Company.id == company.id).execute()
        return
    linked = Contact.select().where(Contact.company == company.id).exists() or (
        EmailCompany.select().where(EmailCompany.company == company.id).exists()
    )
    if linked:
        return  # no version linked one (contacts' companies come from Unicode domains): left alone
    if twin.name == twin.domain and name != domain:
        Company.update(name=name).where(Company.id == twin.id).execute()
    Company.delete().where(Company.id == company.id).execute()


def _never_log_in_unicode(entry: NeverLog) -> None:
    local, at, domain = entry.value.rpartition("@")
    value = f"{local}{at}{domain_key(domain)}"
    if value == entry.value:
        return
    twin = NeverLog.select().where((NeverLog.account == entry.account_id) & (NeverLog.value == value))
    if twin.exists():
        NeverLog.delete().where(NeverLog.id == entry.id).execute()
    else:
        NeverLog.update(value=value).where(NeverLog.id == entry.id).execute()


def _stored_with_links(row: _Row) -> bool:
    inputs = _fingerprint_inputs(row)
    return row[1] == fingerprint_with_links(*inputs) != fingerprint(*inputs)


_Row = tuple[int, str | None, str | None, datetime | None, str, str]


def _refingerprint(where: Expression, outdated: Callable[[_Row], bool]) -> None:
    """Give today's fingerprint to the emails ``where`` selects whose stored one is ``outdated``."""
    columns = (LoggedEmail.fingerprint, LoggedEmail.from_address, LoggedEmail.date)
    last = 0
    while True:
        rows: list[_Row] = list(
            LoggedEmail.select(LoggedEmail.id, *columns, LoggedEmail.subject, LoggedEmail.text_body)
            .where(where & (LoggedEmail.id > last))
            .order_by(LoggedEmail.id)
            .limit(200)
            .tuples()
        )
        for row in rows:
            if outdated(row):
                LoggedEmail.update(fingerprint=_fingerprint_of(row)).where(LoggedEmail.id == row[0]).execute()
        if len(rows) < 200:
            return
        last = rows[-1][0]


def _fingerprint_of(row: _Row) -> str:
    return fingerprint(*_fingerprint_inputs(row))


def _v14_no_index_a_racing_upgrade_made_again(db: Database) -> None:
    # Versions before 731c101 upgraded unserialised: of several processes started together on one
    # SQLite database, one could run v1 again after another had run v6-v11 (seen: versions
    # 1..9,1,2,...). v1 made again the indexes later versions dropped: the single-column ones that
    # had SQLite read every email of an account (v6, v7), and the ledger's key without its account,
    # unique, which v11 dropped because two accounts' mailboxes of one name share UIDs.
    for table, column in _V1_COLUMN_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{table}_{column}"')
    db.execute_sql('DROP INDEX IF EXISTS "logged_email_fingerprint"')  # v3's, replaced by v6
    db.execute_sql('DROP INDEX IF EXISTS "ledger_mailbox_uidvalidity_uid"')


def _v15_replies_by_account(db: Database) -> None:
    # An email logged now links the stored replies that were waiting for it (logged before it, their
    # In-Reply-To naming its Message-ID): without an index on both columns that lookup read every
    # email of the account, once per batch, as v6's lookups did before it.
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "logged_email_account_id_in_reply_to" '
        'ON "logged_email" ("account_id", "in_reply_to")'
    )


def _v16_deals_by_name(db: Database) -> None:
    # `deals add` and each row of `deals import` look a deal up by its name (the only key an admin
    # gives one): without an index, every deal of the account was read each time, so an import of
    # N deals read N * N / 2 rows (20,000 deals on SQLite had not finished in 10 minutes).
    db.execute_sql('CREATE INDEX IF NOT EXISTS "deal_account_id_name" ON "deal" ("account_id", "name")')


def _fingerprint_inputs(row: _Row) -> tuple[Address | None, datetime | None, str, str]:
    """What a stored email's fingerprint is made of: sender, date (stored as naive UTC), subject, text."""
    _, _, sender, date, subject, body = row
    when = date.replace(tzinfo=UTC) if date else None
    return Address(None, sender) if sender else None, when, subject, body


# Version 1's indexes on logged_email beyond the columns' own (v6 replaced the others).
_V1_EMAIL_INDEXES = ((("account", "identity"), True),)
# Version 1's key of the ledger (v11 put the account in it).
_V1_LEDGER_INDEXES = ((("mailbox", "uidvalidity", "uid"), True),)
# Version 1's indexes on single columns that later versions dropped (v6, v7).
_V1_COLUMN_INDEXES = (
    ("logged_email", "message_id"),
    ("logged_email", "account_id"),
    ("ledger", "account_id"),
    ("contact_address", "account_id"),
    ("email_contact", "email_id"),
    ("email_company", "email_id"),
    ("email_deal", "email_id"),
)


@contextmanager
def _indexes(model: type[Model], indexes: tuple[object, ...]) -> Iterator[None]:
    """Create a model's table with the indexes an older version had."""
    current = model._meta.indexes
    model._meta.indexes = list(indexes)
    try:
        yield
    finally:
        model._meta.indexes = current


@contextmanager
def _without(field: Field) -> Iterator[None]:
    """Create a model's table as it was before ``field`` existed."""
    model = field.model
    model._meta.remove_field(field.name)
    try:
        yield
    finally:
        model._meta.add_field(field.name, field)


# Append, never edit: each function takes the schema from version N-1 to N (playhouse.migrate for
# column changes). The number of entries is the current schema version.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _v1_initial,
    _v2_outbox,
    _v3_fingerprint,
    _v4_undisposed_index,
    _v5_ledger_failures,
    _v6_email_lookups_by_account,
    _v7_no_index_a_composite_serves,
    _v8_fingerprints_before_v3,
    _v9_fingerprints_of_whole_bodies,
    _v10_fingerprints_without_links,
    _v11_ledger_keyed_by_account,
    _v12_attachment_content_id,
    _v13_domains_in_unicode,
    _v14_no_index_a_racing_upgrade_made_again,
    _v15_replies_by_account,
    _v16_deals_by_name,
)
