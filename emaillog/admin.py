"""What the admin command line changes in the CRM: users, addresses, team inboxes, never-log
entries, companies and deals. Each function takes one account's store and plain values, checked as
adminvalues.py checks them before anything is written."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from .adminvalues import (
    AdminError,
    company_domain_value,
    contact_address_key,
    email_key,
    name_value,
    never_log_value,
    user_address_key,
)
from .domains import company_domain
from .settings import Settings
from .store import Store
from .store.bulk import write_transaction
from .store.models import (
    Company,
    Contact,
    ContactAddress,
    Deal,
    DealContact,
    LoggedEmail,
    NeverLog,
    TeamInbox,
    User,
    UserAddress,
    to_utc_naive,
    utcnow,
)

# Each change that reads before it writes is a write_transaction: in SQLite's default transaction a
# command run while a pass was writing got "database is locked" at once instead of waiting for it.


def _user(store: Store, settings: Settings, email: str) -> User:
    user = User.get_or_none((User.account == store.account_id) & (User.email == email_key(settings, email)))
    if user is None:
        raise AdminError(f"no user with the login email {email} (add it with: emaillog users add {email})")
    return cast(User, user)


def add_user(
    store: Store, settings: Settings, email: str, name: str | None, active: bool, may_log: bool
) -> User:
    key = user_address_key(settings, email)
    name = None if name is None else name_value(name)
    with write_transaction(store.db):
        user, created = User.get_or_create(
            account=store.account_id, email=key, defaults=dict(name=name, active=active, may_log=may_log)
        )
        if not created:
            user.name, user.active, user.may_log = name or user.name, active, may_log
            user.save()
    return cast(User, user)


def connect_address(store: Store, settings: Settings, email: str, address: str, at: datetime | None) -> str:
    return _user_address(store, settings, email, address, "connected", at)


def add_alias(store: Store, settings: Settings, email: str, address: str) -> str:
    return _user_address(store, settings, email, address, "alias", None)


def _user_address(
    store: Store, settings: Settings, email: str, address: str, kind: str, at: datetime | None
) -> str:
    """Give the user the address; its key (as stored)."""
    user = _user(store, settings, email)
    key = user_address_key(settings, address)
    with write_transaction(store.db):
        row, created = UserAddress.get_or_create(
            account=store.account_id,
            user=user,
            address=key,
            kind=kind,
            defaults=dict(connected_at=to_utc_naive(at) or utcnow()),
        )
        if not created and at is not None:
            row.connected_at = to_utc_naive(at)
            row.save()
    return key


def add_team_inbox(
    store: Store, settings: Settings, address: str, connected_by: str, at: datetime | None
) -> str:
    user = _user(store, settings, connected_by)
    key = user_address_key(settings, address)
    with write_transaction(store.db):
        inbox = TeamInbox.get_or_none((TeamInbox.account == store.account_id) & (TeamInbox.address == key))
        if inbox is None:
            TeamInbox.create(
                account=store.account_id,
                address=key,
                connected_by=user,
                connected_at=to_utc_naive(at) or utcnow(),
            )
        else:
            inbox.connected_by, inbox.connected_at = user, to_utc_naive(at) or utcnow()
            inbox.save()
    return key


def add_never_log(store: Store, settings: Settings, value: str) -> str:
    entry = never_log_value(settings, value, adding=True)
    NeverLog.insert(account=store.account_id, value=entry).on_conflict_ignore().execute()
    return entry


def remove_never_log(store: Store, settings: Settings, value: str) -> bool:
    entry = never_log_value(settings, value)
    deleted = (
        NeverLog.delete().where((NeverLog.account == store.account_id) & (NeverLog.value == entry)).execute()
    )
    return bool(deleted)


def list_never_log(store: Store) -> list[str]:
    return [
        row.value
        for row in NeverLog.select().where(NeverLog.account == store.account_id).order_by(NeverLog.value)
    ]


def add_company(store: Store, domain: str, name: str | None) -> None:
    domain = company_domain_value(domain)
    name = None if name is None else name_value(name)
    with write_transaction(store.db):
        company, created = Company.get_or_create(
            account=store.account_id, domain=domain, defaults=dict(name=name or domain)
        )
        if not created and name:
            company.name = name
            company.save()


def ensure_contact(store: Store, settings: Settings, address: str, name: str | None = None) -> int:
    """The contact with ``address``, created (with its company, SPEC §7) when missing; AdminError for
    an address that is never a contact (adminvalues.contact_address_key), even one made a contact
    before that was checked."""
    return _contact_id(store, contact_address_key(settings, store.lookup, address), name)


def _contact_id(store: Store, key: str, name: str | None = None) -> int:
    """The contact of the checked address ``key``, created when missing."""
    row = ContactAddress.get_or_none(
        (ContactAddress.account == store.account_id) & (ContactAddress.address == key)
    )
    if row is not None:
        return int(row.contact_id)
    domain = company_domain(key.rpartition("@")[2])
    company_id = store.recorder.ensure_company(domain) if domain else None
    contact = Contact.create(account=store.account_id, name=name, company=company_id)
    ContactAddress.create(account=store.account_id, contact=contact, address=key)
    return int(contact.id)


def add_deal(
    store: Store,
    settings: Settings,
    name: str,
    contacts: list[str],
    closed: bool,
    created: datetime | None,
    another: bool = False,
) -> int:
    """Add a deal. One of the same name is refused unless ``another`` says a second is meant: the
    same command run twice made two identical deals, and a name that several deals have names none
    (the only key an admin gives a deal: `deals import` refuses it)."""
    name = name_value(name)
    contacts = contact_keys(store, settings, contacts)
    with write_transaction(store.db):
        existing = deals_named(store, name)
        if existing and not another:
            raise AdminError(_deal_exists(name, existing[0]))
        deal = Deal.create(
            account=store.account_id,
            name=name,
            is_open=not closed,
            created_at=to_utc_naive(created) or utcnow(),
        )
        _link_contacts(store, int(deal.id), contacts)
    return int(deal.id)


def _deal_exists(name: str, deal: Deal) -> str:
    if deal.is_open:
        state, instead = "open", "link more contacts to it with `emaillog deals import`"
    else:
        state, instead = "closed", f"reopen it with `emaillog deals reopen {deal.id}`"
    return (
        f"a deal named {name!r} exists already (id {deal.id}, {state}): {instead}, or give --another "
        "to add a second deal of that name"
    )


def deals_named(store: Store, name: str) -> list[Deal]:
    """The account's deals called ``name``: a deal has no other key an admin can give."""
    query = Deal.select().where((Deal.account == store.account_id) & (Deal.name == name)).order_by(Deal.id)
    return list(query)


