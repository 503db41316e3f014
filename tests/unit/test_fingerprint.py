"""SPEC §9: one email's fingerprint is the same whichever client rendered the copy it is read from.

The renderings below are of one customer reply, as each client writes the text of an HTML email:
Gmail's text/plain part (links as "text <url>", lines wrapped, pictures as "[image: alt]"), Outlook's
("text<url>", "address<mailto:address>", pictures as "[alt]" or "[cid:…]"), Apple Mail's ("text
<url>", no picture), and emaillog's own text of the HTML when a copy has no text part (an Outlook
HTML-only forward): inscriptis shows no link target and no picture.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emaillog.addresses import Address
from emaillog.htmltext import html_to_text
from emaillog.rules.identity import (
    WANTED,
    WINDOW,
    _keep_letters_and_digits,
    _letters_and_digits,
    _own_text,
    fingerprint,
    fingerprint_with_links,
)

CARL = Address("Carl Customer", "carl@globex.example")
WHEN = datetime(2026, 11, 20, 8, 15, tzinfo=UTC)

HTML = (
    "<html><body><p>Hi Rita,</p>"
    "<p>Thanks for the proposal. Please <a href='https://sign.globex.example/d/8841?u=rita&amp;t=7f'>"
    "sign here</a> before Friday; our terms are at "
    "<a href='https://globex.example/terms'>https://globex.example/terms</a>.</p>"
    "<ul><li>40 licences</li><li>2 years</li></ul>"
    "<p>Best,<br>Carl</p><p>--<br>Carl Customer | Globex<br>"
    "<img src='cid:image001.png@01D9A1B2.C3D4E5F0' alt='Globex logo'><br>"
    "<a href='mailto:carl@globex.example'>carl@globex.example</a></p></body></html>"
)
GMAIL = """Hi Rita,

Thanks for the proposal. Please sign here
<https://sign.globex.example/d/8841?u=rita&t=7f> before Friday; our terms are at
https://globex.example/terms.

   - 40 licences
   - 2 years

Best,
Carl
--
Carl Customer | Globex
[image: Globex logo]
carl@globex.example
"""
# Outlook and Apple Mail do not wrap a paragraph's line.
_SIGN, _TERMS = "https://sign.globex.example/d/8841?u=rita&t=7f", "https://globex.example/terms"
OUTLOOK = f"""Hi Rita,

Thanks for the proposal. Please sign here<{_SIGN}> before Friday; our terms are at {_TERMS}<{_TERMS}>.


  *   40 licences
  *   2 years

Best,
Carl
--
Carl Customer | Globex
[cid:image001.png@01D9A1B2.C3D4E5F0]
carl@globex.example<mailto:carl@globex.example>
"""
OUTLOOK_ALT_TEXT = OUTLOOK.replace("[cid:image001.png@01D9A1B2.C3D4E5F0]", "[Globex logo]")
APPLE = f"""Hi Rita,

Thanks for the proposal. Please sign here <{_SIGN}> before Friday; our terms are at {_TERMS} <{_TERMS}>.

40 licences
2 years

