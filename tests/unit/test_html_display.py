"""The HTML stored for display (SPEC §4 "HTML made safe to display"): read through ``parse`` as the
daemon reads a message, it carries no script and nothing that loads from elsewhere, and no shape of
HTML makes reading it take more than bounded time (SPEC §8)."""

from __future__ import annotations

import base64
import random
import time
from email.message import EmailMessage

import pytest
from display_checks import VECTORS, assert_displayable
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emaillog.limits import Limits
from emaillog.message import Email, parse

CPU_BOUND = 2.0  # CPU seconds for one message, as the hostile corpus allows


def html_only(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carl Customer <carl@globex.example>"
    msg["To"] = "rita@acme.example"
    msg["Subject"] = "Hello"
    msg.set_content(html, subtype="html")
    return bytes(msg)


def parsed(html: str) -> Email:
    email = parse(html_only(html), Limits())
    assert isinstance(email, Email)
    return email


# Shapes no mail client writes, each under the 2 MB body limit, that made html5ever (under nh3) or
# libxml2 (under inscriptis) spend from 4 s to minutes of CPU before the fix.
CRAWLING = {
    "nested divs": "<div>" * 100_000 + "Hello",
    "end tags of elements never opened": "<div></span>" * 100_000 + "Hello",
    "one tag with many attributes": "<p " + " ".join(f"a{i}" for i in range(100_000)) + ">Hello</p>",
    "attributes named from '='": "<p " + " ".join(f"=a{i}" for i in range(100_000)) + ">Hello</p>",
    "a run of character references": "Hello " + "&notin" * 300_000,
}


@pytest.mark.parametrize("shape", sorted(CRAWLING))
def test_html_shaped_to_make_the_parsers_crawl_is_read_in_bounded_time(shape: str) -> None:
    started = time.process_time()
    email = parsed(CRAWLING[shape])
    cpu = time.process_time() - started
    assert cpu < CPU_BOUND, f"{shape}: {cpu:.2f} CPU seconds"
    # Read as plain text instead: its words are kept, and nothing of its markup.
    assert email.text.startswith("Hello") and email.html is not None and "Hello" in email.html
    assert "<div" not in email.html and "<p " not in email.html


def test_a_large_ordinary_email_keeps_its_markup() -> None:
    # 3,000 rows of a report: more tags and bytes than the cheap look lets through unexamined.
    rows = "".join(
        f'<tr><td align="left" colspan="1">Item {i}</td><td><a href="https://acme.example/i/{i}?a=1&amp;b=2">'
        f"&euro;{i}</a></td></tr>"
        for i in range(3000)
    )
    # A picture written into the HTML (base64, with a "/" every few characters): dropped, but its
    # tag, 400 KB long, is one attribute.
    picture = base64.b64encode(random.Random(7).randbytes(300_000)).decode()
    email = parsed(
        f'<div><div><table>{rows}</table></div></div><img alt="logo" src="data:image/png;base64,{picture}">'
        "<p>Regards, <b>Carl</b></p>"
    )
    assert email.html is not None and "<table>" in email.html and "<b>Carl</b>" in email.html
    assert '<td align="left" colspan="1">Item 2999</td>' in email.html and '<img alt="logo">' in email.html
    assert "Item 2999  €2999" in email.text  # laid out as a table, as inscriptis lays one out


@pytest.mark.parametrize("vector", VECTORS)
def test_what_is_stored_for_display_runs_nothing_and_loads_nothing(vector: str) -> None:
    email = parsed(f"<p>Hello Rita,</p>{vector}<p>Regards</p>")
    assert email.html is not None and "Hello Rita" in email.html
    assert_displayable(email.html)


def test_pictures_of_the_email_itself_links_and_layout_are_kept() -> None:
    email = parsed(
        '<table><tr><td colspan="2" align="center"><img src="cid:logo@acme" alt="Acme" width="80"></td></tr>'
        '<tr><td><a href="https://acme.example/quote?id=7&amp;v=2" target="_blank">the quote</a></td>'
        '<td><a href="mailto:rita@acme.example">write</a></td></tr></table>'
    )
    rel = 'rel="noopener noreferrer nofollow"'
    assert email.html is not None and email.html.strip() == (
        '<table><tbody><tr><td colspan="2" align="center">'
        '<img src="cid:logo@acme" alt="Acme" width="80"></td></tr>'
        f'<tr><td><a href="https://acme.example/quote?id=7&amp;v=2" {rel}>the quote</a></td>'
        f'<td><a href="mailto:rita@acme.example" {rel}>write</a></td></tr></tbody></table>'
    )


# A tag of the kinds the long-tag look must not miss: names and values holding "<", ">", quotes and
# "=", quoted or not, closed or not, at lengths around _LONG_TAG.
_TOKEN = st.one_of(
    st.text(alphabet="ab=<>/ ", min_size=1, max_size=40),
    st.builds(
        lambda q, v: f"={q}{v}{q}", st.sampled_from(["'", '"', ""]), st.text(alphabet="x<>'\" ", max_size=300)
    ),
    st.just(" " * 200),
    st.just("y" * 300),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKEN, max_size=12), st.text(alphabet="<>a ", max_size=20))
@example(['="x>' + "y" * 600 + '"'], "")
@example(["= 'x>" + "y" * 600], "")
def test_the_look_at_c_speed_finds_every_tag_the_count_would_weigh(tokens: list[str], after: str) -> None:
    from emaillog import htmltext

    html = "<p class=x>" + "<div " + "".join(tokens) + after
    if not htmltext._may_hold_a_long_tag(html):
        longest = max(m.end() - m.start() for m in htmltext._TAG.finditer(html))
        assert longest <= htmltext._LONG_TAG, html


def test_a_large_ordinary_email_is_weighed_without_counting_its_tags() -> None:
    from emaillog import htmltext

    # An Outlook body of 60 KB: 3,000 tags, none long, none odd.
    paragraph = (
        "<p class=MsoNormal><span style='font-size:11.0pt;font-family:\"Calibri\",sans-serif'>Thanks for "
        'the call &amp; the notes. <a href="https://example.com/x?y=1">link</a></span></p>\n'
    )
    html = "<div class=WordSection1>" + paragraph * 350 + "</div>"
    assert not htmltext._may_nest_deep(html) and not htmltext._may_hold_a_long_tag(html)
    assert not htmltext._costly(html)


@pytest.mark.parametrize(
    ("href", "kept"),
    [
        ("https://acme.example/quote", True),
        (" \tHTTPS://acme.example/quote\n", True),  # a browser takes these blanks off
        ("//acme.example/quote", True),
        ("https:\\\\acme.example/quote", True),  # a backslash is a slash in an http(s) URL
        ("/\t/acme.example/quote", True),  # "//acme.example" once the tab is taken out
        ("mailto:carl@globex.example", True),
        ("tel:+441234567", True),
        # Relative to the CRM page that shows the email, though they start with a scheme:
        ("https:/admin/users/7/delete", False),
        ("http:admin/users/7/delete", False),
        ("ftp:/x", False),
        ("\u00a0https://acme.example/quote", False),  # a no-break space is no blank to a browser
        ("\u3000//acme.example/quote", False),
    ],
)
def test_a_link_is_kept_only_when_it_leads_out_of_the_crm(href: str, kept: bool) -> None:
    from emaillog.htmltext import sanitise_html

    assert ("href=" in sanitise_html(f'<a href="{href}">quote</a>')) is kept
