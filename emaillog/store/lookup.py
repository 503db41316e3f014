"""The rules' read-only view of one account's CRM (implements rules.model.Lookup)."""

from __future__ import annotations

from datetime import datetime

from peewee import JOIN

from ..rules.model import ContactRef, DealRef, UserRef
from .models import Company, ContactAddress, Contact, Deal, DealContact, NeverLog, TeamInbox, User, UserAddress


def user_ref(user: User) -> UserRef:
    return UserRef(user.id, user.email, user.name, bool(user.active), bool(user.may_log))


class CrmLookup:
    """Every query is filtered by the account: no answer ever crosses tenants."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def team_inbox_owner(self, key: str) -> UserRef | None:
        inbox = (TeamInbox.select(TeamInbox, User).join(User)
                 .where((TeamInbox.account == self.account_id) & (TeamInbox.address == key)).first())
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
        return list(UserAddress.select(UserAddress, User).join(User)
                    .where((UserAddress.account == self.account_id) & (UserAddress.address == key)
                           & (UserAddress.kind == kind)))

    def is_internal(self, key: str) -> bool:
        """Any address of any user, or a team inbox: never a contact (SPEC §4)."""
        account = self.account_id
        return (User.select().where((User.account == account) & (User.email == key)).exists()
                or UserAddress.select().where((UserAddress.account == account)
                                              & (UserAddress.address == key)).exists()
                or TeamInbox.select().where((TeamInbox.account == account)
                                            & (TeamInbox.address == key)).exists())

    def never_log_entries(self) -> frozenset[str]:
        return frozenset(row.value for row in NeverLog.select(NeverLog.value)
                         .where(NeverLog.account == self.account_id))

    def contact(self, key: str) -> ContactRef | None:
        row = (ContactAddress.select(ContactAddress, Contact, Company)
               .join(Contact).join(Company, JOIN.LEFT_OUTER)
               .where((ContactAddress.account == self.account_id) & (ContactAddress.address == key)).first())
        if row is None:
            return None
        contact = row.contact
        return ContactRef(contact.id, contact.name, contact.company.domain if contact.company else None)

    def open_deals(self, contact_id: int, limit: int) -> list[DealRef]:
        rows = (Deal.select(Deal.id, Deal.name).join(DealContact)
                .where((DealContact.contact == contact_id) & Deal.is_open & (Deal.account == self.account_id))
                .order_by(Deal.created_at.desc(), Deal.id.desc()).limit(limit))
        return [DealRef(d.id, d.name) for d in rows]
