"""The subject prefixes that forwarding and replying clients add ("Fwd:", "WG:", "Re:", "AW:"), per
language — data only; ``subjects.py`` tells a forward's subject from a reply's by them.

Each table is written as the clients write it (case is ignored when matching).
"""

from __future__ import annotations

# Subject prefixes a forwarding client adds, in every language seen (with or without a dot).
FORWARD_PREFIXES: tuple[str, ...] = (
    "fwd",
    "fw",
    "fwrd",
    "wg",
    "tr",
    "rv",
    "i",
    "doorst",
    "vs",
    "vl",
    "enc",
    "pd",
    "vb",
    "videresend",
    "redir",
    "i̇lt",
    "ilt",
    "pr",
    "prosl",
    "továbbítás",
    "továbbítva",
    "tov",
    "fs",
    "trs",
    "reenv",
    "inoltro",
    "wd",
    "weiterl",
    "пересл",
    "пересылка",
    "fwd/re",
    "转发",
    "転送",
    "iletildi",
)

# Reply prefixes, so that a reply to the logging address is not mistaken for a forward.
REPLY_PREFIXES: tuple[str, ...] = (
    "re",
    "aw",
    "sv",
    "antw",
    "odp",
    "odg",
    "ynt",
    "válasz",
    "vá",
    "atb",
    "rif",
    "r",
    "ref",
    "res",
    "rép",
    "ang",
    "отв",
    "ha",
    "返信",
    "回复",
)
