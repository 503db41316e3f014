"""The values that flow through the rule engine: facts in, a decision with its trace out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from ..addresses import Address
from ..contents import Attachment
from ..message import Email
from ..senderauth import AuthVerdict

Route = Literal["bcc", "forward"]
Direction = Literal["outgoing", "incoming"]
Outcome = Literal["logged", "skipped", "rejected", "failed"]


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    email: str
    name: str | None
    active: bool
    may_log: bool


@dataclass(frozen=True, slots=True)
class ContactRef:
    id: int
    name: str | None
    company_domain: str | None


@dataclass(frozen=True, slots=True)
class DealRef:
    id: int
    name: str


class Lookup(Protocol):
    """Read-only questions the rules ask about one account's CRM data."""

    def team_inbox_owner(self, key: str) -> UserRef | None: ...
    def users_connected(self, key: str) -> list[tuple[UserRef, datetime]]: ...
    def user_by_login(self, key: str) -> UserRef | None: ...
    def users_with_alias(self, key: str) -> list[UserRef]: ...
    def is_internal(self, key: str) -> bool: ...
    def never_log_entries(self) -> frozenset[str]: ...
    def contact(self, key: str) -> ContactRef | None: ...
    def open_deals(self, contact_id: int, limit: int) -> list[DealRef]: ...


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step of a decision: which rule, whether it hit, why, and the data it looked at."""

    rule: str
    hit: bool
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "hit": self.hit, "reason": self.reason, "data": dict(self.data)}


@dataclass(frozen=True, slots=True)
class Attribution:
    user: UserRef | None
    rule: str  # e.g. "team-inbox", "connected", "login", "alias", "connected-earliest", "none"
    passed_over: str | None = None  # the deactivated user the rules picked before ``user`` (see attribute)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A candidate contact and what the rules made of it."""

    address: Address
    key: str
    excluded: str | None  # why it is not a contact (user, never-log, company-domain, …), or None
    contact: ContactRef | None
    may_create: bool

    @property
    def logged_on(self) -> bool:
        return self.excluded is None and (self.contact is not None or self.may_create)


@dataclass(frozen=True, slots=True)
class ContactPlan:
    key: str
    name: str | None
    contact_id: int | None  # None: create it
    company_domain: str | None


@dataclass(frozen=True, slots=True)
class EmailPlan:
    """One email to be stored, exactly as it will be written."""

    identity: str
    fingerprint: str  # matches a copy of the same email known by the other kind of identity (SPEC §9)
    route: Route
    direction: Direction
    owner_id: int
    message_id: str | None
    subject: str
    date: datetime | None
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    text: str
    html: str | None
    note: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    attachments: tuple[Attachment, ...]
    left_out: tuple[Attachment, ...]
    contacts: tuple[ContactPlan, ...]
    deal_ids: tuple[int, ...]
    # Associated only if they are contacts when the email is recorded; never created (see
    # recipients.contacts_by_then). Not counted as something to log on: the snapshot had no contact.
    contacts_if_made: tuple[ContactPlan, ...] = ()

    @property
    def company_domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.company_domain for c in self.contacts if c.company_domain))


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the gate rules judge, derived once from the email and the CRM."""

    email: Email
    route: Route
    attribution: Attribution
    forward_found: bool
    original_sender: Recipient | None
    recipients: tuple[Recipient, ...]
    plans: tuple[EmailPlan, ...]
    max_body_bytes: int
    authentication: AuthVerdict | None = None  # None: no trusted authserv-id is configured


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str | None
    route: Route | None
    owner: UserRef | None
    plans: tuple[EmailPlan, ...]
    trace: tuple[TraceEntry, ...]
    detail: str | None = None  # a sentence for the admin and the notice; never body text

    @property
    def folder_kind(self) -> Literal["processed", "error"]:
        return "error" if self.outcome in ("rejected", "failed") else "processed"


@dataclass(frozen=True, slots=True)
class Hit:
    """What a gate rule returns when it matches."""

    reason: str
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)