Best,
Carl
--
Carl Customer | Globex
carl@globex.example <mailto:carl@globex.example>
"""


def _print(body: str) -> str:
    return fingerprint(CARL, WHEN, "Re: Proposal", body)


@pytest.mark.parametrize(
    "rendering",
    [GMAIL, OUTLOOK, OUTLOOK_ALT_TEXT, APPLE],
    ids=["gmail", "outlook", "outlook alt text", "apple mail"],
)
def test_a_clients_text_and_an_html_only_copy_have_one_fingerprint(rendering: str) -> None:
    html_only = html_to_text(HTML)
    assert "sign.globex" not in html_only and "logo" not in html_only  # what the HTML-only copy reads
    assert _print(rendering) == _print(html_only)
    # What the fingerprint was before: each client's rendering its own email.
    assert fingerprint_with_links(CARL, WHEN, "Re: Proposal", rendering) != fingerprint_with_links(
        CARL, WHEN, "Re: Proposal", html_only
    )


def test_the_emails_own_words_still_tell_two_emails_apart() -> None:
    assert _print(GMAIL) != _print(GMAIL.replace("before Friday", "before Monday"))
    assert _print(GMAIL) != _print(GMAIL.replace("40 licences", "50 licences"))
    # Only the link's target goes, not the words it is on nor the address shown.
    assert _print("Please sign here <https://x.example/1>") != _print("Please <https://x.example/1>")
    assert _print("write to carl@globex.example") != _print("write to carl@initech.example")


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("sign here <https://sign.example/d/1?a=b>.", "sign here."),
        ("sign here<HTTPS://Sign.Example/D/1>.", "sign here."),
        ("sign here [https://sign.example/d/1]", "sign here"),
        ("mail rita@acme.com<mailto:rita@acme.com>!", "mail rita@acme.com!"),
        ("mail Rita <mailto:rita@acme.com>", "mail rita"),
        ("see ftp://files.example/a.zip now", "see  now"),
        ("logo [image: Acme logo] here", "logo  here"),
        ("logo [Bild: Acme-Logo] here", "logo  here"),
        ("logo [cid:image001.png@01D9A1B2.C3D4E5F0] here", "logo  here"),
        ("From: Carl [mailto:carl@globex.example]", "from: carl "),
        ("Sent at 10:30: acid: cheap. Hotel: Ritz", "sent at 10:30: acid: cheap. hotel: ritz"),
    ],
)
def test_what_clients_write_around_the_text_is_left_out(written: str, read: str) -> None:
    letters = _keep_letters_and_digits(_own_text(written.lower(), client_made=False))
    assert letters == _keep_letters_and_digits(read)


def test_a_body_without_links_or_placeholders_keeps_its_fingerprint() -> None:
    # Stored fingerprints of such bodies stay valid: the upgrade to schema v10 leaves them alone.
    body = "Hello Rita,\nwhat would 50 seats cost us? Call me at 10:30.\nCarl\n" * 100
    assert _print(body) == fingerprint_with_links(CARL, WHEN, "Re: Proposal", body)


# 1,995 letters, then punctuation up to 2,666 characters: the prefix cut (the first space after
# 2,666) falls inside the placeholder that follows, and its first word would make up 2,000 letters.
_BEFORE_CUT = "abcde " * 399 + "- " * 136


@pytest.mark.parametrize("placeholder", ["[image: a logo with words]", "[cid:image001.png@01D9 x]"])
def test_a_placeholder_across_the_prefix_cut_reads_as_in_the_whole_window(placeholder: str) -> None:
    # The letters are tried first from a prefix cut at whitespace: a placeholder that the cut
    # splits must go as it goes from the whole window.
    body = _BEFORE_CUT + placeholder + " " + "tail " * 2000
    assert len(_BEFORE_CUT) <= body.find(" ", WANTED + WANTED // 3) < len(_BEFORE_CUT) + len(placeholder)
    whole = _keep_letters_and_digits(_own_text(body[:WINDOW].lower(), False))[:WANTED]
    assert _letters_and_digits(body) == whole
    assert whole.endswith("abcdetailt")


_TOKENS = st.sampled_from(
    [
        "word",
        "Σς",
        " ",
        "\n",
        "[",
        "]",
        "[image: logo]",
        "<",
        ">",
        ":",
        "//",
        "https",
        "://",
        "mailto:",
        "http://x.example/a",
        "<mailto:r@a.example>",
        "a@b.example",
        "1234",
        "ß",
        "İ",
        ".",
        "-",
    ]
)


@given(st.lists(_TOKENS, max_size=3000).map("".join))
@settings(max_examples=300, deadline=None)
@example(_BEFORE_CUT + "[image: a logo] " + "tail " * 600)
@example("word " * 533 + "<https://a.example/x> " + "tail " * 600)
def test_fingerprint_letters_from_a_prefix_equal_those_of_the_whole_window(body: str) -> None:
    whole = _keep_letters_and_digits(_own_text(body[:WINDOW].lower(), False))[:WANTED]
    assert _letters_and_digits(body) == whole
    assert not re.search(r"[\W_]", whole)
