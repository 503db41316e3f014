"""Dates, subjects, address lists and hostile input of the forward reader."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emaillog.forwards import parse_inline
from emaillog.forwards.dates import parse_date, zone_written
from emaillog.forwards.people import parse_people
from emaillog.forwards.subjects import Kind, classify, strip_forward_prefixes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mo., 25. Jan. 2021 um 16:23 Uhr", datetime(2021, 1, 25, 16, 23, tzinfo=UTC)),
        ("25 января 2021 г., в 16:23", datetime(2021, 1, 25, 16, 23, tzinfo=UTC)),
        ("2021年1月25日(月) 16:23", datetime(2021, 1, 25, 16, 23, tzinfo=UTC)),
        ("lundi 25 janvier 2021 à 16:23", datetime(2021, 1, 25, 16, 23, tzinfo=UTC)),
        ("Monday, January 25, 2021 4:23 PM", datetime(2021, 1, 25, 16, 23, tzinfo=UTC)),
        ("mar, 26 oct 2021 a las 9:31", datetime(2021, 10, 26, 9, 31, tzinfo=UTC)),
        ("sri, 27. lis 2021. u 09:31", datetime(2021, 10, 27, 9, 31, tzinfo=UTC)),
        ("śr., 27 lis 2021 o 09:31", datetime(2021, 11, 27, 9, 31, tzinfo=UTC)),
        ("02/10/2023 4:52 PM EST", datetime(2023, 2, 10, 16, 52, tzinfo=timezone(timedelta(hours=-5)))),
        (
            "tirsdag den 2. november 2021 09.26.50 CET",
            datetime(2021, 11, 2, 9, 26, 50, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("2021. okt. 27., Sze, 9:31", datetime(2021, 10, 27, 9, 31, tzinfo=UTC)),
        (
            "26 Ekim 2021 14:25:08 GMT+3",
            datetime(2021, 10, 26, 14, 25, 8, tzinfo=timezone(timedelta(hours=3))),
        ),
        (
            "Wed, 3 Nov 2021 15:51:30 +0100",
            datetime(2021, 11, 3, 15, 51, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        # Zones written as "GMT+0100" in an RFC 5322 shape, and ISO 8601 (fractions, "Z") were
        # read as UTC, or (with milliseconds) the offset was read as the time: 01:00.
        (
            "Wed, 3 Nov 2021 15:51:30 GMT+0100",
            datetime(2021, 11, 3, 15, 51, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        (
            "Wed, 3 Nov 2021 15:51:30 UTC+01:00",
            datetime(2021, 11, 3, 15, 51, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("2021-11-03T15:51:30+01:00", datetime(2021, 11, 3, 15, 51, 30, tzinfo=timezone(timedelta(hours=1)))),
        (
            "2021-11-03 15:51:30.123-0500",
            datetime(2021, 11, 3, 15, 51, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ("2021-11-03T15:51:30.000Z", datetime(2021, 11, 3, 15, 51, 30, tzinfo=UTC)),
        ("2021-11-03T15:51Z", datetime(2021, 11, 3, 15, 51, tzinfo=UTC)),
    ],
)
def test_dates_in_many_languages(text: str, expected: datetime) -> None:
    got = parse_date(text)
    assert got == expected
    assert got is not None and got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Wed, 3 Nov 2021 15:51:30 GMT+0100", True),
        ("2021-11-03T15:51:30+01:00", True),
        ("2021-11-03T15:51:30Z", True),
        ("2021-11-03 15:51:30", False),
        ("Wed, 3 Nov 2021 15:51:30", False),
    ],
)
def test_whether_a_date_names_its_zone(text: str, written: bool) -> None:
    assert zone_written(text) is written


@pytest.mark.parametrize(
    "text", ["2021-11-03T15:51:30+25:00", "2021-11-03T15:51:30+01:99", "2021-11-03T15:51:30-99:99"]
)
def test_an_impossible_iso_offset_is_no_zone_and_no_error(text: str) -> None:
    # A stranger's forward: an offset built without a range check raised ValueError, and the
    # message went to Error after three passes.
    assert parse_date(text) == datetime(2021, 11, 3, 15, 51, 30, tzinfo=UTC)
    assert not zone_written(text)


def test_a_range_of_times_is_not_a_zone() -> None:
    assert parse_date("03.11.2021 10:30-11:30") == datetime(2021, 11, 3, 10, 30, tzinfo=UTC)


def test_unreadable_date_is_none() -> None:
    assert parse_date("") is None
    assert parse_date("no date here at all") is None


def test_an_offset_of_twenty_digits_is_no_zone_and_no_error() -> None:
    # The stdlib's RFC 5322 reader raised OverflowError on it, out of the forward reader.
    overflowing = parse_date("Mon, 1 Jan 2020 00:00:00 +99999999999999999999")
    assert overflowing == datetime(2020, 1, 1, tzinfo=UTC)


def test_an_inline_forward_whose_date_overflows_is_read() -> None:
    forwarded = parse_inline(
        "---------- Forwarded message ---------\n"
        "From: Carl <carl@globex.example>\n"
        "Date: Mon, 1 Jan 2020 00:00:00 +99999999999999999999\n"
        "Subject: Quote\n"
        "To: <rep@ourco.example>\n\n"
        "Hello there\n"
    )
    assert forwarded is not None and forwarded.sender is not None
    assert forwarded.sender.address == "carl@globex.example"
    assert forwarded.date == datetime(2020, 1, 1, tzinfo=UTC)


# Thunderbird writes the localisation's mailnews.forward_header_originalmessage above an inline
# forward; older localisations worded it differently from today's (crisp's corpus has today's):
# ro "Mesajul original" (mozilla-l10n/firefox-l10n, ro/mail/chrome/messenger/messengercompose/
# composeMsgs.properties at 03ef7b7a), tr "İletilmiş İleti" (transvision.mozfr.org entity
# mailnews.forward_header_originalmessage, aurora, as listed in a Ruby EmailParser::ForwardPatterns).
# The labels are those of the same locales' mime.properties, as in crisp's thunderbird_ro/tr fixtures.
@pytest.mark.parametrize(
    ("separator", "labels"),
    [
        ("-------- Mesajul original --------", ("Subiect", "Dată", "de la", "Către")),
        ("-------- İletilmiş İleti --------", ("Konu", "Tarih", "Kimden", "Kime")),
    ],
)
def test_older_thunderbird_separators_open_the_block(separator: str, labels: tuple[str, ...]) -> None:
    subject, date, sender, to = labels
    forwarded = parse_inline(
        f"See below\n\n{separator}\n{subject}: \tOferta 40\n{date}: \tWed, 3 Nov 2021 15:51:30 +0100\n"
        f"{sender}: \tJohn Doe <john.doe@acme.com>\n{to}: \tbessie.berry@acme.com\n\nHello Bessie,\n",
        "Fwd: Oferta 40",
    )
    assert forwarded is not None and forwarded.sender is not None
    # Read from the "From" line on, the block lost the subject and date written above it.
    assert (forwarded.subject, forwarded.date) == ("Oferta 40", datetime(2021, 11, 3, 14, 51, 30, tzinfo=UTC))
    assert (forwarded.note, forwarded.client_hint) == ("See below", "thunderbird")
    assert forwarded.body == "Hello Bessie,"


def test_older_thunderbird_ro_separator_above_a_reply_is_no_forward() -> None:
    # The same localisation wrote "Mesajul original" above the quote of a reply too (its
    # mailnews.reply_header_originalmessage): a BCC'd reply must not be routed as a forward.
    reply = (
        "Multumesc!\n\n-------- Mesajul original --------\nSubiect: \tOferta 40\n"
        "de la: \tJohn Doe <john.doe@acme.com>\nCătre: \tbessie.berry@acme.com\n\nHello Bessie,\n"
    )
    assert parse_inline(reply, "Re: Oferta 40", reply_quotes=False) is None


def test_thunderbird_japanese_keeps_english_separator_and_labels() -> None:
    # Japanese Thunderbird: thunderbird/thunderbird-l10n ja/mail/chrome/messenger/messengercompose/
    # composeMsgs.properties keeps "-------- Forwarded Message --------", and ja mime.properties
    # (mozilla-l10n/firefox-l10n) keeps Subject/Date/From/To; the date is the RFC 5322 header.
    forwarded = parse_inline(
        "ご確認ください。\n\n-------- Forwarded Message --------\nSubject: \t見積もり\n"
        "Date: \tMon, 25 Jan 2021 16:23:00 +0900\nFrom: \t山田太郎 <taro.yamada@acme.co.jp>\n"
        "To: \tbessie.berry@acme.com\n\nよろしくお願いします。\n",
        "Fwd: 見積もり",
    )
    assert forwarded is not None and forwarded.sender is not None
    assert (forwarded.sender.name, forwarded.sender.address) == ("山田太郎", "taro.yamada@acme.co.jp")
    assert forwarded.date == datetime(2021, 1, 25, 7, 23, tzinfo=UTC)
    assert (forwarded.subject, forwarded.client_hint) == ("見積もり", "thunderbird")
    assert forwarded.note == "ご確認ください。"


@pytest.mark.parametrize(
    ("subject", "kind", "stripped"),
    [
        ("Fwd: Offer", Kind.FORWARD, "Offer"),
        ("FW: Fwd: Offer", Kind.FORWARD, "Offer"),
        ("WG: Angebot", Kind.FORWARD, "Angebot"),
        ("TR: Devis", Kind.FORWARD, "Devis"),
        ("RV: Oferta", Kind.FORWARD, "Oferta"),
        ("I: Offerta", Kind.FORWARD, "Offerta"),
        ("Doorst: Offerte", Kind.FORWARD, "Offerte"),
        ("VS: Tilbud", Kind.FORWARD, "Tilbud"),
        ("ENC: Proposta", Kind.FORWARD, "Proposta"),
        ("Redir.: Ofertă", Kind.FORWARD, "Ofertă"),
        ("Re: Offer", Kind.REPLY, "Re: Offer"),
        ("AW: Angebot", Kind.REPLY, "AW: Angebot"),
        ("Offer", Kind.PLAIN, "Offer"),
    ],
)
def test_subject_prefixes(subject: str, kind: Kind, stripped: str) -> None:
    assert classify(subject) is kind
    assert strip_forward_prefixes(subject) == stripped


def test_address_lists_as_clients_write_them() -> None:
    found, names = parse_people("Bessie, Berry <b@acme.com>, s@globex.corp <s@globex.corp>; x@y.org")
    assert [(a.name, a.address) for a in found] == [
        ("Bessie, Berry", "b@acme.com"),
        (None, "s@globex.corp"),
        (None, "x@y.org"),
    ]
    assert names == ()
    found, _ = parse_people("John Doe [mailto:john@acme.com]")
    assert [(a.name, a.address) for a in found] == [("John Doe", "john@acme.com")]
    assert parse_people("Bessie Berry") == ((), ("Bessie Berry",))


def test_name_only_sender_is_kept_apart() -> None:
    text = (
        "-----Original Message-----\nFrom: John Doe\nSent: 23 July 2022 07:53\n"
        "To: Bessie Berry\nSubject: Hi\n\nBody"
    )
    fwd = parse_inline(text, "FW: Hi")
    assert fwd is not None
    assert fwd.sender is None and fwd.sender_name == "John Doe" and fwd.to_names == ("Bessie Berry",)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_never_raises_on_any_text(text: str) -> None:
    parse_inline(text, text[:50])
    parse_date(text)


def test_hostile_input_stays_bounded() -> None:
    nasty = [
        "-" * 200_000 + " Forwarded message " + "-" * 200_000,
        ("From: " + "<" * 50_000 + "a@b.c" + ">" * 50_000 + "\n") * 3,
        "> " * 100_000 + "Begin forwarded message:",
        "From: a@b.c\nDate: " + "1" * 100_000 + "\n",
        ("x@y.z, " * 30_000),
    ]
    began = time.perf_counter()
    for text in nasty:
        parse_inline(text, "Fwd: x")
    assert time.perf_counter() - began < 10  # generous: catastrophic backtracking would take minutes


def test_a_huge_text_part_is_cut_between_characters() -> None:
    # Cut at 4 MB inside a UTF-8 character, the whole text fell back to Windows-1252 ("Ã©").
    from email import message_from_bytes

    from emaillog.forwards.parts import decoded
    from emaillog.fulltree import BOUNDED_DEFAULT

    raw = b"Content-Type: text/plain\r\n\r\n" + "é\n".encode() * 1_500_000
    text = decoded(message_from_bytes(raw, policy=BOUNDED_DEFAULT))
    assert text is not None and text.startswith("é\né\n") and "Ã" not in text
