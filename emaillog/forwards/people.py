"""Address lists as forward headers write them, which is rarely RFC 5322.

Clients write "Bessie, Berry <b@x>" (a comma inside an unquoted name), "a@x <a@x>", Outlook's
"Name [mailto:a@x]", Exchange's "Name<mailto:a@x> <a@x<mailto:a@x>> on behalf of …", and plain names
with no address at all. ``email.utils.getaddresses`` splits such names apart, so this module reads
them itself: every ``<address>`` takes the text before it as its name.
"""

from __future__ import annotations

import re

from emaillog.addresses import Address, make_address

_MAX_VALUE = 20_000
_MAILTO_BRACKET = re.compile(r"\[mailto:([^\]\s]{1,320})\]", re.IGNORECASE)
_MAILTO_ANGLE = re.compile(r"<mailto:[^<>\s]{0,320}>", re.IGNORECASE)
_ON_BEHALF = re.compile(
    r"\s+(?:on behalf of|im auftrag von|de la part de|en nombre de|per conto di|namens)\s.*$", re.IGNORECASE
)
_ANGLE = re.compile(r"[<(]\s*<?([^<>()\s,;]{1,320}@[^<>()\s,;]{1,255})>?\s*[>)]")
_BARE = re.compile(r"[^\s<>()\[\],;:\"'«»„“”]{1,320}@[^\s<>()\[\],;:\"'«»„“”]{1,255}")
_SEPARATOR = re.compile(r"^[\s,;]+|[\s,;]+$")
_QUOTES = "\"'«»„“”‘’ \t*"


def parse_people(value: str) -> tuple[tuple[Address, ...], tuple[str, ...]]:
    """Return the addresses in ``value`` and the display names written without any address."""
    text = _tidy(value[:_MAX_VALUE])
    if "@" not in text:
        return (), _names_only(text)
    found: list[Address] = []
    position = 0
    for match in _ANGLE.finditer(text):
        found.extend(_bare_then_name(text[position : match.start()], match.group(1)))
        position = match.end()
    found.extend(_bare(text[position:]))
    return _unique(found), ()


def _tidy(text: str) -> str:
    text = _MAILTO_BRACKET.sub(r"<\1>", text.replace("\xa0", " "))
    text = _MAILTO_ANGLE.sub("", text)
    return _ON_BEHALF.sub("", text).strip()


def _bare_then_name(before: str, address: str) -> list[Address]:
    # Bare addresses followed by a separator are recipients of their own; what follows the last
    # of them is the display name of ``address`` ("a@x, Bessie <b@x>" or "b@x <b@x>").
    found: list[Address] = []
    name_start = 0
    for match in _BARE.finditer(before):
        tail = before[match.end() :]
        if re.match(r"\s*[\"'»”]*\s*[,;]", tail):
            found.extend(_maybe(make_address(None, match.group(0))))
            name_start = match.end()
    found.extend(_maybe(make_address(_name(before[name_start:]), address)))
    return found


def _bare(text: str) -> list[Address]:
    found: list[Address] = []
    for match in _BARE.finditer(text):
        found.extend(_maybe(make_address(None, match.group(0))))
    return found


def _name(text: str) -> str | None:
    name = _SEPARATOR.sub("", text).strip(_QUOTES).strip()
    return name or None


def _names_only(text: str) -> tuple[str, ...]:
    return tuple(n for n in (_name(part) for part in text.split(";")) if n)


def _maybe(address: Address | None) -> list[Address]:
    return [] if address is None else [address]


def _unique(addresses: list[Address]) -> tuple[Address, ...]:
    seen: set[str] = set()
    kept: list[Address] = []
    for address in addresses:
        if address.key() not in seen:
            seen.add(address.key())
            kept.append(address)
    return tuple(kept)
