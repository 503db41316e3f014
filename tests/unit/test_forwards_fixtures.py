"""Whole .eml forwards from many clients, charsets and languages: exact original headers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from emaillog.forwards import find_forwards, looks_forwarded

DATA = Path(__file__).resolve().parent.parent / "data" / "forwards"
UTC = UTC


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def load(name: str) -> EmailMessage:
    msg = email.message_from_bytes((DATA / name).read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


JOHN = ("John Doe", "john.doe@acme.com")
BESSIE = ("Bessie Berry", "bessie.berry@acme.com")
BESSIE_BARE = (None, "bessie.berry@acme.com")
WALTER = ("Walter Sheltan", "walter.sheltan@acme.com")
JAN_25 = datetime(2021, 1, 25, 16, 23)
J_UTC = JAN_25.replace(tzinfo=UTC)
J_P1 = JAN_25.replace(tzinfo=tz(1))
J_P9 = JAN_25.replace(tzinfo=tz(9))

# file: (sender, to, cc, date, subject, source, client, body start, note)
CASES = {
    "samsung_mail_en.eml": (
        JOHN,
        [BESSIE],
        [WALTER],
        J_P1,
        "Quote for 40 licences",
        "inline-text",
        "samsung-mail",
        "Hello Bessie,",
        "FYI\n\nSent from my Galaxy",
    ),
    "gmail_android_de.eml": (
        JOHN,
        [BESSIE],
        [WALTER, ("Nicholas", "nicholas@globex.example")],
        J_UTC,
        "Angebot für 40 Lizenzen",
        "inline-text",
        "gmail",
        "Hello Bessie,",
        None,
    ),
    "gmail_ios_fr.eml": (
        JOHN,
        [BESSIE_BARE],
        [],
        J_UTC,
        "Devis pour 40 licences",
        "inline-text",
        "gmail",
        "Hello Bessie,",
        "Voir ci-dessous.",
    ),
    "gmail_pl_iso8859_2.eml": (
        ("Jan Kowalski", "jan.kowalski@firma.pl"),
        [BESSIE],
        [],
        J_UTC,
        "Oferta",
        "inline-text",
        "gmail",
        "Dzień dobry, przesyłam ofertę. Żółć.",
        None,
    ),
    "apple_mail_iphone_es.eml": (
        JOHN,
        [BESSIE],
        [],
        J_P1,
        "Presupuesto",
        "inline-text",
        "apple-mail",
        "Hello Bessie,",
        "Mira esto\n\nEnviado desde mi iPhone",
    ),
    "apple_mail_ipad_ja_iso2022jp.eml": (
        ("山田太郎", "taro.yamada@acme.co.jp"),
        [BESSIE],
        [],
        J_P9,
        "見積もり",
        "inline-text",
        "apple-mail",
        "よろしくお願いします。",
        "iPadから送信",
    ),
    "windows_live_mail_en.eml": (
        JOHN,
        [BESSIE_BARE],
        [WALTER],
        J_UTC,
        "Quote for 40 licences",
        "inline-text",
        "windows-live-mail",
        "Hello Bessie,",
        None,
    ),
    "outlook_html_only_base64_pl.eml": (
        ("Jan Kowalski", "jan.kowalski@firma.pl"),
        [BESSIE],
        [("Żaneta Łęcka", "zaneta@firma.pl")],
        J_UTC,
        "Oferta na 40 licencji",
        "inline-html",
        "outlook",
        "Dzień dobry, przesyłam ofertę.",
        "Proszę zalogować.",
    ),
    "outlook_desktop_html_divrplyfwdmsg_en.eml": (
        JOHN,
        [BESSIE],
        [],
        J_UTC,
        "Quote for 40 licences",
        "inline-html",
        "outlook",
        "Hello Bessie,",
        "See below",
    ),
    "outlook_base64_text_ru_cp1251.eml": (
        ("Иван Петров", "ivan.petrov@firma.ru"),
        [BESSIE],
        [],
        J_UTC,
        "Счёт на 40 лицензий",
        "inline-text",
        "outlook",
        "Добрый день, счёт во вложении.",
        "Для CRM",
    ),
    "thunderbird_quoted_printable_fr.eml": (
        ("François Dupont", "francois.dupont@client.fr"),
        [BESSIE],
        [("Hélène Martin", "helene@client.fr")],
        J_P1,
        "Devis pour 40 licences — révisé",
        "inline-text",
        "thunderbird",
        "Bonjour Bessie, voilà le devis révisé à 1 200 €.",
        None,
    ),
    "nested_forward_gmail_en.eml": (
        JOHN,
        [BESSIE],
        [],
        J_UTC,
        "Fwd: Quote for 40 licences",
        "inline-text",
        "gmail",
        "Bessie, see the history below.",
        "Top one is the latest.",
    ),
    # Gmail in Japanese: "---------- 転送メッセージ ---------" with 差出人/日付/件名 and "2021年1月25日(月)
    # 16:23". Strings as public code that reads Gmail's Japanese UI writes them (search index,
    # find_string "---------- 転送メッセージ": a Gmail forward-block reader's doc comment and its test).
    "gmail_web_ja.eml": (
        ("山田太郎", "taro.yamada@acme.co.jp"),
        [BESSIE],
        [WALTER],
        J_UTC,
        "見積もりのご依頼",
        "inline-text",
        "gmail",
        "よろしくお願いします。",
        "ご確認ください。",
    ),
    "outlook_forward_as_attachment.eml": (
        JOHN,
        [BESSIE],
        [WALTER],
        J_P1,
        "Quote for 40 licences",
        "attachment",
        None,
        "Hello Bessie,",
        "Please log this one.",
    ),
    "thunderbird_forward_as_attachment.eml": (
        ("François Dupont", "francois@client.fr"),
        [BESSIE_BARE],
        [],
        J_P1,
        "Devis",
        "attachment",
        None,
        "Bonjour,\n\nvoici le devis.",
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_fixture(name: str) -> None:
    sender, to, cc, date, subject, source, client, body, note = CASES[name]
    msg = load(name)
    found = find_forwards(msg)
    assert len(found) == 1
    fwd = found[0]
    assert fwd.sender is not None and (fwd.sender.name, fwd.sender.address) == sender
    assert [(a.name, a.address) for a in fwd.to] == to
    assert [(a.name, a.address) for a in fwd.cc] == cc
    assert fwd.date == date and fwd.date is not None and fwd.date.utcoffset() == date.utcoffset()
    assert fwd.subject == subject
    assert (fwd.source, fwd.client_hint) == (source, client)
    assert fwd.body.startswith(body)
    assert fwd.note == note
    assert looks_forwarded(msg)


def test_nested_forward_keeps_the_older_one_in_the_body() -> None:
    fwd = find_forwards(load("nested_forward_gmail_en.eml"))[0]
    assert "From: Old Sender <old@legacy.example>" in fwd.body
    assert fwd.body.rstrip().endswith("Old body")


def test_attachment_keeps_real_headers_and_html() -> None:
    fwd = find_forwards(load("outlook_forward_as_attachment.eml"))[0]
    assert fwd.message_id == "<quote-1@acme.com>"
    assert fwd.in_reply_to == "<ask-0@ourco.example>"
    assert fwd.references == ("<ask-0@ourco.example>",)
    html = find_forwards(load("thunderbird_forward_as_attachment.eml"))[0].html
    assert html is not None and "voici le devis" in html


def test_two_attached_messages_give_two_forwards() -> None:
    first, second = find_forwards(load("two_attached_messages.eml"))
    assert (first.subject, second.subject) == ("First", "Second")
    assert second.sender is not None and second.sender.address == "jane.roe@globex.example"
    assert second.date == datetime(2021, 1, 26, 9, 5, tzinfo=tz(-5))
    assert first.note == second.note == "Both of these, please."


@pytest.mark.parametrize(
    "name", ["not_forward_reply.eml", "not_forward_plain_note.eml", "not_forward_outlook_reply.eml"]
)
def test_not_a_forward(name: str) -> None:
    msg = load(name)
    assert find_forwards(msg) == ()
    assert not looks_forwarded(msg)
