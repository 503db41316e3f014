"""SPEC §3: did the message come through the BCC address or the forwarding address?

The receiving server's delivery headers are the best evidence, then the forwarding address in To or
Cc; when both logging addresses are the same address, the message's structure decides.
"""

from __future__ import annotations

from ..forwards import looks_forwarded
from ..message import Email
from ..settings import Settings
from .model import Route, TraceEntry


def detect_route(email: Email, settings: Settings) -> tuple[Route, TraceEntry]:
    bcc, fwd = settings.key(settings.bcc_address), settings.key(settings.forward_address)
    if bcc != fwd:
        delivered = {settings.key(a) for a in email.delivered_to}
        if fwd in delivered and bcc not in delivered:
            return "forward", _entry("forward", "delivery header names the forwarding address")
        if bcc in delivered and fwd not in delivered:
            return "bcc", _entry("bcc", "delivery header names the BCC address")
        visible = {settings.key(a.address) for a in email.to + email.cc}
        if fwd in visible:
            return "forward", _entry("forward", "the forwarding address is in To/Cc")
    if looks_forwarded(email.tree):
        return "forward", _entry("forward", "the body holds a forwarded message")
    return "bcc", _entry("bcc", "no forwarding evidence")


def _entry(route: Route, evidence: str) -> TraceEntry:
    return TraceEntry("route", True, route, {"evidence": evidence})
