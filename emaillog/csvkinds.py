"""The kinds of row a CSV import takes (users, companies, never-log entries, deals), as admin.py
would take them one at a time: each kind's columns, how a row's cells become its record (with the
checks of the single-row command), what makes two rows the same entry, what writing the record
would change (CREATED, UPDATED or UNCHANGED), and writing it.

A kind reads the account's rows to compare, checks cells as adminvalues.py checks them, and writes
only through admin.py.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from . import admin, adminvalues, formercontacts
from .csvfile import Column, Row
from .settings import Settings
from .store import Store
from .store.lookup import SnapshotLookup
from .store.models import Company, ContactAddress, DealContact, NeverLog, User, UserAddress, to_utc_naive

R = TypeVar("R")

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
NONE: tuple[str, ...] = ()
# Several addresses in one cell: none of these can appear in an address the checks accept.
_LIST_SEPARATORS = re.compile(r"[\s,;|]+")
_FLAGS = {
    **dict.fromkeys(("yes", "y", "true", "1", "on", "x"), True),
    **dict.fromkeys(("no", "n", "false", "0", "off"), False),
}


class Kind(ABC, Generic[R]):
    """What one kind of row is: its columns, how a row is checked, compared and written."""

    what: str
    columns: tuple[Column, ...]

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self._checking: Store | None = None

    @property
    def checking(self) -> Store:
        """The store, its lookup a snapshot of the account's users, team inboxes and never-log entries,
        which a deal's contacts are checked against (and which a deals import never changes).

        With the store's own lookup each contact address cost about four queries, twice (read, then
        again as admin.add_deal checks it), the never-log list read whole each time: a deals import
        of 20,000 rows ran 2.4-4 times as long as before it checked them (bench/deals_import.py)."""
        if self._checking is None:
            self._checking = replace(self.store, lookup=SnapshotLookup(self.store.account_id))
        return self._checking

    def writing(self) -> None:
        """The writes begin, in their transaction: what the file was checked against is read again
        there, so that a user or never-log entry added since is seen by admin.py's own checks."""
        self._checking = None

    @abstractmethod
    def parse(self, row: Row) -> R | None:
        """The row's record, or None with ``row.problems`` saying why."""

    @abstractmethod
    def key(self, record: R) -> str:
        """What makes two rows the same entry (a second one in the file is an error)."""

    @abstractmethod
    def state(self, record: R) -> str:
        """CREATED, UPDATED or UNCHANGED: what writing the record would do."""

    @abstractmethod
    def apply(self, record: R) -> None: ...

    def notes(self, record: R) -> list[str]:
        """What the admin is told of the record (formercontacts.py): the contacts it takes out of
        the mail path. Asked of a record to create or update, written or (a dry run) not."""
        return []

    def contact_addresses(self, text: str) -> tuple[str, ...]:
        """Addresses to be contacts: none the mail path never makes one (`deals add` refuses them)."""
        return self._each(
            text, lambda part: adminvalues.contact_address_key(self.settings, self.checking.lookup, part)
        )

    def user_address(self, text: str) -> str:
        """An address to be a user's: never a logging address (`users add` refuses one)."""
        return adminvalues.user_address_key(self.settings, text)

    def user_addresses(self, text: str) -> tuple[str, ...]:
        return self._each(text, self.user_address)

    def _each(self, text: str, key: Callable[[str], str]) -> tuple[str, ...]:
        """The key of each address of a cell, each once."""
        keys = (key(part) for part in _LIST_SEPARATORS.split(text) if part)
        return tuple(dict.fromkeys(keys))


def flag(text: str) -> bool:
    try:
        return _FLAGS[text.strip().lower()]
    except KeyError:
        raise adminvalues.AdminError(f"{text!r} is neither yes nor no") from None


# -- the kinds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    email: str
    name: str | None
    active: bool
    may_log: bool
    aliases: tuple[str, ...]
    connected: tuple[str, ...]


class Users(Kind[UserRecord]):
    what = "users"
    columns = (
        Column("email", required=True),
        Column("name"),
        Column("active"),
        Column("may_log"),
        Column("aliases", aliases=("alias",)),
        Column("connected", aliases=("connected_addresses",)),
    )

    def parse(self, row: Row) -> UserRecord | None:
        # The checks of `users add`, `users alias` and `users connect`: a logging address passed
        # here and was refused while writing, one row at a time, after --dry-run had said it was fine.
        email = row.required("email", self.user_address)
        name = row.optional("name", adminvalues.name_value, None)
        # An empty flag is what `users add` does without --inactive / --no-logging.
        active = row.optional("active", flag, True)
        may_log = row.optional("may_log", flag, True)
        aliases = row.optional("aliases", self.user_addresses, NONE)
        connected = row.optional("connected", self.user_addresses, NONE)
        if email is None or row.problems:
            return None
        return UserRecord(email, name, active, may_log, aliases, connected)

    def key(self, record: UserRecord) -> str:
        return record.email

    def state(self, record: UserRecord) -> str:
        user = User.get_or_none((User.account == self.store.account_id) & (User.email == record.email))
        if user is None:
            return CREATED
        # As `users add`: an empty name keeps the one the user has; addresses are only ever added.
        same = record.name in (None, user.name) and (user.active, user.may_log) == _flags(record)
        have = {(a.address, a.kind) for a in UserAddress.select().where(UserAddress.user == user)}
        wanted = {(a, "alias") for a in record.aliases} | {(a, "connected") for a in record.connected}
        return UNCHANGED if same and wanted <= have else UPDATED

    def apply(self, record: UserRecord) -> None:
        admin.add_user(self.store, self.settings, record.email, record.name, *_flags(record))
        for address in record.aliases:
            admin.add_alias(self.store, self.settings, record.email, address)
        for address in record.connected:
            admin.connect_address(self.store, self.settings, record.email, address, None)

    def notes(self, record: UserRecord) -> list[str]:
        keys = list(dict.fromkeys((record.email, *record.aliases, *record.connected)))
        return formercontacts.as_internal(self.store, keys, formercontacts.AS_USER)


