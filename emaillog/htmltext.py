"""HTML from strangers: sanitised before it is stored for display, and turned into text.

nh3 (the Rust ammonia sanitiser) removes scripts, event handlers and dangerous URLs. Remote images
are dropped as well: in a CRM they are tracking pixels that would tell the sender each time a
colleague opens the record.

The parsers under it spend more than linear time on shapes no mail client writes: html5ever
(nh3) looks back along the open elements at each tag, so 100,000 nested ``<div>`` (1.1 MB) took
32 s of CPU; html5ever and libxml2 (inscriptis) compare each attribute of a tag with the ones
before it, so one tag with 100,000 attributes took 4 s to sanitise and 130 s to read as text; and
html5ever takes time that grows with the square of a run of character references ("&amp;" 400,000
times in a row, 2 MB, took 1.5 s, "x&notin" 7.5 s). HTML with more of these than ``_costly``
allows is read as plain text instead, in linear time.
"""

from __future__ import annotations

import html as htmllib
import re

import nh3
from inscriptis import get_text

_URL_SCHEMES = nh3.ALLOWED_URL_SCHEMES | {"cid"}
_MAX_HTML = 4 * 1024 * 1024


# What a browser takes off a URL before reading it (WHATWG URL Standard, "basic URL parser"): C0
# controls and spaces at either end, tabs and newlines anywhere. No other character: a link written
# "\u00a0https:…" or "\u3000cid:…" is a relative path to a browser, though str.strip() takes it off.
_URL_ENDS = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
# A host ("//example.com", "\\example.com") or a scheme ("mailto:") ahead of the rest of a link.
_HOST = re.compile(r"[/\\]{2}")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*+):")
# Schemes a browser reads as relative to a page of the same scheme unless a host follows:
# "https:/admin" on https://crm.example/ is https://crm.example/admin (the URL Standard's "special").
_SPECIAL = frozenset({"http", "https", "ftp", "ws", "wss", "file"})


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not _as_read(value).lower().startswith("cid:"):
        return None
    # ammonia checks the scheme of href and src, not of cite: "javascript:" stayed in a blockquote's.
    # A browser shows no cite: nothing is lost.
    if attribute == "cite":
        return None
    # An email has no address of its own, so a relative link ("/admin/users/7/delete") can only lead
    # into the CRM that shows it, where a stranger chose it.
    if attribute == "href" and not _leads_elsewhere(_as_read(value)):
        return None
    return value


def _as_read(url: str) -> str:
    """``url`` as a browser reads it, before resolving it."""
    return _TAB_OR_NEWLINE.sub("", url.strip(_URL_ENDS))


def _leads_elsewhere(url: str) -> bool:
    """Whether ``url`` names its own host or scheme, so that no page showing it is its base."""
    if _HOST.match(url):
        return True
    scheme = _SCHEME.match(url)
    if scheme is None:
        return False
    return scheme.group(1).lower() not in _SPECIAL or bool(_HOST.match(url, scheme.end()))


# Made once: nh3.clean builds its sanitiser (the allowed tags, attributes, schemes) again on every
# call, which measured 10-13 µs a call, about a tenth of sanitising a 11 KB message.
_CLEANER = nh3.Cleaner(
    url_schemes=_URL_SCHEMES,
    attribute_filter=_keep_attribute,
    link_rel="noopener noreferrer nofollow",
)


