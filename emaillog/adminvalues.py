"""What an admin enters into the CRM, checked before anything is written: addresses, names, times,
company domains and never-log entries. AdminError when a value cannot be taken; its message says what
to change.

entered_address_key is the one check every address an admin enters passes (a user's login, alias,
connected address or team inbox; a deal's contact; a never-log entry), at the command line or in a
CSV import; admin.py writes what these return. A deal's contact is checked further against the
account's users, team inboxes, company domains and never-log list, by the rule the mail path uses
(contact_address_key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from .addresses import domain_value, make_address
from .domains import is_free_mail, is_ip_address, registrable_domain
from .rules.model import Lookup, UserRef
from .rules.recipients import exclusion, never_log_entry, own_domain
from .settings import Settings


class AdminError(Exception):
    """A request the admin can correct; the message says what to change."""


ADDRESS_LIMIT = 320  # the length of the address columns (store/models.py)


def email_key(settings: Settings, address: str) -> str:
    """The comparison key of ``address``; AdminError when it is not an email address.

    The key is made from the address as make_address cleaned it: from the text as typed, a pasted
    ``<rita@acme.com>`` was stored with its brackets (and a control character kept), and never matched."""
    parsed = make_address(None, address)
    if parsed is None:
        raise AdminError(f"{address!r} is not an email address")
    key = settings.key(parsed.address)
    if len(key) > ADDRESS_LIMIT:
        # Lower-casing lengthens some letters ("İ" is two characters lower-cased): an address within
        # the limit as typed made a key PostgreSQL refused (a DataError traceback; SQLite kept it).
        raise AdminError(
            f"{address!r} is too long: {len(key)} characters as compared, at most {ADDRESS_LIMIT}"
        )
    return key


AddressRole = Literal["user", "contact", "never-log"]

# Why a logging address cannot be what the admin meant it to be, completing "KEY is a logging
# address (…), ". A user's: SPEC §2 would attribute the daemon's own mail to them. A contact or a
# never-log entry: SPEC §4 already keeps the logging addresses from ever being a contact, so a
# contact with one never has email logged on it, and a never-log entry for one changes nothing
# (which an admin who meant to keep some mail out should hear, rather than believe it done).
LOGGING_ADDRESS_IS_NOT: dict[AddressRole, str] = {
    "user": "not a user's: mail the daemon receives or sends as itself would count as that user's",
    "contact": "never a contact (SPEC §4): no email is ever logged on it",
    "never-log": "never a contact already (SPEC §4): a never-log entry for it would change nothing",
}


def entered_address_key(settings: Settings, address: str, role: AddressRole) -> str:
    """The key of an address an admin enters into the CRM (``role``: a user's login, alias,
    connected address or team inbox; a deal's contact; a never-log entry); AdminError when it is
    not an address, holds an invisible character or is a logging address of any mailbox.

    Every command and import kind that takes such an address comes here, so that each refuses the
    same input the same way. Naming an address to remove it uses email_key: a bad one stored before
    can still be taken away."""
    key = email_key(settings, address)
    hidden = next((c for c in key if not c.isprintable()), None)
    if hidden is not None:
        # A zero-width space or byte order mark that pasted text (a web page, a second CSV file's
        # BOM) carries: kept, the address matched no mail of the person it names.
        raise AdminError(
            f"{address!r} holds an invisible character (U+{ord(hidden):04X}): type the address again"
        )
    if key in settings.every_logging_address:
        raise AdminError(
            f"{key} is a logging address (EMAILLOG_BCC_ADDRESS or EMAILLOG_FORWARD_ADDRESS), "
            + LOGGING_ADDRESS_IS_NOT[role]
        )
    return key


def user_address_key(settings: Settings, address: str) -> str:
    """The key of an address that is to be a user's (login, alias, connected, team inbox)."""
    return entered_address_key(settings, address, "user")


def contact_address_key(settings: Settings, lookup: Lookup, address: str) -> str:
    """The key of an address that is to be a contact's (a deal's contacts); AdminError, naming why,
    for one the mail path never makes a contact (SPEC §4): a user's address, a team inbox, one at a
    company's own domain, one the never-log list covers (§6). ``lookup`` is the account's.

    The mail path's own rule (rules.recipients.exclusion) decides: `deals add` took any of these,
    making a contact that the mail path then logged email on (a colleague's address, a never-log one)."""
    key = entered_address_key(settings, address, "contact")
    never_log = lookup.never_log_entries()
    excluded = exclusion(key, lookup, settings, never_log)
    if excluded is not None:
        raise AdminError(_never_a_contact(key, excluded, lookup, settings, never_log))
    return key


USERS_NOT_CONTACTS = "users are never contacts (SPEC §4)"


def _never_a_contact(
    key: str, excluded: str, lookup: Lookup, settings: Settings, never_log: frozenset[str]
) -> str:
    """Why ``key`` cannot be a contact, for the admin: ``excluded`` as exclusion gave it, with the
    user, inbox, domain or never-log entry that makes it so."""
    domain = key.rpartition("@")[2]
    if excluded == "company-domain":
        return (
            f"{key} is at {own_domain(domain, settings)}, one of the company's own domains "
            "(EMAILLOG_COMPANY_DOMAINS): they are never contacts (SPEC §4)"
        )
    if excluded == "never-log":
        entry = never_log_entry(key, never_log)
        if entry == key:
            return f"{key} is on the never-log list: it is never a contact (SPEC §4, §6)"
        return f"{key} is at {entry}, on the never-log list: its addresses are never contacts (SPEC §4, §6)"
    if excluded == "user":
        return _internal(key, lookup)
    return f"{key} is a logging address, " + LOGGING_ADDRESS_IS_NOT["contact"]  # entered_address_key's


def _internal(key: str, lookup: Lookup) -> str:
    """Whose address ``key`` is, of the account's users and team inboxes (lookup.is_internal)."""
    if lookup.user_by_login(key) is not None:
        return f"{key} is a user's address (the login of a user): {USERS_NOT_CONTACTS}"
    aliased = lookup.users_with_alias(key)
    if aliased:
        return f"{key} is a user's address (an alias of {_emails(aliased)}): {USERS_NOT_CONTACTS}"
    connected = [user for user, _ in lookup.users_connected(key)]
    if connected:
        return f"{key} is a user's address (connected by {_emails(connected)}): {USERS_NOT_CONTACTS}"
    owner = lookup.team_inbox_owner(key)
    by = f" (connected by {owner.email})" if owner else ""
    return f"{key} is a team inbox{by}: team inboxes are never contacts (SPEC §4)"


def _emails(users: list[UserRef]) -> str:
    return ", ".join(dict.fromkeys(user.email for user in users))


NAME_LIMIT = 300  # the length of the name columns (store/models.py)


def name_value(name: str) -> str:
    """A user's, company's or deal's name: PostgreSQL refuses one longer than its column, and an
    empty one names nothing (a deal is known by its name)."""
    if not name.strip():
        raise AdminError("the name is empty")
    if len(name) > NAME_LIMIT:
        raise AdminError(f"the name is {len(name)} characters long; at most {NAME_LIMIT}")
    if "\x00" in name:  # from a CSV cell: PostgreSQL cannot store it (a ValueError, a traceback)
        raise AdminError("the name holds a NUL character")
    return name


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC. It is stored in UTC: a time that has none (the
    first or last hours of the calendar in another zone) is refused here, not by a traceback then."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AdminError(f"{text!r} is not an ISO 8601 time (e.g. 2026-01-31T09:30:00Z)") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise AdminError(f"{text!r} is out of range: it has no time in UTC") from None
    return value


def never_log_value(settings: Settings, value: str, *, adding: bool = False) -> str:
    """An address or a domain (``@acme.com`` too), in the form addresses are compared in. An
    address ``adding`` to the list is checked as every address an admin enters is.

    A domain is never refused for holding a logging address (``@acme.com`` beside log@acme.com):
    it is there for everyone else at that domain, which is the admin's choice (SPEC §6)."""
    value = value.strip()
    if "@" in value.lstrip("@"):
        return entered_address_key(settings, value, "never-log") if adding else email_key(settings, value)
    domain = domain_value(value)
    if domain is None:
        raise AdminError(f"{value!r} is neither an email address nor a domain")
    return domain


def company_domain_value(domain: str) -> str:
    """A company's domain as stored: as contacts' domains are compared (addresses.domain_value).

    A contact's company is the registrable domain of its address, never a free-mail one (SPEC §7,
    domains.company_domain): a company under any other domain was kept and never matched a contact,
    while the contacts of the domain the admin meant got a company of their own."""
    value = domain_value(domain)
    if value is None or is_ip_address(value):
        raise AdminError(f"{domain.strip()!r} is not a domain")
    if is_free_mail(value):
        raise AdminError(f"{value} is free mail: its addresses never make or match a company")
    registered = registrable_domain(value)
    if registered is None:
        raise AdminError(
            f"{value} is a public suffix, not a company's domain (a company's is one label longer)"
        )
    if registered != value:
        raise AdminError(
            f"{value} is below {registered}, the domain a company registers: add {registered} (contacts "
            "of all its subdomains belong to it)"
        )
    return value
