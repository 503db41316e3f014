"""The CRM and bookkeeping tables (peewee). Every CRM row belongs to an account (tenant).

Times are stored as naive UTC. Address columns hold the comparison key (see addresses.address_key).
"""

from __future__ import annotations

from datetime import UTC, datetime

from peewee import (
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database_proxy = DatabaseProxy()

# The largest id or UID a column holds (a signed 64-bit integer): SQLite's driver raises
# OverflowError for a larger number rather than finding no row.
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


class BaseModel(Model):  # type: ignore[misc]  # peewee ships no type information
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField(default=utcnow)


class Account(BaseModel):
    name = CharField(max_length=200, unique=True)


class User(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    email = CharField(max_length=320)
    name = CharField(max_length=300, null=True)
    active = BooleanField(default=True)
    may_log = BooleanField(default=True)

    class Meta:
        indexes = ((("account", "email"), True),)


class UserAddress(BaseModel):
    """A connected personal address (with the time it was connected) or an alias of a user."""

    account = ForeignKeyField(Account, on_delete="CASCADE")
    user = ForeignKeyField(User, backref="addresses", on_delete="CASCADE")
    address = CharField(max_length=320)
    kind = CharField(max_length=16)  # "connected" | "alias"
    connected_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "address", "kind", "user"), True),)


class TeamInbox(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    address = CharField(max_length=320)
    connected_by = ForeignKeyField(User, on_delete="CASCADE")
    connected_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "address"), True),)


class Company(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    domain = CharField(max_length=255)
    name = CharField(max_length=300, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("account", "domain"), True),)


