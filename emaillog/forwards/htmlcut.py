"""The original's HTML inside an inline forward: what follows the client's forwarded-header block.

Only blocks whose end is unambiguous are cut: Outlook's ``divRplyFwdMsg`` and its bordered header
``<div>``, and Gmail's ``gmail_attr`` line. Anything else gives None, and the original is kept as
text only, so the forwarder's note and the header block never leak into the original's HTML.
"""

from __future__ import annotations

import re

# A tag's text is read up to the next "<" as well as ">": with "[^>]*", each "<div" of a body of
# "<div " repeated and no ">" was read to the end of the body, and again from each place an
# attribute could start: 100 KB of it took 57 s of CPU.
_STARTS = (
    re.compile(r"<div\b[^<>]*\bid\s*=\s*[\"']?divRplyFwdMsg\b[^<>]*>", re.I),
    re.compile(
        r"<div\b[^<>]*\bstyle\s*=\s*[\"'][^\"'<>]*border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF)[^<>]*>",
        re.I,
    ),
    re.compile(r"<div\b[^<>]*\bclass\s*=\s*[\"']?[^\"'<>]*\bgmail_attr\b[^<>]*>", re.I),
)
_DIV = re.compile(r"<(/?)div\b[^<>]*>", re.I)
_MAX_HTML = 4 * 1024 * 1024


def original_html(html: str) -> str | None:
    """The HTML after the first forwarded-header block, or None when no known block is found."""
    html = html[:_MAX_HTML]
    starts = [m for pattern in _STARTS if (m := pattern.search(html)) is not None]
    if not starts:
        return None
    start = min(starts, key=lambda m: m.start())
    end = _matching_close(html, start.end())
    if end is None:
        return None
    rest = html[end:].strip()
    return rest or None


def _matching_close(html: str, position: int) -> int | None:
    """The index just after the ``</div>`` that closes the div opened before ``position``."""
    depth = 1
    for tag in _DIV.finditer(html, position):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            return tag.end()
    return None
