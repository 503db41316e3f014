"""When a notice must never be sent (SPEC §11): no backscatter, no loops, no floods.

A notice goes to whoever sent the message, and that address is only as trustworthy as the message. So
it is never sent to an automatic sender (it would answer a robot, maybe another bounce: a loop), to a
list (thousands of people), to ourselves, or to an address the message may have forged (backscatter,
RFC 3834 §2 and RFC 5321 §6.2). Each rule is a small function; the first that objects names the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from emaillog.addresses import Address, address_key
from emaillog.headerfields import decode_words, unfolded
from emaillog.notices.build import NOTICE_ID
from emaillog.notices.reasons import reason_for
from emaillog.senderauth import AuthVerdict

DEFAULT_DAILY_LIMIT = 10

# RFC 5321 §4.5.5 / RFC 3464 §2: bounces come from the null path; these local parts are the robots
# that send them (and postmaster, which RFC 5321 §4.5.1 reserves for people reading bounces).
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
# RFC 3834 §2: no automatic response to a message with any of these (RFC 2919, RFC 2369).
_LIST_HEADERS = (
    "list-id",
    "list-help",
    "list-subscribe",
    "list-unsubscribe",
    "list-post",
    "list-owner",
    "list-archive",
)
# "auto_reply": what vacation responders that write neither Auto-Submitted nor X-Autoreply set.
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
# Not standard, but what vacation responders without Auto-Submitted write; Exchange marks with the
# third whatever its inbox rules send (rule replies, forwards, redirects), and so stops its own loops.
_AUTOREPLY_HEADERS = frozenset({"x-autoreply", "x-autorespond", "x-ms-exchange-inbox-rules-loop"})
# MS-OXCMAIL 2.1.3.2.20 X-Auto-Response-Suppress: the answers the sender wants none of. "DR" and
# "NDR" are (non-)delivery reports, which a notice is (RFC 3464), and "All" is every kind; "RN",
# "NRN" (read receipts), "OOF" and "AutoReply" (auto-replies other than out-of-office) are not it.
_SUPPRESSES_REPORTS = frozenset({"all", "dr", "ndr"})
_COMMENT = re.compile(r"\([^()]*\)")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    """What the policy needs to know about the message and the would-be notice.

    ``envelope_sender`` is the Return-Path as delivered (``""`` or ``"<>"`` for the null path, ``None``
    when the server recorded none). ``authentication`` is the §12 verdict, ``None`` when no
    authserv-id is configured. ``headers`` are (name, value) pairs of the original, in any order.
    """

    reason: str
    recipient: Address | None
    envelope_sender: str | None
    from_address: Address | None
    headers: Sequence[tuple[str, str]]
    sender_is_user: bool
    authentication: AuthVerdict | None
    logging_addresses: Collection[str]
    own_domains: Collection[str]
    sent_today: int
    daily_limit: int = DEFAULT_DAILY_LIMIT
    case_sensitive_local: bool = False


@dataclass(frozen=True, slots=True)
class SuppressionVerdict:
    allowed: bool
    reason: str

    @classmethod
    def allow(cls) -> SuppressionVerdict:
        return cls(True, "allowed")


Rule = Callable[[NoticeFacts], str | None]


def notice_allowed(facts: NoticeFacts) -> SuppressionVerdict:
    """``allowed``, or the first suppression reason (``suppressed-…``) that applies."""
    for rule in RULES:
        objection = rule(facts)
        if objection is not None:
            return SuppressionVerdict(False, objection)
    return SuppressionVerdict.allow()


def _silent_reason(facts: NoticeFacts) -> str | None:
    return None if reason_for(facts.reason).notifies else "suppressed-silent-reason"


def _no_recipient(facts: NoticeFacts) -> str | None:
    return "suppressed-no-recipient" if facts.recipient is None else None


def _null_envelope(facts: NoticeFacts) -> str | None:
    sender = facts.envelope_sender
    if sender is None:
        return None
    if sender.strip().strip("<>").strip() == "" or _is_daemon(sender):
        return "suppressed-null-sender"
    return None


def _daemon_from(facts: NoticeFacts) -> str | None:
    sender = facts.from_address
    if sender is None or _is_daemon(sender.address):
        return "suppressed-daemon-sender"
    recipient = facts.recipient
    return "suppressed-daemon-sender" if recipient is not None and _is_daemon(recipient.address) else None


def _auto_submitted(facts: NoticeFacts) -> str | None:
    # RFC 3834 §5.1: any value but "no" (parameters and comments aside) marks automatic mail.
    for value in _values(facts, "auto-submitted"):
        keyword = value.split(";", 1)[0].split("(", 1)[0].strip().lower()
        if keyword != "no":
            return "suppressed-auto-submitted"
    names = {name.strip().lower() for name, _ in facts.headers}
    return "suppressed-auto-submitted" if names & _AUTOREPLY_HEADERS else None


def _response_suppressed(facts: NoticeFacts) -> str | None:
    # Written by Outlook and Exchange (on their own OOF replies and meeting responses too), and by
    # ticket systems, list servers and bulk senders. The writer joins the words with ", " in any
    # order; read here as words whatever else separates them, since refusing is the safe mistake.
    for value in _values(facts, "x-auto-response-suppress"):
        text = _COMMENT.sub(" ", decode_words(unfolded(value)) or "").lower()
        if _SUPPRESSES_REPORTS.intersection(_WORD.findall(text)):
            return "suppressed-response-suppress"
    return None


def _report(facts: NoticeFacts) -> str | None:
    # A report (RFC 6522: a bounce, a delay warning, a read receipt) is a machine's answer, whatever
    # its From says: Exchange signs its bounces "MicrosoftExchange329e…@" at the company's own domain,
    # and without a Return-Path (appended, or stored by a server that writes none) nothing else tells.
    for value in _values(facts, "content-type")[:1]:
        if value.split(";", 1)[0].strip().lower() == "multipart/report":
            return "suppressed-report"
    return None


def _reply_to_notice(facts: NoticeFacts) -> str | None:
    # An answer to one of our notices (a vacation reply that marks itself in no way, a reply sent by
    # a rule): a notice to it would be answered in turn, a loop only the daily limit ends.
    for value in (*_values(facts, "in-reply-to"), *_values(facts, "references")):
        if NOTICE_ID.search(value):
            return "suppressed-reply-to-notice"
    return None


def _list_mail(facts: NoticeFacts) -> str | None:
    names = {name.strip().lower() for name, _ in facts.headers}
    return "suppressed-list-mail" if names.intersection(_LIST_HEADERS) else None


def _bulk_precedence(facts: NoticeFacts) -> str | None:
    # Precedence is not standard (RFC 3834 §3.1.8 only notes it), but list servers still set it,
    # some of them quoted.
    found = {v.split("(", 1)[0].strip().strip('"').strip().lower() for v in _values(facts, "precedence")}
    return "suppressed-precedence" if found & _BULK_PRECEDENCE else None


def _to_logging_address(facts: NoticeFacts) -> str | None:
    ours = {address_key(a, facts.case_sensitive_local) for a in facts.logging_addresses}
    involved = (facts.recipient, facts.from_address)
    if any(a is not None and a.key(facts.case_sensitive_local) in ours for a in involved):
        return "suppressed-logging-address"
    return None


def _failed_authentication(facts: NoticeFacts) -> str | None:
    verdict = facts.authentication
    return "suppressed-unauthenticated" if verdict is not None and not verdict.passed else None


def _not_a_user(facts: NoticeFacts) -> str | None:
    # A stranger gets no notice: the address may be forged. A colleague at one of our own domains may,
    # but only when the receiving server vouched for the From domain (SPEC §11).
    if facts.sender_is_user:
        return None
    recipient = facts.recipient
    own = recipient is not None and _at_own_domain(recipient.domain, facts.own_domains)
    vouched = facts.authentication is not None and facts.authentication.passed
    return None if own and vouched else "suppressed-not-a-user"


def _daily_limit(facts: NoticeFacts) -> str | None:
    return "suppressed-daily-limit" if facts.sent_today >= facts.daily_limit else None


RULES: tuple[Rule, ...] = (
    _silent_reason,
    _no_recipient,
    _null_envelope,
    _daemon_from,
    _report,
    _auto_submitted,
    _response_suppressed,
    _reply_to_notice,
    _list_mail,
    _bulk_precedence,
    _to_logging_address,
    _failed_authentication,
    _not_a_user,
    _daily_limit,
)


def _values(facts: NoticeFacts, name: str) -> list[str]:
    return [value for key, value in facts.headers if key.strip().lower() == name]


def _is_daemon(address: str) -> bool:
    local = address.strip().strip("<>").rpartition("@")[0] or address.strip().strip("<>")
    return local.strip('"').lower() in _DAEMON_LOCAL_PARTS


def _at_own_domain(domain: str, own_domains: Collection[str]) -> bool:
    """``domain`` is one of ``own_domains`` or a subdomain of one (as the never-log list treats them)."""
    domain = domain.lower().rstrip(".")
    for own in own_domains:
        own = own.lower().strip().rstrip(".")
        if own and (domain == own or domain.endswith("." + own)):
            return True
    return False
