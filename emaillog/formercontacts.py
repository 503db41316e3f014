"""The contacts an admin's write takes out of the mail path (SPEC §4, §6), for a note to the admin.

Making an address a user's (login, alias, connected), a team inbox or a never-log entry is never
refused for being a contact's address already: a customer may become a colleague. But from then on
the mail path never logs email on that contact through it, and nothing said so: the contact, its
deals and its history simply stopped growing. The admin is told once, as the write is made, one line
per contact address (at most NAMED of a never-log domain, then how many more), on the account's own
contacts only.
"""

from __future__ import annotations

from peewee import JOIN, fn

from . import terminal
from .rules.recipients import never_log_entry
from .store import Store
from .store.models import Contact, ContactAddress, EmailContact

AS_USER = "as a user's address"
AS_TEAM_INBOX = "as a team inbox"
NAMED = 5  # a never-log domain may cover hundreds of contacts: the first few are named


def as_internal(store: Store, keys: list[str], as_what: str) -> list[str]:
    """The notes for ``keys``, now a user's addresses or team inboxes, that are contacts' addresses
    (one query for all of them: a users import row names the login, aliases and connected ones)."""
    return [_line(address, name, emails, as_what, "§4") for address, name, emails in _contacts(store, keys)]


def on_never_log(store: Store, entry: str) -> list[str]:
    """The notes for the contacts the never-log ``entry`` (an address, or a domain and its
    subdomains) now covers; which ones the mail path's own rule decides (never_log_entry)."""
    if "@" in entry:
        candidates = [entry]
    else:
        # A superset (LIKE's wildcards, "xacme.example"): the rule below keeps those it covers.
        query = ContactAddress.select(ContactAddress.address).where(
            (ContactAddress.account == store.account_id) & ContactAddress.address.endswith(entry)
        )
        candidates = sorted(row.address for row in query)
    covered = [key for key in candidates if never_log_entry(key, frozenset({entry})) is not None]
    found = _contacts(store, covered[:NAMED])
    why = "on the never-log list" if "@" in entry else f"at {terminal.shown(entry)}, on the never-log list"
    notes = [_line(address, name, emails, why, "§4, §6") for address, name, emails in found]
    if len(covered) > NAMED:
        notes.append(
            f"note: and {len(covered) - NAMED} more contact addresses at {terminal.shown(entry)} "
            "(see: emaillog contacts list)"
        )
    return notes


def _contacts(store: Store, keys: list[str]) -> list[tuple[str, str | None, int]]:
    """(address, contact's name, number of logged emails) of each of ``keys`` that is the address
    of one of the account's contacts, in the order given."""
    if not keys:
        return []
    rows = (
        ContactAddress.select(ContactAddress.address, Contact.name, fn.COUNT(EmailContact.id).alias("emails"))
        .join(Contact)
        .join(EmailContact, on=(EmailContact.contact == Contact.id), join_type=JOIN.LEFT_OUTER)
        .where((ContactAddress.account == store.account_id) & ContactAddress.address.in_(keys))
        .group_by(ContactAddress.id, Contact.id)
        .tuples()
    )
    found = {address: (address, name, emails) for address, name, emails in rows}
    return [found[key] for key in keys if key in found]


def _line(address: str, name: str | None, emails: int, why: str, sections: str) -> str:
    who = f"{terminal.shown(name)}, " if name else ""
    count = f"{emails} logged email{'' if emails == 1 else 's'}"
    return (
        f"note: {terminal.shown(address)} is a contact ({who}{count}): {why}, no new email will be "
        f"logged on it (SPEC {sections})"
    )