class Contact(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    name = CharField(max_length=300, null=True)
    company = ForeignKeyField(Company, null=True, on_delete="SET NULL")  # the primary company
    created_at = DateTimeField(default=utcnow)


class ContactAddress(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE", index=False)  # see LoggedEmail.account
    contact = ForeignKeyField(Contact, backref="addresses", on_delete="CASCADE")
    address = CharField(max_length=320)

    class Meta:
        indexes = ((("account", "address"), True),)


class Deal(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    name = CharField(max_length=300)
    is_open = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        # `deals add` and `deals import` find a deal by its name, within one account (schema v16).
        indexes = ((("account", "name"), False),)


class DealContact(BaseModel):
    deal = ForeignKeyField(Deal, on_delete="CASCADE")
    contact = ForeignKeyField(Contact, on_delete="CASCADE")

    class Meta:
        indexes = ((("contact", "deal"), True),)


class NeverLog(BaseModel):
    account = ForeignKeyField(Account, on_delete="CASCADE")
    value = CharField(max_length=320)  # an address key, or a domain (covers its subdomains)

    class Meta:
        indexes = ((("account", "value"), True),)


class LoggedEmail(BaseModel):
    # No index of its own on a foreign key whose column leads a composite index: the composite serves
    # the same lookups, and each index is written on every insert (schema v7).
    account = ForeignKeyField(Account, on_delete="CASCADE", index=False)
    identity = CharField(max_length=1000)  # SPEC §9: Message-ID, or a fingerprint
    fingerprint = CharField(max_length=80, null=True)  # matches copies known by the other identity
    route = CharField(max_length=16)
    direction = CharField(max_length=16)
    owner = ForeignKeyField(User, on_delete="CASCADE")
    message_id = CharField(max_length=1000, null=True)
    subject = TextField()
    date = DateTimeField(null=True)
    from_address = CharField(max_length=320, null=True)
    from_name = CharField(max_length=300, null=True)
    to_json = TextField(default="[]")
    cc_json = TextField(default="[]")
    text_body = TextField()
    html_body = TextField(null=True)  # sanitised
    note = TextField(null=True)  # the forwarder's own words
    in_reply_to = CharField(max_length=1000, null=True)
    references_json = TextField(default="[]")
    thread_parent = ForeignKeyField("self", null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        # Every lookup is within one account: an index on a column alone let SQLite's planner pick
        # the account's index instead and read every email of the account (schema v6).
        indexes = (
            (("account", "identity"), True),
            (("account", "fingerprint"), False),
            (("account", "message_id"), False),
            (("account", "in_reply_to"), False),  # replies logged before their parent (schema v15)
        )


class Attachment(BaseModel):
    email = ForeignKeyField(LoggedEmail, backref="attachments", on_delete="CASCADE")
    filename = CharField(max_length=255)
    content_type = CharField(max_length=255)
    size = BigIntegerField()
    sha256 = CharField(max_length=64)
    logged = BooleanField(default=True)  # False: left out (over the size limit)
    # Without its angle brackets, as the HTML's "cid:" URLs name the part (RFC 2392); None when the
    # part had none (most files) or one not kept (``headerfields.content_id``). Schema v12.
    content_id = CharField(max_length=255, null=True)


class EmailContact(BaseModel):
    email = ForeignKeyField(LoggedEmail, on_delete="CASCADE", index=False)  # see LoggedEmail.account
    contact = ForeignKeyField(Contact, on_delete="CASCADE")

    class Meta:
        indexes = ((("email", "contact"), True),)


class EmailCompany(BaseModel):
    email = ForeignKeyField(LoggedEmail, on_delete="CASCADE", index=False)  # see LoggedEmail.account
    company = ForeignKeyField(Company, on_delete="CASCADE")

    class Meta:
        indexes = ((("email", "company"), True),)


class EmailDeal(BaseModel):
    email = ForeignKeyField(LoggedEmail, on_delete="CASCADE", index=False)  # see LoggedEmail.account
    deal = ForeignKeyField(Deal, on_delete="CASCADE")

    class Meta:
        indexes = ((("email", "deal"), True),)


class Ledger(BaseModel):
    """One row per message seen in an intake folder, keyed by account, mailbox, UIDVALIDITY and UID."""

    account = ForeignKeyField(Account, on_delete="CASCADE", index=False)  # see LoggedEmail.account
    mailbox = CharField(max_length=200)
    uidvalidity = BigIntegerField()
    uid = BigIntegerField()
    sha256 = CharField(max_length=64, null=True)
    message_id = CharField(max_length=1000, null=True)
    outcome = CharField(max_length=16, default="pending")  # pending|logged|skipped|rejected|failed
    reason = CharField(max_length=64, null=True)
    detail = TextField(null=True)
    route = CharField(max_length=16, null=True)
    owner = CharField(max_length=320, null=True)
    trace_json = TextField(default="[]")
    folder = CharField(max_length=300, null=True)  # where the message was (or is to be) moved
    email = ForeignKeyField(LoggedEmail, null=True, on_delete="SET NULL")
    attempts = IntegerField(default=0)  # started, including any interrupted by the process dying
    failures = IntegerField(default=0)  # of those, ended by the message's own crash (SPEC §10)
    disposed = BooleanField(default=False)
    first_seen = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        # A mailbox name is one account's: two accounts may each have a mailbox "default" (schema v11).
        indexes = ((("account", "mailbox", "uidvalidity", "uid"), True),)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Account,
    User,
    UserAddress,
    TeamInbox,
    Company,
    Contact,
    ContactAddress,
    Deal,
    DealContact,
    NeverLog,
    LoggedEmail,
    Attachment,
    EmailContact,
    EmailCompany,
    EmailDeal,
    Ledger,
)


class Outbox(BaseModel):
    """A notice waiting for the SMTP relay (SPEC §11): an outage never blocks logging."""

    account = ForeignKeyField(Account, on_delete="CASCADE")
    ledger_key = CharField(max_length=400)
    reason = CharField(max_length=64)
    recipient = CharField(max_length=320, index=True)
    message_id = CharField(max_length=400)
    raw = BlobField()
    status = CharField(max_length=16, default="pending")  # pending | sent | failed
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    last_error = TextField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("ledger_key", "reason"), True),)
