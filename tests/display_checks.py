"""What the HTML stored for display must never hold, checked by the unit and the live tests: the
vectors that try to put it there, and the check of what was stored."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

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
    # Links and pictures that a browser resolves into the CRM showing them: the scheme of the page
    # without "//" is relative ("https:/admin" on https://crm/ is https://crm/admin), and a leading
    # no-break or ideographic space is no blank to a browser, so the scheme after it is a path.
    '<a href="https:/admin/users/7/delete">a</a><a href="HTTP:admin/users/7/delete">b</a>'
    '<a href="\u00a0https://t.example/x">c</a><a href="\u3000javascript:alert(1)">d</a>',
    '<img src="\u00a0cid:x/../../admin/users/7/delete"><img src="&nbsp;cid:logo">',
)
ALLOWED_SCHEMES = ("http:", "https:", "mailto:", "cid:", "tel:", "//")
# Where the stored HTML is shown: a link must not resolve to a page of it (a stranger chose it).
CRM_PAGE = "https://crm.example/emails/5"
# What a browser takes off a URL before reading it (the WHATWG URL Standard, "basic URL parser"):
# C0 controls and spaces at either end, tabs and newlines anywhere. Nothing else is a blank to it.
_ENDS = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
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
                url = _TAB_OR_NEWLINE.sub("", (value or "").strip(_ENDS)).lower()
                assert url.startswith(ALLOWED_SCHEMES), (tag, name, value)
                assert tag != "img" or url.startswith("cid:"), (tag, name, value)  # nothing loads
                assert not _into_the_crm(url), (tag, name, value)


def _into_the_crm(url: str) -> bool:
    """Whether a browser showing the HTML at CRM_PAGE resolves ``url`` to a page of the CRM (a
    browser reads a backslash as a slash in an http(s) URL; urljoin does not)."""
    resolved = urlsplit(urljoin(CRM_PAGE, url.replace("\\", "/")))
    return resolved.scheme in {"http", "https"} and resolved.netloc == urlsplit(CRM_PAGE).netloc