def sanitise_html(html: str) -> str:
    """Return HTML that is safe to show inside the CRM (no script, no remote images, no handlers)."""
    html = html[:_MAX_HTML]
    if _costly(html):
        return f"<pre>{htmllib.escape(_plain_text(html))}</pre>"
    return _CLEANER.clean(html)


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (tables and lists laid out), for HTML-only messages."""
    html = html[:_MAX_HTML]
    if _costly(html):
        return _plain_text(html)
    try:
        return str(get_text(html)).strip()
    except (ValueError, TypeError, AttributeError, RecursionError):  # inscriptis on broken markup
        return ""


# A start or end tag as the HTML tokenizer reads it, to its ">" or the end of the text: possessive
# throughout, so each tag is read once whatever it holds (a quote left open runs to the end, as it
# does for the tokenizer). Group 1 is "/" for an end tag, group 2 the name.
_TAG = re.compile(
    r"<(/?)([A-Za-z][^\s/>]*+)"
    r"(?:[\s/]++|[^\s/>][^\s/>=]*+(?:\s*+=\s*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\s>]*+))?+)*+"
)
_ATTRIBUTE = re.compile(r"[\s/\"'][^\s/>\"']")  # where one may start: an over-count
_QUOTED = re.compile(r"\"[^\"]*+\"|'[^']*+'")  # a value: its words and slashes start none
# Elements a new one of their kind, or their parent's end, closes: they do not deepen the tree.
_SHALLOW = frozenset(
    {
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "tbody",
        "thead",
        "tfoot",
        "option",
        "optgroup",
        "rb",
        "rt",
        "rtc",
        "rp",
        "colgroup",
        "caption",
        "html",
        "head",
        "body",
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)
_CHECK_TAGS_OVER = 2000  # fewer tags nest at most 2,000 deep: cheap whatever their shape
_CHECK_LENGTH_OVER = 32 * 1024  # in less, no tag has attributes enough to cost a tenth of a second
_LONG_TAG = 512  # a shorter tag has at most 256 attributes: each costs microseconds
_MAX_NESTING_COST = 20_000_000  # the sum of the depths of the tags opened (~0.1 s in html5ever)
_MAX_ATTRIBUTE_COST = 10_000_000  # the sum of the squares of the attributes of long tags (~0.05 s)
_MAX_REFERENCE_COST = 2_000_000_000  # the sum of the squares of the "&" between two "<" (~0.1 s)


def _costly(html: str) -> bool:
    """Whether ``html`` would make the parsers crawl (see above)."""
    return _references_costly(html) or _markup_costly(html)


def _references_costly(html: str) -> bool:
    """Whether the runs of character references, each ended by a "<", are too long."""
    if html.count("&") ** 2 <= _MAX_REFERENCE_COST:
        return False
    return sum(run.count("&") ** 2 for run in html.split("<")) > _MAX_REFERENCE_COST


def _markup_costly(html: str) -> bool:
    """Whether ``html`` nests or names attributes enough to make the parsers crawl."""
    if len(html) <= _CHECK_LENGTH_OVER and html.count("<") <= _CHECK_TAGS_OVER:
        return False
    if not _may_nest_deep(html) and not _may_hold_a_long_tag(html):
        return False  # what the count below would find, at memchr and C regex speed
    return _counted_costly(html)


# Tags are counted one by one only where counts at C speed leave the cost in doubt: that count took
# as long as the sanitiser itself (1.6 ms for a 60 KB Outlook body, 3 times as many tags).
# n opening tags nest at most n(n+1)/2 deep in all: this many are within _MAX_NESTING_COST.
_FEW_OPENING_TAGS = 6323
# A tag longer than _LONG_TAG runs that far without "<" or ">", or holds a "<" (in an attribute's
# name or value), or holds a ">" in a quoted value; searching for each reads every character once.
# (After the run, one more character that is not ">": the run's 512th, or a "<".)
_LONG_OR_ODD_TAG = re.compile(rf"<[A-Za-z/][^<>]{{0,{_LONG_TAG - 2}}}+[^>]")
_QUOTED_GREATER_THAN = re.compile(r"=\s*+(?:\"[^\">]*+>|'[^'>]*+>)")


def _may_nest_deep(html: str) -> bool:
    return html.count("<") - html.count("</") > _FEW_OPENING_TAGS


def _may_hold_a_long_tag(html: str) -> bool:
    return bool(_LONG_OR_ODD_TAG.search(html) or _QUOTED_GREATER_THAN.search(html))


def _counted_costly(html: str) -> bool:
    depth = nesting = attributes = 0
    open_by_name: dict[str, int] = {}
    for tag in _TAG.finditer(html):
        closing, name = tag.group(1, 2)
        if tag.end() - tag.start() > _LONG_TAG:
            values_out = _QUOTED.sub('""', html[tag.end(2) : tag.end()])
            attributes += len(_ATTRIBUTE.findall(values_out)) ** 2
        name = name.lower()
        if name in _SHALLOW:
            continue
        # An end tag takes off only an element of its name still open: "<div></span>" a thousand
        # times is a thousand divs deep, as the parser builds it.
        if not closing:
            open_by_name[name] = open_by_name.get(name, 0) + 1
            depth += 1
            nesting += depth
        elif open_by_name.get(name):
            open_by_name[name] -= 1
            depth -= 1
    return nesting > _MAX_NESTING_COST or attributes > _MAX_ATTRIBUTE_COST


_ANY_TAG = re.compile(r"<[^<>]*+>")
_BLANKS = re.compile(r"[ \t\r\f\v]*+\n\s*+|[ \t\r\f\v]++")


def _plain_text(html: str) -> str:
    """The text of ``html`` with its tags left out, in linear time: for HTML too costly to parse."""
    text = htmllib.unescape(_ANY_TAG.sub(" ", html))
    return _BLANKS.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()
