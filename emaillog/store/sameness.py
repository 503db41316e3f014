"""SPEC §9: which email each plan of a batch is — a stored one, another plan of the batch, or new.

Copies of one email that reach the same batch, one known by its Message-ID and one only by its
fingerprint (forwarded as attachment by one rep, inline by another), are one email: the copy with
the Message-ID is the one written, so replies can be threaded to it. (Copies in different batches
are joined by the recorder's lookup of stored fingerprints.)
"""

from __future__ import annotations

from collections.abc import Iterable

from ..rules.model import EmailPlan


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
