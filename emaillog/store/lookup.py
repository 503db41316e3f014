"""The rules' read-only view of one account's CRM (implements rules.model.Lookup)."""

from __future__ import annotations

from datetime import datetime

from peewee import JOIN

from ..rules.model import ContactRef, DealRef, UserRef
from .bulk import select_in
from .models import (
    Company,
    Contact,
    ContactAddress,
    Deal,
    DealContact,
    NeverLog,
    TeamInbox,
    User,
    UserAddress,
)

# The batch's prefetch queries, as plain SQL (see bulk.select_in).
_CONTACTS_BY_ADDRESS = (
    'SELECT a."address", c."id", c."name", co."domain" FROM "contact_address" AS a '
    'JOIN "contact" AS c ON c."id" = a."contact_id" '
    'LEFT OUTER JOIN "company" AS co ON co."id" = c."company_id" '
    'WHERE a."account_id" = ? AND a."address" IN ({values})'
)
# Newest first: a contact's DEALS_PER_CONTACT most recent open deals are the first ones.
_OPEN_DEALS_OF_CONTACTS = (
    'SELECT dc."contact_id", d."id", d."name" FROM "deal" AS d '
    'JOIN "deal_contact" AS dc ON dc."deal_id" = d."id" '
    'WHERE d."account_id" = ? AND d."is_open" AND dc."contact_id" IN ({values}) '
    'ORDER BY d."created_at" DESC, d."id" DESC'
)


def user_ref(user: User) -> UserRef:
    return UserRef(user.id, user.email, user.name, bool(user.active), bool(user.may_log))


class CrmLookup:
    """Every query is filtered by the account: no answer ever crosses tenants."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def team_inbox_owner(self, key: str) -> UserRef | None:
        inbox = (
            TeamInbox.select(TeamInbox, User)
            .join(User)
            .where((TeamInbox.account == self.account_id) & (TeamInbox.address == key))
            .first()
        )
        return user_ref(inbox.connected_by) if inbox else None

    def users_connected(self, key: str) -> list[tuple[UserRef, datetime]]:
        rows = self._addresses(key, "connected")
        return [(user_ref(row.user), row.connected_at) for row in rows]

    def user_by_login(self, key: str) -> UserRef | None:
        user = User.get_or_none((User.account == self.account_id) & (User.email == key))
        return user_ref(user) if user else None

    def users_with_alias(self, key: str) -> list[UserRef]:
        return [user_ref(row.user) for row in self._addresses(key, "alias")]

    def _addresses(self, key: str, kind: str) -> list[UserAddress]:
        return list(
            UserAddress.select(UserAddress, User)
            .join(User)
            .where(
                (UserAddress.account == self.account_id)
                & (UserAddress.address == key)
                & (UserAddress.kind == kind)
            )
        )

    def is_internal(self, key: str) -> bool:
        """Any address of any user, or a team inbox: never a contact (SPEC §4)."""
        account = self.account_id
        return bool(
            User.select().where((User.account == account) & (User.email == key)).exists()
            or UserAddress.select()
            .where((UserAddress.account == account) & (UserAddress.address == key))
            .exists()
            or TeamInbox.select().where((TeamInbox.account == account) & (TeamInbox.address == key)).exists()
        )

    def never_log_entries(self) -> frozenset[str]:
        return frozenset(
            row.value for row in NeverLog.select(NeverLog.value).where(NeverLog.account == self.account_id)
        )

    def contact(self, key: str) -> ContactRef | None:
        row = (
            ContactAddress.select(ContactAddress, Contact, Company)
            .join(Contact)
            .join(Company, JOIN.LEFT_OUTER)
            .where((ContactAddress.account == self.account_id) & (ContactAddress.address == key))
            .first()
        )
        if row is None:
            return None
        contact = row.contact
        return ContactRef(contact.id, contact.name, contact.company.domain if contact.company else None)

    def open_deals(self, contact_id: int, limit: int) -> list[DealRef]:
        rows = (
            Deal.select(Deal.id, Deal.name)
            .join(DealContact)
            .where((DealContact.contact == contact_id) & Deal.is_open & (Deal.account == self.account_id))
            .order_by(Deal.created_at.desc(), Deal.id.desc())
            .limit(limit)
        )
        return [DealRef(d.id, d.name) for d in rows]


class SnapshotLookup(CrmLookup):
    """The lookup for one batch: users, team inboxes and never-log entries read once, contacts and
    their open deals prefetched for every address in the batch in two queries.

    Measured on the backlog benchmark, a query per question was most of the database time. The
    snapshot is taken at the start of a batch; what the batch itself creates is found by the
    recorder, which looks contacts up again inside its transaction.
    """

    def __init__(self, account_id: int) -> None:
        super().__init__(account_id)
        self._users = {u.id: user_ref(u) for u in User.select().where(User.account == account_id)}
        self._logins = {u.email: u for u in self._users.values()}
        self._connected: dict[str, list[tuple[UserRef, datetime]]] = {}
        self._aliases: dict[str, list[UserRef]] = {}
        for row in UserAddress.select().where(UserAddress.account == account_id).order_by(UserAddress.id):
            user = self._users[row.user_id]
            if row.kind == "connected":
                self._connected.setdefault(row.address, []).append((user, row.connected_at))
            else:
                self._aliases.setdefault(row.address, []).append(user)
        self._inboxes = {
            row.address: self._users[row.connected_by_id]
            for row in TeamInbox.select().where(TeamInbox.account == account_id)
        }
        self._never_log = super().never_log_entries()
        self._contacts: dict[str, ContactRef | None] = {}
        self._deals: dict[int, list[DealRef]] = {}

    def prefetch(self, keys: set[str]) -> None:
        wanted = sorted(k for k in keys if k not in self._contacts)
        rows = select_in(Contact._meta.database, _CONTACTS_BY_ADDRESS, (self.account_id,), wanted)
        found = {address: ContactRef(cid, name, domain) for address, cid, name, domain in rows}
        self._contacts.update({key: found.get(key) for key in wanted})
        self._prefetch_deals(
            [c.id for c in self._contacts.values() if c is not None and c.id not in self._deals]
        )

    def _prefetch_deals(self, contact_ids: list[int]) -> None:
        rows = select_in(Deal._meta.database, _OPEN_DEALS_OF_CONTACTS, (self.account_id,), contact_ids)
        found: dict[int, list[DealRef]] = {cid: [] for cid in contact_ids}
        for contact_id, deal_id, name in rows:
            found[contact_id].append(DealRef(deal_id, name))
        self._deals.update(found)

    def team_inbox_owner(self, key: str) -> UserRef | None:
        return self._inboxes.get(key)

    def users_connected(self, key: str) -> list[tuple[UserRef, datetime]]:
        return self._connected.get(key, [])

    def user_by_login(self, key: str) -> UserRef | None:
        return self._logins.get(key)

    def users_with_alias(self, key: str) -> list[UserRef]:
        return self._aliases.get(key, [])

    def is_internal(self, key: str) -> bool:
        return key in self._logins or key in self._connected or key in self._aliases or key in self._inboxes

    def never_log_entries(self) -> frozenset[str]:
        return self._never_log

    def contact(self, key: str) -> ContactRef | None:
        if key not in self._contacts:
            self._contacts[key] = super().contact(key)
        return self._contacts[key]

    def open_deals(self, contact_id: int, limit: int) -> list[DealRef]:
        if contact_id not in self._deals:
            self._deals[contact_id] = super().open_deals(contact_id, 1000)
        return self._deals[contact_id][:limit]
