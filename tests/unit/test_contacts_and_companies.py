"""SPEC §4 and §7 through parse() and decide() against a real (SQLite) CRM: who becomes a contact,
under which name, and which company a contact's domain gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support import crm_with_rep, message

from emaillog import admin
from emaillog.domains import company_domain
from emaillog.limits import Limits
from emaillog.message import parse
from emaillog.rules import Decision, decide
from emaillog.settings import Settings
from emaillog.store import Store

Crm = tuple[Store, Settings]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    return crm_with_rep(tmp_path)


def run(crm: Crm, raw: bytes) -> Decision:
    store, settings = crm
    return decide(parse(raw, Limits()), settings, store.lookup)


def new_contacts(decision: Decision) -> list[tuple[str, str | None]]:
    [plan] = decision.plans
    return [(c.key, c.name) for c in plan.contacts]


def test_outlooks_single_quotes_around_a_display_name_are_not_part_of_the_contacts_name(crm: Crm) -> None:
    # Outlook writes a name it took from an address book entry as "'Dana Doe'", and an address it
    # was given without a name as "'dana@initech.example'": the quotes are its, not the person's.
    decision = run(
        crm,
        message(
            to=(
                "\"'Dana Doe'\" <dana@initech.example>",
                "\"'carl@globex.example'\" <carl@globex.example>",
                '"\'t Hooft" <gerard@hooli.example>',
            )
        ),
    )
    assert new_contacts(decision) == [
        ("dana@initech.example", "Dana Doe"),
        ("carl@globex.example", None),
        ("gerard@hooli.example", "'t Hooft"),
    ]


# Free-mail and ISP domains of each region a sales team sells into: such an address is a person,
# never a company (SPEC §7). Each was missing from the lists before.
MORE_FREE_MAIL = [
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
    # Slovakia, Poland, Denmark, Sweden, Norway, Turkey, Austria, Portugal, Brazil, Ukraine: each
    # a language SPEC §5 names, each gave its own company before.
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
]


@pytest.mark.parametrize("domain", MORE_FREE_MAIL)
def test_regional_free_mail_and_isp_domains_never_give_a_company(domain: str) -> None:
    assert company_domain(domain) is None
    assert company_domain("mail." + domain) is None


def test_a_companys_domain_under_a_free_mail_carriers_suffix_still_gives_its_company() -> None:
    # i.softbank.jp is SoftBank's free mail; its staff write from softbank.co.jp, a company.
    assert company_domain("softbank.co.jp") == "softbank.co.jp"
    assert company_domain("mail.acme.co.uk") == "acme.co.uk"


def test_an_existing_contact_without_a_company_is_planned_with_its_domains_company(tmp_path: Path) -> None:
    crm = crm_with_rep(tmp_path, EMAILLOG_CREATE_COMPANIES="no")
    admin.ensure_contact(crm[0], crm[1], "carl@globex.example")
    admin.ensure_contact(crm[0], crm[1], "gina@gmail.com")
    [plan] = run(crm, message(to=("carl@globex.example", "gina@gmail.com"))).plans
    assert [(c.key, c.contact_id is not None, c.company_domain) for c in plan.contacts] == [
        ("carl@globex.example", True, "globex.example"),
        ("gina@gmail.com", True, None),
    ]


@pytest.mark.parametrize(
    ("domain", "company"),
    [
        # A Microsoft 365 tenant's own domain is the company, not Microsoft's onmicrosoft.com: a
        # small business often writes from it, and every such customer was one company.
        ("acme.onmicrosoft.com", "acme.onmicrosoft.com"),
        ("acme.mail.onmicrosoft.com", "acme.mail.onmicrosoft.com"),
        ("initech.onmicrosoft.com", "initech.onmicrosoft.com"),
        # Apple's "Hide My Email" relay is one person's address, not Apple's.
        ("privaterelay.appleid.com", None),
    ],
)
def test_hosted_tenants_are_their_own_companies_and_relays_none(domain: str, company: str | None) -> None:
    assert company_domain(domain) == company


def test_another_mailboxs_logging_address_copied_in_is_never_a_contact(crm: Crm) -> None:
    # SPEC §4 across a deployment's mailboxes: a rep who copies another team's logging address has
    # that team log the email too; neither account gains that address as a contact.
    store, settings = crm
    fleet = dataclasses.replace(settings, fleet_logging_addresses=frozenset({"log@team-b.example"}))
    decision = decide(parse(message(cc=("Team B <LOG@team-b.example>",)), Limits()), fleet, store.lookup)
    assert new_contacts(decision) == [("carl@globex.example", "Carl Customer")]


@pytest.mark.parametrize("domain", ["10.1.2.3", "192.168.2.3", "203.0.113.7."])
def test_an_address_at_an_ip_address_gives_no_company(domain: str) -> None:
    # ip@10.1.2.3 parses as an address, and the public suffix list's default rule took "2.3" for its
    # registrable domain: every such contact shared one company named "2.3" (SPEC §7 wants a domain).
    assert company_domain(domain) is None


def test_a_recipient_at_an_ip_address_is_a_contact_without_a_company(crm: Crm) -> None:
    decision = run(crm, message(to=("Ip <ip@10.1.2.3>", "Carl <carl@mail.globex.example>")))
    [plan] = decision.plans
    assert [(c.key, c.company_domain) for c in plan.contacts] == [
        ("ip@10.1.2.3", None),
        ("carl@mail.globex.example", "globex.example"),
    ]
