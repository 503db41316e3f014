"""SPEC §3: did the message come through the BCC address or the forwarding address?

The receiving server's delivery headers are the best evidence, then the logging addresses visible
in To or Cc, then one on the Bcc line of the copy delivered; when both logging addresses are the
same address (or nothing names either), the message's structure decides: an attached
message/rfc822 or a forwarded-message header block.
Whatever decided is written into the trace entry ``route``.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.errors import MessageError
from typing import Any, Protocol

from ..addresses import address_key, parse_addresses
from ..forwards import forward_structure, forwards_of
from ..message import DELIVERY_HEADERS, Email
from ..settings import Settings
from .model import Route, TraceEntry

_HEADER_ERRORS = (MessageError, LookupError, UnicodeError, ValueError, TypeError, AttributeError, IndexError)
_SUBADDRESS_DELIMITERS = "+-"
_STRUCTURE = {
    "attached-message": "an attached message/rfc822 part",
    "inline-text": "a forwarded-message header block in the text body",
    "inline-html": "a forwarded-message header block in the HTML body",
}


class RouteAddresses(Protocol):
    """What route detection needs of the settings."""

    @property
    def bcc_address(self) -> str: ...
    @property
    def forward_address(self) -> str: ...
    def key(self, address: str) -> str: ...


@dataclass(frozen=True, slots=True)
class RouteSettings:
    """What route detection reads of the settings (the two logging addresses, how addresses compare):
    a few bytes to send to a parser worker, where ``Settings`` would carry secrets along."""

    bcc_address: str
    forward_address: str
    case_sensitive_local_part: bool

    @classmethod
    def of(cls, settings: Settings) -> RouteSettings:
        return cls(settings.bcc_address, settings.forward_address, settings.case_sensitive_local_part)

    def key(self, address: str) -> str:
        return address_key(address, self.case_sensitive_local_part)


@dataclass(frozen=True, slots=True)
class ReadForwards:
    """Run by a parser worker on each message: reads the forwards of one that came through the
    forwarding address, on the worker's core rather than the main process's."""

    settings: RouteSettings

    def __call__(self, email: Email) -> None:
        if detect_route(email, self.settings)[0] == "forward":
            forwards_of(email)


def detect_route(email: Email, settings: RouteAddresses) -> tuple[Route, TraceEntry]:
    bcc, fwd = settings.key(settings.bcc_address), settings.key(settings.forward_address)
    if bcc != fwd:
        found = _by_delivery_headers(email, settings, bcc, fwd)
        visible = _visible(email, settings) if found is None or found[0] == "bcc" else frozenset()
        if found is not None and found[0] == "bcc" and fwd in visible and bcc not in visible:
            # The forwarding address as an alias of the mailbox: Gmail / Google Workspace and many
            # servers write the mailbox's own address in Delivered-To, never the alias it came to.
            # A BCC'd email does not show a logging address in To/Cc; this one was sent to fwd.
            return _entry(
                "forward",
                f"{found[1].data['header']} names the BCC address (the mailbox's own, as servers write "
                "it for an alias) but To/Cc shows the forwarding address",
                header=found[1].data["header"],
                address=fwd,
            )
        if found is not None:
            return found
        if fwd in visible and bcc not in visible:
            return _entry("forward", "the forwarding address is in To/Cc", address=fwd)
        if bcc in visible and fwd not in visible:
            return _entry("bcc", "the BCC address is in To/Cc", address=bcc)
        found = _by_bcc_line(email, settings, bcc, fwd)
        if found is not None:
            return found
        why = "no delivery header, To/Cc or Bcc line names one logging address"
    else:
        why = "the BCC and forwarding addresses are the same"
    structure = forward_structure(email.tree)
    if structure is not None:
        return _entry("forward", f"{why}; the message holds {_STRUCTURE[structure]}", structure=structure)
    return _entry("bcc", f"{why}; no attached message and no forwarded-message header block", structure=None)


def _visible(email: Email, settings: RouteAddresses) -> frozenset[str]:
    return frozenset(settings.key(a.address) for a in email.to + email.cc)


def _by_bcc_line(
    email: Email, settings: RouteAddresses, bcc: str, fwd: str
) -> tuple[Route, TraceEntry] | None:
    """Exchange writes no Delivered-To, but a Bcc recipient's copy keeps it on the Bcc line (as some
    clients keep the sender's): without it, a rep's forward to a colleague with the BCC address on
    Bcc was taken for a forward by its structure, and its quoted original logged instead of it."""
    if not email.bcc:
        return None
    named = frozenset(settings.key(a.address) for a in email.bcc)
    if bcc in named and fwd not in named:
        return _entry("bcc", "the BCC address is on the Bcc line", address=bcc)
    if fwd in named and bcc not in named:
        return _entry("forward", "the forwarding address is on the Bcc line", address=fwd)
    return None


def _by_delivery_headers(
    email: Email, settings: RouteAddresses, bcc: str, fwd: str
) -> tuple[Route, TraceEntry] | None:
    """The route from Delivered-To and its kin, top-most (most recent) header first."""
    named = [(header, key) for header, key in delivery_addresses(email, settings) if key in (bcc, fwd)]
    if not named:
        return None
    keys = {key for _, key in named}
    if keys == {fwd}:
        header, key = named[0]
        return _entry("forward", f"{header} names the forwarding address", header=header, address=key)
    if keys == {bcc}:
        header, key = named[0]
        return _entry("bcc", f"{header} names the BCC address", header=header, address=key)
    # Both are named. When one is a sub-address of the other (log+fwd@ and log@), the server wrote
    # the plain one after stripping the extension: the more specific address is what was sent to.
    if is_subaddress(fwd, bcc):
        header = next(h for h, k in named if k == fwd)
        return _entry(
            "forward",
            f"{header} names the forwarding address, a sub-address of the BCC address",
            header=header,
            address=fwd,
        )
    if is_subaddress(bcc, fwd):
        header = next(h for h, k in named if k == bcc)
        return _entry(
            "bcc",
            f"{header} names the BCC address, a sub-address of the forwarding address",
            header=header,
            address=bcc,
        )
    header, key = named[0]
    route: Route = "forward" if key == fwd else "bcc"
    return _entry(
        route,
        f"{header} (the top-most delivery header naming a logging address) names "
        f"the {'forwarding' if route == 'forward' else 'BCC'} address",
        header=header,
        address=key,
    )


def delivery_addresses(email: Email, settings: RouteAddresses) -> list[tuple[str, str]]:
    """(header name, address key) for each address in the top-level delivery headers, in order."""
    found: list[tuple[str, str]] = []
    # email.headers keeps every header in arrival order without the cost of a full parse.
    for name, value in email.headers:
        if name.lower() in DELIVERY_HEADERS:
            found.extend((name, settings.key(a.address)) for a in parse_addresses([value]))
    return found


def is_subaddress(longer: str, shorter: str) -> bool:
    """``log+fwd@acme.com`` is a sub-address of ``log@acme.com`` (delimiter + or -)."""
    local, _, domain = longer.rpartition("@")
    base, _, base_domain = shorter.rpartition("@")
    return (
        domain == base_domain
        and len(local) > len(base) + 1
        and local.startswith(base)
        and local[len(base)] in _SUBADDRESS_DELIMITERS
    )


def _entry(route: Route, evidence: str, **data: Any) -> tuple[Route, TraceEntry]:
    return route, TraceEntry("route", True, route, {"evidence": evidence, **data})
