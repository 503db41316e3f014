"""HTML bodies as plain text, so that HTML-only forwards go through the same inline reader."""

from __future__ import annotations

import re

from ..htmltext import html_to_text as _text_of

_MAX_HTML = 1024 * 1024  # the header block is near the top; a huge HTML body is cut before parsing
_RPLY = re.compile(r"<div[^>]{0,200}id=[\"']?divRplyFwdMsg", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Text of ``html`` as inscriptis renders it (tables and blocks keep their line breaks)."""
    html = html[:_MAX_HTML]
    # Outlook separates the note from the forwarded block with <hr> inside <div id="divRplyFwdMsg">;
    # inscriptis drops <hr>, so the rule Outlook writes in plain text is put back.
    marked = _RPLY.sub(lambda m: "<p>________________________________</p>" + m.group(0), html, count=1)
    return _text_of(marked)
