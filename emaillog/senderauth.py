"""Sender authentication from the receiving server's ``Authentication-Results`` (SPEC §12).

Anyone who learns the logging address could otherwise write into the CRM, so a message counts as sent
by its ``From`` domain only when the *receiving* server vouches for it: DMARC passed for that domain, or
a DKIM signature or the SPF check passed for a domain aligned with it (RFC 7489 §3.1, relaxed mode).

Which header to believe (RFC 8601 §1.2, §5, §7.2): every ``Authentication-Results`` header below the
receiving server's own may have been written by the sender, so only the **top-most** header whose
authserv-id is configured as trusted counts, and nothing beneath it is ever read.

Position trust: Exchange Online / EOP and Exchange on-premises stamp their header *without* an
authserv-id (``Authentication-Results: spf=pass … smtp.mailfrom=…; dkim=…``), so there is no name to
trust. Configuring the pseudo-id :data:`TRUST_TOPMOST` (``@topmost``) trusts the top-most header by
its position alone, whatever id it carries or lacks. That is only sound when the server that delivers
into the mailbox always prepends its own header (Exchange Online does for every inbound message);
behind a gateway that does not, the top-most header may be the sender's forgery.

Parsing uses the ``authres`` library (RFC 8601 grammar: comments, quoted strings, a version after the
authserv-id, ``none``). Hostile text is bounded before it reaches the parser, and a header that cannot
be parsed is never skipped: if it is the trusted one, the verdict is a failure.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import authres
from publicsuffixlist import PublicSuffixList

from .addresses import ascii_domain

# The pseudo authserv-id that trusts the top-most header by position (see the module docstring).
TRUST_TOPMOST = "@topmost"

# Real headers are under 2 KB (Google's, with ARC comments, about 1 KB). Longer ones, or comments
# nested deeper than anyone writes, are hostile: authres recurses per nested comment.
_MAX_HEADER = 8192
_MAX_COMMENT_DEPTH = 8

# Stands in for the missing authserv-id of a position-only header so that authres can parse it. The
# ".invalid" TLD (RFC 2606) is never a real server's id, and position-only headers are marked apart.
_POSITION_ID = "position-only.invalid"

# A header with no authserv-id starts straight with "method=result" (optionally after a comment).
_STARTS_WITH_RESULT = re.compile(r"^\s*(?:\([^()]*\)\s*)*[A-Za-z0-9_-]+\s*=")
_LEADING_ID = re.compile(r"^\s*(?:\([^()]*\)\s*)*([^\s;()\"]+)")


@dataclass(frozen=True, slots=True)
class AuthVerdict:
    """Whether the From domain was authenticated, why, and the evidence an admin can inspect."""

    passed: bool
    reason: str
    evidence: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class _Result:
    method: str
    result: str
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class _Header:
    authserv_id: str | None
    results: tuple[_Result, ...]


def check_authentication(
    headers: Sequence[str], from_domain: str, trusted_ids: Collection[str]
) -> AuthVerdict:
    """Decide from ``Authentication-Results`` values, top-most first, whether ``from_domain`` passed.

    ``trusted_ids`` are the receiving server's authserv-ids (compared case-insensitively), and may
    hold :data:`TRUST_TOPMOST`. With no trusted id at all this fails closed: callers that have none
    configured should not call it (``check`` warns about that instead, SPEC §12).
    """
    trusted = {i.strip().lower() for i in trusted_ids if i.strip()}
    domain = _normalise_domain(from_domain)
    if not trusted:
        return _fail("not-configured")
    if not domain:
        return _fail("no-from-domain")
    if not headers:
        return _fail("no-authentication-results")
    for index, value in enumerate(headers):
        verdict = _judge_if_trusted(index, value, trusted, domain)
        if verdict is not None:
            return verdict
    return _fail("no-trusted-header", headers=str(len(headers)))


def _judge_if_trusted(index: int, value: str, trusted: set[str], domain: str) -> AuthVerdict | None:
    """The verdict of header ``index`` when it is the trusted one, else ``None`` (look further down)."""
    by_position = index == 0 and TRUST_TOPMOST in trusted
    header = parse_header(value)
    claimed = header.authserv_id if header is not None else _leading_id(value)
    if not by_position and (claimed is None or claimed.lower() not in trusted):
        return None
    where = {
        "authserv_id": claimed or "",
        "header_index": str(index),
        "trust": "position" if by_position else "authserv-id",
    }
    if header is None:
        return _fail("trusted-header-unparseable", **where)
    return _evaluate(header.results, domain, where)


def _evaluate(results: Iterable[_Result], domain: str, where: Mapping[str, str]) -> AuthVerdict:
    """Apply the pass rules to the trusted header's results, DMARC first."""
    results = tuple(results)
    other = _other_from_domain(results, domain)
    if other is not None:
        return _fail("from-domain-mismatch", **where, method="dmarc", header_from=other[:255])
    # DMARC's own verdict wins when the server ran it: it already applied the domain owner's
    # alignment mode (adkim/aspf=s may be stricter than our relaxed fallback below), RFC 7489 §6.6.
    for result in _of_method(results, "dmarc"):
        if _same_domain(result.properties.get("header.from"), domain):
            if result.result == "pass":
                return _pass("dmarc-pass", where, method="dmarc", domain=domain)
            if result.result == "fail":
                return _fail("dmarc-fail", **where, method="dmarc", domain=domain)
    for result in _of_method(results, "dkim"):
        signer = _dkim_domain(result.properties)
        if result.result == "pass" and _aligned(signer, domain):
            return _pass("dkim-aligned-pass", where, method="dkim", domain=signer or "")
    for result in _of_method(results, "spf"):
        envelope = _mailbox_domain(result.properties.get("smtp.mailfrom"))
        if result.result == "pass" and _aligned(envelope, domain):
            return _pass("spf-aligned-pass", where, method="spf", domain=envelope or "")
    return _fail("not-authenticated", **where, results=_summary(results))


