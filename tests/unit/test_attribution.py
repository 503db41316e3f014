"""SPEC §2: attribution rules 0–4, one by one, against a real (SQLite) CRM."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import make_settings, message

from emaillog import admin
from emaillog.limits import Limits
from emaillog.message import parse
from emaillog.rules import decide
from emaillog.settings import Settings
from emaillog.store import Store, open_store


@pytest.fixture
def crm(tmp_path: Path) -> tuple[Store, Settings]:
    settings = make_settings(tmp_path)
    return open_store(settings), settings


def owner_of(crm: tuple[Store, Settings], sender: str) -> tuple[str | None, str | None, str]:
    store, settings = crm
    email = parse(message(sender=sender), Limits())
    decision = decide(email, settings, store.lookup)
    attribution = next(e for e in decision.trace if e.rule == "attribution")
    return decision.owner.email if decision.owner else None, decision.reason, str(attribution.reason)


def users(crm: tuple[Store, Settings], *emails: str) -> None:
    for email in emails:
        admin.add_user(crm[0], crm[1], email, None, True, True)


def at(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def test_rule_0_team_inbox_belongs_to_the_user_who_connected_it(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.connect_address(crm[0], crm[1], "ben@acme.example", "sales@acme.example", at(1))
    admin.add_team_inbox(crm[0], crm[1], "sales@acme.example", "ann@acme.example", at(2))
    assert owner_of(crm, "sales@acme.example") == ("ann@acme.example", None, "team-inbox")


def test_rule_1_one_connected_address_wins_over_a_login(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "shared@acme.example")
    admin.connect_address(crm[0], crm[1], "ann@acme.example", "shared@acme.example", at(1))
    assert owner_of(crm, "Shared <SHARED@ACME.EXAMPLE>") == ("ann@acme.example", None, "connected")


def test_rule_2_login_email(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example")
    assert owner_of(crm, "ann@Acme.Example") == ("ann@acme.example", None, "login")


def test_rule_3_one_alias(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.add_alias(crm[0], crm[1], "ben@acme.example", "b.smith@acme.example")
    assert owner_of(crm, "b.smith@acme.example") == ("ben@acme.example", None, "alias")


def test_rule_2_login_wins_over_an_alias(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.add_alias(crm[0], crm[1], "ben@acme.example", "ann@acme.example")
    assert owner_of(crm, "ann@acme.example") == ("ann@acme.example", None, "login")


def test_rule_4_several_connected_the_earliest_connection_wins(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "ben@acme.example", "cat@acme.example")
    admin.connect_address(crm[0], crm[1], "ann@acme.example", "desk@acme.example", at(5))
    admin.connect_address(crm[0], crm[1], "ben@acme.example", "desk@acme.example", at(2))
    admin.connect_address(crm[0], crm[1], "cat@acme.example", "desk@acme.example", at(9))
    assert owner_of(crm, "desk@acme.example") == ("ben@acme.example", None, "connected-earliest")


def test_several_aliases_and_no_other_match_is_not_a_user(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.add_alias(crm[0], crm[1], "ann@acme.example", "team@acme.example")
    admin.add_alias(crm[0], crm[1], "ben@acme.example", "team@acme.example")
    assert owner_of(crm, "team@acme.example") == (None, "sender-not-a-user", "none")


def test_unknown_sender_is_rejected(crm: tuple[Store, Settings]) -> None:
    assert owner_of(crm, "nobody@elsewhere.example") == (None, "sender-not-a-user", "none")


def test_case_sensitive_local_part_when_configured(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, EMAILLOG_CASE_SENSITIVE_LOCAL_PART="yes")
    store = open_store(settings)
    admin.add_user(store, settings, "Ann@acme.example", None, True, True)
    assert owner_of((store, settings), "Ann@ACME.example")[0] == "Ann@acme.example"
    assert owner_of((store, settings), "ann@acme.example")[0] is None


def deactivate(crm: tuple[Store, Settings], email: str) -> None:
    admin.add_user(crm[0], crm[1], email, None, active=False, may_log=True)


def test_a_deactivated_users_earlier_connection_is_passed_over_for_an_active_one(
    crm: tuple[Store, Settings],
) -> None:
    users(crm, "ann@acme.example", "ben@acme.example", "cat@acme.example")
    for user, day in (("ann@acme.example", 1), ("ben@acme.example", 5), ("cat@acme.example", 9)):
        admin.connect_address(crm[0], crm[1], user, "desk@acme.example", at(day))
    deactivate(crm, "ann@acme.example")
    # Rule 4 among the active users: Ben connected it before Cat.
    assert owner_of(crm, "desk@acme.example") == ("ben@acme.example", None, "connected-earliest")
    deactivate(crm, "ben@acme.example")
    assert owner_of(crm, "desk@acme.example") == ("cat@acme.example", None, "connected")


def test_a_team_inbox_of_a_deactivated_user_goes_to_an_active_user_holding_it(
    crm: tuple[Store, Settings],
) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.add_team_inbox(crm[0], crm[1], "sales@acme.example", "ann@acme.example", at(1))
    admin.connect_address(crm[0], crm[1], "ben@acme.example", "sales@acme.example", at(2))
    deactivate(crm, "ann@acme.example")
    assert owner_of(crm, "sales@acme.example") == ("ben@acme.example", None, "connected")


def test_an_address_only_deactivated_users_hold_is_refused_naming_the_first(
    crm: tuple[Store, Settings],
) -> None:
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.connect_address(crm[0], crm[1], "ann@acme.example", "desk@acme.example", at(1))
    admin.connect_address(crm[0], crm[1], "ben@acme.example", "desk@acme.example", at(5))
    deactivate(crm, "ann@acme.example")
    deactivate(crm, "ben@acme.example")
    assert owner_of(crm, "desk@acme.example") == (
        "ann@acme.example",
        "sender-not-permitted",
        "connected-earliest",
    )


def test_a_read_only_seat_that_connected_first_still_keeps_the_address(crm: tuple[Store, Settings]) -> None:
    # A read-only seat is a colleague still there, set up so on purpose: their mail is refused and
    # the admin told, never quietly put in someone else's name.
    users(crm, "ben@acme.example")
    admin.add_user(crm[0], crm[1], "ann@acme.example", None, active=True, may_log=False)
    admin.connect_address(crm[0], crm[1], "ann@acme.example", "desk@acme.example", at(1))
    admin.connect_address(crm[0], crm[1], "ben@acme.example", "desk@acme.example", at(5))
    assert owner_of(crm, "desk@acme.example") == (
        "ann@acme.example",
        "sender-not-permitted",
        "connected-earliest",
    )


def owner_of_raw(crm: tuple[Store, Settings], raw: bytes) -> tuple[str | None, str | None]:
    decision = decide(parse(raw, Limits()), crm[1], crm[0].lookup)
    return decision.owner.email if decision.owner else None, decision.reason


NFC_DOMAIN = unicodedata.normalize("NFC", "bücher.example")


@pytest.mark.parametrize(
    "domain",
    [
        NFC_DOMAIN,
        unicodedata.normalize("NFD", NFC_DOMAIN),  # ü as u and a combining diaeresis (macOS, PDFs)
        "BÜCHER.example",
        "xn--bcher-kva.example",
        "XN--BCHER-KVA.EXAMPLE.",
    ],
)
def test_a_domain_compares_in_every_form_of_it(crm: tuple[Store, Settings], domain: str) -> None:
    # "Case-insensitively on the domain" (SPEC §2): the same domain written in A-labels, in capitals
    # or decomposed Unicode is the one the user was entered with. A UTF-8 header (SMTPUTF8) carries it.
    users(crm, f"ann@{unicodedata.normalize('NFD', NFC_DOMAIN)}")
    raw = message(sender="ann@acme.example").replace(b"ann@acme.example", f"ann@{domain}".encode(), 1)
    assert owner_of_raw(crm, raw) == (f"ann@{NFC_DOMAIN}", None)


@pytest.mark.parametrize(
    "sender",
    [
        '"ann@acme.example" <mallory@evil.example>',  # a user's address as the display name
        "=?utf-8?q?ann=40acme=2Eexample?= <mallory@evil.example>",  # … as an encoded word
        "=?utf-8?b?YW5uQGFjbWUuZXhhbXBsZQ==?=",  # an encoded word is never an address
    ],
)
def test_a_users_address_in_the_display_name_is_not_the_sender(
    crm: tuple[Store, Settings], sender: str
) -> None:
    users(crm, "ann@acme.example")
    email = parse(message(sender="x@x.example").replace(b"x@x.example", sender.encode(), 1), Limits())
    decision = decide(email, crm[1], crm[0].lookup)
    assert decision.owner is None and decision.reason in ("sender-not-a-user", "malformed")


def test_a_display_name_with_a_quoted_comma_is_one_sender(crm: tuple[Store, Settings]) -> None:
    users(crm, "ann@acme.example")
    assert owner_of_raw(crm, message(sender='"Doe, Ann (Sales)" <Ann@Acme.Example>')) == (
        "ann@acme.example",
        None,
    )


def test_from_decides_not_sender_or_resent_from(crm: tuple[Store, Settings]) -> None:
    # Send on behalf of a team inbox: Exchange writes the inbox as From, the rep as Sender (rule 0).
    users(crm, "ann@acme.example", "ben@acme.example")
    admin.add_team_inbox(crm[0], crm[1], "sales@acme.example", "ann@acme.example", at(1))
    on_behalf = message(sender="Sales <sales@acme.example>", headers={"Sender": "ben@acme.example"})
    assert owner_of_raw(crm, on_behalf) == ("ann@acme.example", None)
    # A redirect (Resent-*) keeps the customer as From: not a user's message (SPEC §2 reads From).
    redirect = message(
        sender="carl@globex.example",
        headers={"Resent-From": "ben@acme.example", "Resent-To": "log@acme.example"},
    )
    assert owner_of_raw(crm, redirect) == (None, "sender-not-a-user")
