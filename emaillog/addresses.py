"""Email addresses as values: parsing hostile header text and comparing addresses.

Every header is treated as hostile: parsing never raises, control characters are dropped, and an
address that does not look like ``local@domain`` is not an address.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

from .headerfields import CONTROL, decode_words
from .memo import cached_when_short
from .pickling import pickled_by_fields

# Control characters (C0, DEL, C1) never belong in a display name or an address: they are how
# header injection is attempted (an encoded CR/LF that a careless writer puts back into a header).
_ADDR = re.compile(r"^[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[^\s@<>()\[\],;:\"]+$|^[^\s@<>]+@localhost$")
_MAX_ADDRESS = 320  # RFC 5321: 64 for the local part + 1 + 255 for the domain


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: an optional display name and an address as written (never normalised here)."""

    name: str | None
    address: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()

    def key(self, case_sensitive_local: bool = False) -> str:
        """The form addresses are compared in: domain always lower-case, local part as configured."""
        return address_key(self.address, case_sensitive_local)

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


# The same few addresses (the logging address, the reps, their customers) come back in every
# message: their keys and parses are remembered, bounded in count and in length.
@cached_when_short(16384, _MAX_ADDRESS, lambda address, case_sensitive_local=False: len(address))
def address_key(address: str, case_sensitive_local: bool = False) -> str:
    """Return the comparison key of ``address``: the domain lower-cased (IDNA-decoded to Unicode)."""
    local, _, domain = address.strip().rpartition("@")
    if not local:
        return address.strip().lower()
    return f"{local if case_sensitive_local else local.lower()}@{domain_key(domain)}"


def domain_key(domain: str) -> str:
    """The form domains are compared in, the domain of an address_key: lower-case, in Unicode (NFC)."""
    domain = _unicode_domain(domain.lower().rstrip("."))
    # "bücher" typed or pasted decomposed (u and a combining diaeresis: macOS, text from PDFs) is the
    # same domain to DNS (IDNA normalises it) but was another key: a user so entered, or a From so
    # written, matched no one. NFC is what IDNA's A-labels decode to. ASCII domains skip it.
    if not domain.isascii():
        domain = unicodedata.normalize("NFC", domain)
    return domain


_MAX_DOMAIN = 255


def domain_value(text: str) -> str | None:
    """A domain an admin typed (``@acme.com``, ``Acme.COM.``, ``xn--bcher-kva.de``) as its
    domain_key, or None when it is not a domain: an entry stored in another form than the domains
    of the addresses it is compared with never matches one."""
    domain = text.strip().lstrip("@").lower().removesuffix(".")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels) or len(domain) > _MAX_DOMAIN:
        return None
    # Letters (any script: IDNs), digits, - and _ only: "acme.example;b.example" (a semicolon for
    # the comma) or a quoted "'acme.example'" was taken for one domain no address ever has.
    if not all(c.isalnum() or c in "-_." for c in domain):
        return None
    return domain_key(domain)


def ascii_domain(domain: str) -> str:
    """``domain`` in A-labels (RFC 5890), as an SMTP envelope or an addr-spec without SMTPUTF8 needs it."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _unicode_domain(domain: str) -> str:
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def clean(text: str | None) -> str | None:
    """Strip control characters and surrounding space; empty becomes ``None``."""
    if text is None:
        return None
    text = CONTROL.sub("", text).strip().strip('"').strip()
    return text or None


def make_address(name: str | None, address: str) -> Address | None:
    """Build an Address from untrusted parts, or ``None`` when ``address`` is not an address."""
    address = CONTROL.sub("", address).strip().strip("<>").strip()
    if len(address) > _MAX_ADDRESS or not _ADDR.match(address):
        return None
    name = _without_outlook_quotes(clean(name))
    if name is not None and address_key(name) == address_key(address):
        name = None
    return Address(name, address)


def _without_outlook_quotes(name: str | None) -> str | None:
    """Outlook writes a name from an address book entry as ``"'Dana Doe'"`` (and a bare address as
    ``"'dana@x.com'"``): the single quotes around the whole name are its, not the person's. One
    that only starts with one (the Dutch "'t Hooft") is kept as it is."""
    if name is not None and len(name) > 2 and name[0] == name[-1] == "'":
        return clean(name[1:-1])
    return name


def parse_addresses(values: Iterable[str]) -> tuple[Address, ...]:
    """Parse header values (``To``, ``Cc``, …) into addresses, dropping anything that is not one."""
    return _parse(tuple(str(v) for v in values))


# At most 4,096 entries of 4,096 characters: ~16 MB of header text.
@cached_when_short(4096, 4096, lambda texts: sum(map(len, texts)))
def _parse(texts: tuple[str, ...]) -> tuple[Address, ...]:
    found: list[Address] = []
    seen: set[str] = set()
    for name, addr in _getaddresses([CONTROL.sub(" ", v) for v in texts]):
        address = make_address(_decode_name(name), addr)
        if address is not None and address.key() not in seen:
            seen.add(address.key())
            found.append(address)
    return tuple(found)


def _getaddresses(texts: list[str]) -> list[tuple[str, str]]:
    """The stdlib's reading, which recurses once per nested comment: a header with a thousand
    nested "(" (hostile, no client writes one) raised RecursionError and crashed the message.
    Then the comments are taken out first, innermost outwards, without recursion."""
    try:
        return getaddresses(texts)
    except RecursionError:
        return getaddresses([_without_comments(t) for t in texts])


_COMMENT = re.compile(r"\([^()]*\)")


def _without_comments(text: str) -> str:
    while True:
        text, found = _COMMENT.subn(" ", text)
        if not found:
            return text.replace("(", " ").replace(")", " ")


def _decode_name(name: str) -> str:
    """A display name with RFC 2047 encoded words decoded (the raw header keeps them encoded), as a
    Subject's are."""
    return decode_words(name) or ""
