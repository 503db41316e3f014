"""The outbox table: notices queued in the ledger's transaction, then sent and retried with backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..addresses import ascii_domain
from .models import Ledger, Outbox, utcnow

# 1, 2, 4 … minutes, capped at an hour; after two days of refusal the notice is given up.
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=2)
# How long a notice being sent is kept from other senders; a sender that died gives it up then.
CLAIM_FOR = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    id: int
    recipient: str
    message_id: str
    raw: bytes
    attempts: int


def outbox_recipient(address: str) -> str:
    """The form a recipient is stored, counted and sent to in: lower case, the domain in A-labels.

    One form for both, so that the daily limit counts a rep however the domain was spelled
    (``xn--…`` in the From, Unicode in the CRM), and so that the SMTP envelope, which is ASCII
    unless the relay offers SMTPUTF8 (RFC 6531), can carry an internationalised domain.
    """
    local, at, domain = address.strip().rpartition("@")
    return f"{local}{at}{ascii_domain(domain) if at else domain}".lower()


def enqueue(
    account_id: int, ledger_key: str, reason: str, recipient: str, message_id: str, raw: bytes
) -> None:
    """Queue a notice once per (ledger key, reason): a re-recorded batch never queues it twice."""
    (
        Outbox.insert(
            account=account_id,
            ledger_key=ledger_key,
            reason=reason,
            recipient=outbox_recipient(recipient),
            message_id=message_id,
            raw=raw,
        )
        .on_conflict_ignore()
        .execute()
    )


@dataclass(frozen=True, slots=True)
class NoticeKey:
    """A notice about to be queued: whose, for what, about which ledger row."""

    account_id: int
    account: str
    recipient: str
    reason: str
    ledger_key: str  # "ACCOUNT|MAILBOX/UIDVALIDITY/UID", as the outbox stores it


# How many of a rep's latest notices for one reason are looked at for an earlier delivery.
TOLD_LOOKBACK = 50


def told_before(notice: NoticeKey, sha256: str) -> bool:
    """Whether another delivery of these very bytes already queued a notice for ``notice.reason``: a
    message moved back to the intake folder (``errors retry``, or by hand) and refused again.

    Looked for from the rep's own latest notices for that reason (the outbox's recipient index),
    each checked against its ledger row by the ledger's key: the ledger has no index on the hash,
    and reading it by hash read every row of the account for each notice queued.
    """
    earlier = (
        Outbox.select(Outbox.ledger_key)
        .where(
            (Outbox.account == notice.account_id)
            & (Outbox.recipient == outbox_recipient(notice.recipient))
            & (Outbox.reason == notice.reason)
            & (Outbox.ledger_key != notice.ledger_key)
        )
        .order_by(Outbox.id.desc())
        .limit(TOLD_LOOKBACK)
        .tuples()
    )
    keys = [_ledger_key(key, notice.account) for (key,) in earlier]
    return any(key is not None and _hashed(notice.account_id, key, sha256) for key in keys)


def _ledger_key(text: str, account: str) -> tuple[str, int, int] | None:
    mailbox, _, numbers = text.removeprefix(f"{account}|").rpartition("/")
    mailbox, _, uidvalidity = mailbox.rpartition("/")
    if not (mailbox and uidvalidity.isdigit() and numbers.isdigit()):
        return None
    return mailbox, int(uidvalidity), int(numbers)


def _hashed(account_id: int, key: tuple[str, int, int], sha256: str) -> bool:
    mailbox, uidvalidity, uid = key
    return bool(
        Ledger.select()
        .where(
            (Ledger.account == account_id)
            & (Ledger.mailbox == mailbox)
            & (Ledger.uidvalidity == uidvalidity)
            & (Ledger.uid == uid)
            & (Ledger.sha256 == sha256)
        )
        .exists()
    )


def sent_today(account_id: int, recipient: str) -> int:
    """Notices queued for this recipient in the last 24 hours (SPEC §11's daily limit)."""
    since = utcnow() - timedelta(days=1)
    return int(
        Outbox.select()
        .where(
            (Outbox.account == account_id)
            & (Outbox.recipient == outbox_recipient(recipient))
            & (Outbox.created_at >= since)
        )
        .count()
    )


def due(account_id: int, limit: int = 100) -> list[QueuedNotice]:
    rows = (
        Outbox.select()
        .where(
            (Outbox.account == account_id)
            & (Outbox.status == "pending")
            & (Outbox.next_attempt_at <= utcnow())
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    return [QueuedNotice(r.id, r.recipient, r.message_id, bytes(r.raw), r.attempts) for r in rows]


def claim(notice_id: int) -> bool:
    """Take a due notice for sending; False when another sender took it since it was read.

    Two mailboxes may share an account (SPEC §14), so two threads or processes may read the same due
    rows: the conditional UPDATE lets exactly one of them send each notice.
    """
    now = utcnow()
    taken = (
        Outbox.update(next_attempt_at=now + CLAIM_FOR)
        .where((Outbox.id == notice_id) & (Outbox.status == "pending") & (Outbox.next_attempt_at <= now))
        .execute()
    )
    return bool(taken)


def mark_sent(notice_id: int) -> None:
    Outbox.update(status="sent", sent_at=utcnow(), attempts=Outbox.attempts + 1, last_error=None).where(
        Outbox.id == notice_id
    ).execute()


def retry_wait(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after the first, second, third … failure, never more than LONGEST_WAIT.

    The exponent is bounded first: a two-day outage makes some fifty attempts, and from the 42nd,
    FIRST_RETRY × 2**attempts no longer fits a timedelta (OverflowError).
    """
    return min(FIRST_RETRY * (1 << min(attempts, _DOUBLINGS)), LONGEST_WAIT)


# Doublings of FIRST_RETRY that reach LONGEST_WAIT: beyond these the wait stays at its cap.
_DOUBLINGS = (LONGEST_WAIT // FIRST_RETRY).bit_length()


def mark_failed(notice: QueuedNotice, error: str, permanent: bool) -> None:
    """Record a failed attempt; retry later with exponential backoff, or give up."""
    row = Outbox.get_by_id(notice.id)
    wait = retry_wait(notice.attempts)
    expired = utcnow() - row.created_at > GIVE_UP_AFTER
    row.attempts = notice.attempts + 1
    row.last_error = error[:1000]
    row.next_attempt_at = utcnow() + wait
    row.status = "failed" if permanent or expired else "pending"
    row.save()


def given_up(account_id: int, since: timedelta) -> int:
    """Notices marked failed (refused for good, or for two days) among those queued since ``since`` ago."""
    return int(
        Outbox.select()
        .where(
            (Outbox.account == account_id)
            & (Outbox.status == "failed")
            & (Outbox.created_at >= utcnow() - since)
        )
        .count()
    )


def last_error(account_id: int) -> str | None:
    """Why the latest notice still waiting was not sent, if it was tried: what the relay last said."""
    row = (
        Outbox.select(Outbox.last_error)
        .where(
            (Outbox.account == account_id) & (Outbox.status == "pending") & Outbox.last_error.is_null(False)
        )
        .order_by(Outbox.next_attempt_at.desc(), Outbox.id.desc())
        .first()
    )
    return None if row is None else str(row.last_error)


def backlog(account_id: int) -> int:
    return int(Outbox.select().where((Outbox.account == account_id) & (Outbox.status == "pending")).count())
