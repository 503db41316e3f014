"""SPEC §4, §6, §7: which addresses become contacts, which are only associated, which are left out."""

from __future__ import annotations

from collections.abc import Iterable

from ..addresses import Address
from ..domains import company_domain, covering
from ..settings import Settings
from .model import ContactPlan, Lookup, Recipient


def exclusion(key: str, lookup: Lookup, settings: Settings, never_log: frozenset[str]) -> str | None:
    """Why an address can never be a contact, or None when it may be one."""
    domain = key.rpartition("@")[2]
    # Any mailbox's of the deployment (SPEC §4): a team that copies another team's logging address
    # has that team log it too, and neither team's account gains the address as a contact.
    if key in settings.every_logging_address:
        return "logging-address"
    if own_domain(domain, settings) is not None:
        return "company-domain"
    if never_log_entry(key, never_log) is not None:
        return "never-log"
    if lookup.is_internal(key):
        return "user"
    return None


def own_domain(domain: str, settings: Settings) -> str | None:
    """The company's own domain (configured) that ``domain`` is or is below, the most specific one
    when several are (the admin's message names it), or None."""
    return covering(domain, settings.company_domains)


def never_log_entry(key: str, never_log: frozenset[str]) -> str | None:
    """The never-log entry that covers the address ``key``: itself, or a domain it is at or below
    (SPEC §6), the most specific one when several do (the admin's message names it)."""
    if key in never_log:
        return key
    # The domain's parents are looked up, not every entry scanned (rules per recipient). None of
    # them holds an "@" (the domain follows the last one): an address entry never covers a domain.
    return covering(key.rpartition("@")[2], never_log)


def classify(
    addresses: Iterable[Address],
    lookup: Lookup,
    settings: Settings,
    *,
    may_create: bool,
    never_log: frozenset[str],
) -> tuple[Recipient, ...]:
    found: list[Recipient] = []
    seen: set[str] = set()
    for address in addresses:
        key = settings.key(address.address)
        if key in seen:
            continue
        seen.add(key)
        excluded = exclusion(key, lookup, settings, never_log)
        contact = None if excluded else lookup.contact(key)
        found.append(Recipient(address, key, excluded, contact, may_create))
    return tuple(found)


def contact_plans(recipients: Iterable[Recipient]) -> tuple[ContactPlan, ...]:
    """The contacts an email is logged on: existing ones, and new ones where creating is allowed."""
    plans = []
    for r in recipients:
        if not r.logged_on:
            continue
        # A contact's company is its first one; one without any gets its domain's (SPEC §7).
        domain = company_domain(r.key.rpartition("@")[2])
        if r.contact is not None:
            plans.append(ContactPlan(r.key, r.contact.name, r.contact.id, r.contact.company_domain or domain))
        else:
            plans.append(ContactPlan(r.key, r.address.name, None, domain))
    return tuple(plans)


def contacts_by_then(recipients: Iterable[Recipient]) -> tuple[ContactPlan, ...]:
    """Recipients that may not be created (a forward's Cc, SPEC §5) and were no contact when the
    batch's lookup was read: the recorder associates each one that is a contact by the time the
    email is written — made by an earlier message of the same batch, say."""
    return tuple(
        ContactPlan(r.key, r.address.name, None, company_domain(r.key.rpartition("@")[2]))
        for r in recipients
        if r.excluded is None and r.contact is None and not r.may_create
    )
