"""The HTML stored for display (SPEC §4 "HTML made safe to display"): read through ``parse`` as the
daemon reads a message, it carries no script and nothing that loads from elsewhere, and no shape of
HTML makes reading it take more than bounded time (SPEC §8)."""

from __future__ import annotations

import base64
import random
import time
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

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


# Vectors from the OWASP XSS Filter Evasion Cheat Sheet (OWASP/CheatSheetSeries,
# cheatsheets/XSS_Filter_Evasion_Cheat_Sheet.md), html5sec.org (formaction, autofocus, svg/math
# namespaces) and the mutation-XSS shapes (noscript/title, math/mglyph/style), with the remote
# resources a tracking email loads on display.
VECTORS = (
    "<SCRIPT SRC=https://x.example/x.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"`/+/onmouseover=1/+/[*/[]/+alert(42);//'>",
    '<a onmouseover="alert(1)">x</a><IMG """><SCRIPT>alert("XSS")</SCRIPT>">',
    "<IMG SRC=javascript:alert(1)><IMG SRC=\"jav\tascript:alert('XSS');\"><IMG SRC='vbscript:msgbox(1)'>",
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">e</a>',
    '<a href="&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61">h</a>',
    '<a href="jav&#x0A;ascript:alert(1)">n</a><a href=" &#14;  javascript:alert(1)">s</a>',
    '<a href="JaVaScRiPt:alert(1)">m</a><a href="data:text/html;base64,PHNjcmlwdD4=">d</a>',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">x</button></form>',
    "<input onfocus=alert(1) autofocus><details open ontoggle=alert(1)><summary>s</summary></details>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a>'
    "<animate attributeName=href values=javascript:alert(1) /></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<svg><style><img src=x onerror=alert(1)></style></svg><math href="javascript:alert(1)">m</math>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<!--<img src=x onerror=alert(1)>--><![CDATA[<img src=x onerror=alert(1)>]]>",
    '<style>li{list-style-image:url("javascript:alert(1)")}@import "https://t.example/x.css";</style>',
    '<div style="background:url(https://t.example/b.png);width:expression(alert(1));behavior:url(x.htc)">s</div>',
    '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe><object data="x.swf"></object><embed src="x.swf">',
    "<template><img src=x onerror=alert(1)></template>",
    "<select><style></select><img src=x onerror=alert(1)></style>",
    '<!--[if mso]><v:rect><v:fill src="https://t.example/o.png"/></v:rect><![endif]--><p>body</p>',
    '<img src="https://t.example/pixel.gif" width=1 height=1><img src="//t.example/p">'
    '<img srcset="https://t.example/a 1x">',
    '<table background="https://t.example/bg.png"><tr><td background="https://t.example/c">c</td></tr></table>',
    '<link rel=stylesheet href="https://t.example/x.css"><body background="https://t.example/b">'
    '<video poster="https://t.example/p.png"></video><input type=image src="https://t.example/i">',
    '<blockquote cite="javascript:alert(1)">q</blockquote><q cite="https://t.example/q">q</q>',
    '<a href="/admin/users/7/delete">approve</a><a href="settings?x=1">s</a>',
    '<area href="javascript:alert(1)">',
)
ALLOWED_SCHEMES = ("http:", "https:", "mailto:", "cid:", "tel:", "//")
URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "cite", "background", "poster", "data"}


class _Markup(HTMLParser):
    """Every element and attribute of the stored HTML, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_displayable(html: str) -> None:
    markup = _Markup()
    markup.feed(html)
    for tag, attrs in markup.found:
        assert tag not in {"script", "style", "iframe", "object", "embed", "form", "base", "meta", "link"}, (
            tag
        )
        assert tag not in {"svg", "math", "template", "input", "button", "video", "noscript"}, tag
        for name, value in attrs:
            assert not name.startswith("on") and name not in {"style", "srcdoc", "background"}, (tag, name)
            if name in URL_ATTRIBUTES:
                url = "".join((value or "").split()).lower()
                assert url.startswith(ALLOWED_SCHEMES), (tag, name, value)
                assert tag != "img" or url.startswith("cid:"), (tag, name, value)  # nothing loads


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
