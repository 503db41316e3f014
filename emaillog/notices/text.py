"""Making hostile text safe to put in a notice: one line, no control characters, bounded length."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL, plus the Unicode line and paragraph separators: any of them decoded from
# an encoded word (RFC 2047) could end a header line in some writer or reader (header injection).
# Also the bidirectional embeddings, overrides and isolates: "invoice\u202efdp.exe" would show as
# "invoiceexe.pdf" in the rep's mail client (Unicode TR36, "Trojan Source").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
_SPACES = re.compile(r"\s+")


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with every control character turned into a space, whitespace collapsed, truncated."""
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def human_size(size: int) -> str:
    """Sizes as mail clients show them (binary units), matching how the limits are written."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return _unit(size / 1024, "KB")
    return _unit(size / (1024 * 1024), "MB")


def _unit(value: float, unit: str) -> str:
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