def _flags(record: UserRecord) -> tuple[bool, bool]:
    return record.active, record.may_log


@dataclass(frozen=True)
class CompanyRecord:
    domain: str
    name: str | None


class Companies(Kind[CompanyRecord]):
    what = "companies"
    columns = (Column("domain", required=True), Column("name"))

    def parse(self, row: Row) -> CompanyRecord | None:
        domain = row.required("domain", adminvalues.company_domain_value)
        name = row.optional("name", adminvalues.name_value, None)
        return None if domain is None or row.problems else CompanyRecord(domain, name)

    def key(self, record: CompanyRecord) -> str:
        return record.domain

    def state(self, record: CompanyRecord) -> str:
        company = Company.get_or_none(
            (Company.account == self.store.account_id) & (Company.domain == record.domain)
        )
        if company is None:
            return CREATED
        return UNCHANGED if record.name in (None, company.name) else UPDATED

    def apply(self, record: CompanyRecord) -> None:
        admin.add_company(self.store, record.domain, record.name)


class NeverLogEntries(Kind[str]):
    what = "never-log entries"
    columns = (Column("value", required=True, aliases=("address", "domain", "entry")),)

    def parse(self, row: Row) -> str | None:
        value = row.required(
            "value", lambda text: adminvalues.never_log_value(self.settings, text, adding=True)
        )
        return None if row.problems else value

    def key(self, record: str) -> str:
        return record

    def state(self, record: str) -> str:
        query = NeverLog.select().where(
            (NeverLog.account == self.store.account_id) & (NeverLog.value == record)
        )
        return UNCHANGED if query.exists() else CREATED

    def apply(self, record: str) -> None:
        admin.add_never_log(self.store, self.settings, record)

    def notes(self, record: str) -> list[str]:
        return formercontacts.on_never_log(self.store, record)


@dataclass(frozen=True)
class DealRecord:
    name: str
    contacts: tuple[str, ...]
    closed: bool
    created: datetime | None


class Deals(Kind[DealRecord]):
    """A deal is known by its name: an import adds it once, then updates it (`deals add` refuses a
    name a deal has, unless --another)."""

    what = "deals"
    columns = (
        Column("name", required=True),
        Column("contacts", required=True, aliases=("contact",)),
        Column("closed"),
        Column("created", aliases=("created_at",)),
    )

    def parse(self, row: Row) -> DealRecord | None:
        name = row.required("name", adminvalues.name_value)
        # The checks of `deals add`: a logging address or an invisible character passed here, and
        # so did a user's address, a team inbox, a company or never-log address (SPEC §4).
        contacts = row.required("contacts", self.contact_addresses)
        closed = row.optional("closed", flag, False)
        created = row.optional("created", adminvalues.parse_time, None)
        if name is not None and len(admin.deals_named(self.store, name)) > 1:
            # Which one the row means cannot be told; the admin renames them first.
            row.problems.append(f"there are several deals named {name!r} already")
        if name is None or contacts is None or row.problems:
            return None
        return DealRecord(name, contacts, closed, created)

    def key(self, record: DealRecord) -> str:
        return record.name

    def state(self, record: DealRecord) -> str:
        found = admin.deals_named(self.store, record.name)
        if not found:
            return CREATED
        deal = found[0]
        created = to_utc_naive(record.created)
        same = deal.is_open != record.closed and created in (None, deal.created_at)
        linked = {
            link.contact_id
            for link in DealContact.select(DealContact.contact).where(DealContact.deal == deal)
        }
        return UNCHANGED if same and self._contact_ids(record) <= linked else UPDATED

    def _contact_ids(self, record: DealRecord) -> set[int | None]:
        """The contacts of the record's addresses; None for one that does not exist yet."""
        ids: set[int | None] = set()
        for address in record.contacts:
            row = ContactAddress.get_or_none(
                (ContactAddress.account == self.store.account_id) & (ContactAddress.address == address)
            )
            ids.add(None if row is None else int(row.contact_id))
        return ids

    def apply(self, record: DealRecord) -> None:
        found = admin.deals_named(self.store, record.name)
        contacts = list(record.contacts)
        if found:
            admin.update_deal(
                self.checking, self.settings, int(found[0].id), contacts, record.closed, record.created
            )
        else:
            admin.add_deal(self.checking, self.settings, record.name, contacts, record.closed, record.created)


KINDS: dict[str, type[Kind[Any]]] = {
    "users": Users,
    "companies": Companies,
    "never-log": NeverLogEntries,
    "deals": Deals,
}