def _other_from_domain(results: Iterable[_Result], domain: str) -> str | None:
    """A From domain other than ``domain`` that the server's DMARC check names, if any.

    The server names the From domain *it* read. Another one means it read a different From than
    ours (parsers disagree on hostile headers: a second From one of them does not see as a field):
    its verdict is not about our From, and the relaxed DKIM/SPF fallback would pass what the
    domain owner's strict alignment (adkim/aspf=s) failed.
    """
    for result in _of_method(results, "dmarc"):
        seen = result.properties.get("header.from")
        if seen and not _same_domain(seen, domain):
            return seen
    return None


def parse_header(value: str) -> _Header | None:
    """Parse one ``Authentication-Results`` value; ``None`` when it is not a readable header."""
    text = _bounded(value)
    if text is None:
        return None
    position_only = _STARTS_WITH_RESULT.match(text) is not None
    if position_only:
        text = f"{_POSITION_ID}; {text}"
    parsed = _parse_with_authres(text)
    if parsed is None:
        return None
    results = tuple(_convert(r) for r in parsed.results)
    return _Header(None if position_only else str(parsed.authserv_id), results)


def _parse_with_authres(text: str) -> Any:
    try:
        return authres.AuthenticationResultsHeader.parse_value(text)
    except (authres.AuthResError, RecursionError, ValueError, IndexError):
        return None


def _bounded(value: str) -> str | None:
    """Unfold and trim ``value``; ``None`` when it is too long, too deeply nested, or holds NUL."""
    if len(value) > _MAX_HEADER or "\x00" in value or _comment_depth(value) > _MAX_COMMENT_DEPTH:
        return None
    # Folding whitespace is not significant (RFC 5322 §2.2.3). Exchange ends its header with ";",
    # which RFC 8601's grammar does not allow and authres rejects.
    text = re.sub(r"\r?\n[ \t]", " ", value).strip()
    return text.rstrip("; \t") or None


def _comment_depth(value: str) -> int:
    depth = deepest = 0
    for char in value:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


def _leading_id(value: str) -> str | None:
    """The authserv-id an unparseable header claims, so that a broken trusted header is noticed."""
    text = value[:_MAX_HEADER]
    if _STARTS_WITH_RESULT.match(text):
        return None
    match = _LEADING_ID.match(text)
    return match.group(1) if match else None


def _convert(result: Any) -> _Result:
    properties: dict[str, str] = {}
    for prop in result.properties:
        key = f"{prop.type}.{prop.name}".lower()
        # The first value of a property is kept: RFC 8601 allows each ptype.property once per result.
        properties.setdefault(key, str(prop.value))
    return _Result(str(result.method).lower(), str(result.result).lower(), MappingProxyType(properties))


def _of_method(results: Iterable[_Result], method: str) -> Iterable[_Result]:
    return (r for r in results if r.method == method)


def _dkim_domain(properties: Mapping[str, str]) -> str | None:
    """The signing domain: ``header.d``, else the domain of the AUID ``header.i`` (RFC 6376 §3.5)."""
    signer = properties.get("header.d")
    if signer and signer.lower() != "none":
        return _normalise_domain(signer)
    return _mailbox_domain(properties.get("header.i"))


def _mailbox_domain(value: str | None) -> str | None:
    """The domain of ``user@domain``, ``@domain`` or a bare ``domain`` (SPF's smtp.mailfrom)."""
    if not value:
        return None
    return _normalise_domain(value.strip().strip("<>").rpartition("@")[2]) or None


def _normalise_domain(domain: str | None) -> str:
    """Lower-case A-label form without the root dot, so that U-labels and A-labels compare equal."""
    if not domain:
        return ""
    return ascii_domain(domain.strip().strip('"').rstrip(".").lower())


def _same_domain(value: str | None, domain: str) -> bool:
    return bool(value) and _normalise_domain(value) == domain


def _aligned(value: str | None, domain: str) -> bool:
    """Relaxed alignment (RFC 7489 §3.1.1): both share one organisational (registrable) domain."""
    if not value:
        return False
    return _organisational(value) == _organisational(domain)


def _organisational(domain: str) -> str:
    # A public suffix has no registrable domain; then only the identical name aligns.
    return _public_suffixes().privatesuffix(domain) or domain


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # Built once on first use (parsing the bundled list takes tens of milliseconds), never at import.
    return PublicSuffixList()


def _summary(results: Iterable[_Result]) -> str:
    return " ".join(f"{r.method}={r.result}" for r in results)[:200]


def _pass(reason: str, where: Mapping[str, str], **more: str) -> AuthVerdict:
    return AuthVerdict(True, reason, MappingProxyType({**where, **more}))


def _fail(reason: str, **evidence: str) -> AuthVerdict:
    return AuthVerdict(False, reason, MappingProxyType(dict(evidence)))
