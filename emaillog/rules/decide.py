"""decide(): Email → Decision. Pure: it reads the CRM through ``Lookup`` and writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from ..message import Email, Malformed
from ..senderauth import check_authentication
from ..settings import Settings
from .assess import assess
from .chain import DEFAULT_CHAIN, RULES, Link
from .model import Decision, Facts, Lookup, Outcome, TraceEntry


def decide(
    email: Email | Malformed, settings: Settings, lookup: Lookup, chain: Sequence[Link] = DEFAULT_CHAIN
) -> Decision:
    if isinstance(email, Malformed):
        entry = TraceEntry("well-formed", True, "malformed", {"detail": email.detail})
        return Decision("rejected", "malformed", None, None, (), (entry,), email.detail)
    facts, trace = assess(email, settings, lookup)
    if settings.trusted_authserv_ids:
        facts, entry = _authenticate(facts, settings)
        trace = (*trace, entry)
    return run_chain(facts, chain, trace)


def _authenticate(facts: Facts, settings: Settings) -> tuple[Facts, TraceEntry]:
    """SPEC §12: judge the receiving server's Authentication-Results for the From domain."""
    sender = facts.email.sender
    verdict = check_authentication(
        facts.email.authentication_results, sender.domain if sender else "", settings.trusted_authserv_ids
    )
    entry = TraceEntry("authentication", verdict.passed, verdict.reason, dict(verdict.evidence))
    return replace(facts, authentication=verdict), entry


def run_chain(facts: Facts, chain: Sequence[Link], trace: tuple[TraceEntry, ...]) -> Decision:
    """Run each rule in order; the first hit decides. Every miss is recorded too."""
    entries = list(trace)
    owner = facts.attribution.user
    for link in chain:
        hit = RULES[link.rule].check(facts)
        if hit is None:
            entries.append(_missed(link.rule))
            continue
        entries.append(TraceEntry(link.rule, True, hit.reason, {"action": link.action, **hit.data}))
        outcome: Outcome = "rejected" if link.action == "reject" else "skipped"
        return Decision(outcome, hit.reason, facts.route, owner, (), tuple(entries), hit.detail)
    plans = tuple(plan for plan in facts.plans if plan.contacts)
    entries.append(TraceEntry("log", True, None, {"emails": len(plans)}))
    return Decision("logged", None, facts.route, owner, plans, tuple(entries))


@cache
def _missed(rule: str) -> TraceEntry:
    """The trace entry of a rule that did not hit: the same for every message, so made once."""
    return TraceEntry(rule, False)
