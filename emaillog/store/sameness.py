"""SPEC §9: which email each plan of a batch is — a stored one, another plan of the batch, or new.

A plan's identity is its Message-ID when it has one, else its fingerprint. Two refinements are
decided here, before anything is written:

- A Message-ID is chosen by whoever writes the email: a stranger (or a broken mailer that gives
  every email the same id) can send a different email under the Message-ID of one already logged.
  Merged into it, their email would be lost and their addresses associated with someone else's
  email. A Message-ID therefore names the same email only when the sender and the minute it was
  sent agree too (every honest copy carries the same From and Date); otherwise the plan is known
  by its fingerprint, as an email without a Message-ID is.
- Copies of one email that reach the same batch, one known by its Message-ID and one only by its
  fingerprint (forwarded as attachment by one rep, inline by another), are one email: the copy
  with the Message-ID is the one written, so replies can be threaded to it. (Copies in different
  batches are joined by the recorder's lookup of stored fingerprints.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from ..rules.model import EmailPlan
from .models import to_utc_naive

# Who sent an email and the minute they sent it: (sender address lower-cased, "YYYY-MM-DD HH:MM").
Author = tuple[str, str | None]


def author_of(plan: EmailPlan) -> Author:
    return (plan.sender.address.lower() if plan.sender else "", _minute(to_utc_naive(plan.date)))


def stored_author(from_address: str | None, date: datetime | str | None) -> Author:
    """The author of a stored email; SQLite hands a raw query's date back as text."""
    when = datetime.fromisoformat(date) if isinstance(date, str) else date
    return ((from_address or "").lower(), _minute(when))


def same_author(one: Author, other: Author) -> bool:
    # A copy without a date (a gateway dropped it) is judged by its sender alone.
    return one[0] == other[0] and (one[1] is None or other[1] is None or one[1] == other[1])


def reused_message_ids(plans: Sequence[EmailPlan], stored: dict[str, Author]) -> dict[int, str]:
    """The plans (by ``id()``) whose Message-ID is another email's, each with the identity it gets
    instead: its fingerprint. ``stored``: the author of each stored email found by identity; in a
    batch, the first plan with a Message-ID not stored yet is the one it belongs to."""
    owners = dict(stored)
    moved: dict[int, str] = {}
    for plan in plans:
        if not plan.identity.startswith("mid:"):
            continue
        author = author_of(plan)
        if not same_author(owners.setdefault(plan.identity, author), author):
            moved[id(plan)] = plan.fingerprint
    return moved


def joined_in_batch(plans: Iterable[EmailPlan], key: dict[int, str]) -> dict[int, str]:
    """Plans known only by their fingerprint (by ``id()``) that are a copy of another plan of the
    batch known by its Message-ID, each with that plan's identity. ``key``: each plan's identity."""
    plans = list(plans)
    by_print: dict[str, str] = {}
    for plan in plans:
        if key[id(plan)].startswith("mid:"):
            by_print.setdefault(plan.fingerprint, key[id(plan)])
    return {
        id(plan): by_print[plan.fingerprint]
        for plan in plans
        if key[id(plan)].startswith("fp:") and plan.fingerprint in by_print
    }


def _minute(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%d %H:%M") if when else None