def update_deal(
    store: Store,
    settings: Settings,
    deal_id: int,
    contacts: list[str],
    closed: bool,
    created: datetime | None,
) -> None:
    """Open or close a deal, move its created time when given, and add contacts it lacks (none are
    taken away: other contacts may have been linked since)."""
    contacts = contact_keys(store, settings, contacts)
    with write_transaction(store.db):
        changes: dict[str, object] = {"is_open": not closed}
        if created is not None:
            changes["created_at"] = to_utc_naive(created)
        Deal.update(**changes).where((Deal.id == deal_id) & (Deal.account == store.account_id)).execute()
        _link_contacts(store, deal_id, contacts)


def contact_keys(store: Store, settings: Settings, contacts: list[str]) -> list[str]:
    """A deal's contacts checked before anything is written: one refused half-way through rolled
    the deal back, but only after the deal's other checks and writes had run. An existing contact
    the mail path would never have made (one `deals add` took before it checked) is refused too."""
    return [contact_address_key(settings, store.lookup, address) for address in contacts]


def _link_contacts(store: Store, deal_id: int, keys: list[str]) -> None:
    """Link the contacts of ``keys``, as contact_keys checked them, creating those missing."""
    for key in keys:
        DealContact.insert(deal=deal_id, contact=_contact_id(store, key)).on_conflict_ignore().execute()


def remove_user_address(store: Store, settings: Settings, email: str, address: str, kind: str) -> None:
    """Take a connected address or an alias away from a user. What was logged through it stays:
    only messages that arrive from now on stop matching it."""
    user = _user(store, settings, email)
    key = email_key(settings, address)
    deleted = (
        UserAddress.delete()
        .where(
            (UserAddress.account == store.account_id)
            & (UserAddress.user == user)
            & (UserAddress.address == key)
            & (UserAddress.kind == kind)
        )
        .execute()
    )
    if not deleted:
        what = "a connected address" if kind == "connected" else "an alias"
        raise AdminError(f"{key} is not {what} of {user.email} (see: emaillog users list)")


def remove_user(store: Store, settings: Settings, email: str) -> None:
    """Remove a user who owns nothing: logged emails and team inboxes go with their user in the
    database (ON DELETE CASCADE), so a user who has any is refused and may be deactivated instead."""
    user = _user(store, settings, email)
    with write_transaction(store.db):
        emails = LoggedEmail.select().where(LoggedEmail.owner == user).count()
        if emails:
            raise AdminError(
                f"{user.email} owns {emails} logged email(s) and cannot be removed; deactivate the user "
                f"instead: emaillog users add {user.email} --inactive"
            )
        inboxes = [i.address for i in TeamInbox.select().where(TeamInbox.connected_by == user)]
        if inboxes:
            raise AdminError(
                f"{user.email} connected the team inbox(es) {', '.join(inboxes)}: connect them by another "
                "user (emaillog team-inboxes add ADDRESS --connected-by EMAIL) or remove them first"
            )
        UserAddress.delete().where(UserAddress.user == user).execute()
        user.delete_instance()


def remove_team_inbox(store: Store, settings: Settings, address: str) -> None:
    key = email_key(settings, address)
    deleted = (
        TeamInbox.delete()
        .where((TeamInbox.account == store.account_id) & (TeamInbox.address == key))
        .execute()
    )
    if not deleted:
        raise AdminError(f"{key} is not a team inbox (see: emaillog team-inboxes list)")


def set_deal_open(store: Store, deal_id: int, is_open: bool) -> None:
    """Close or reopen a deal by its id (see: emaillog deals list); only open deals get new email."""
    updated = (
        Deal.update(is_open=is_open)
        .where((Deal.id == deal_id) & (Deal.account == store.account_id))
        .execute()
    )
    if not updated:
        raise AdminError(f"no deal with the id {deal_id} (see: emaillog deals list)")
