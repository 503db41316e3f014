"""Subject prefixes: telling a forward's subject from a reply's, and stripping them."""

from __future__ import annotations

import re
from enum import Enum

from emaillog.forwards.prefixwords import FORWARD_PREFIXES, REPLY_PREFIXES

_MAX_SUBJECT = 2000  # a subject longer than this is hostile; only its start is examined


def _alternation(words: tuple[str, ...]) -> str:
    # Longest first, so that "fwd" is tried before "fw" and "de la" before "de".
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


# A prefix is a word, an optional dot or counter ("Fwd[2]", "Re(3)"), then a colon: "Fwd:", "Redir.:",
# "WG:". Brackets such as "[Fwd: …]" are older Thunderbird/Netscape habits.
_WORDS = _alternation(FORWARD_PREFIXES + REPLY_PREFIXES)
_PREFIX = re.compile(
    rf"^\s*\[?\s*(?P<word>{_WORDS})\.?\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_FORWARD = frozenset(w.casefold() for w in FORWARD_PREFIXES)


class Kind(Enum):
    FORWARD = "forward"
    REPLY = "reply"
    PLAIN = "plain"


def classify(subject: str | None) -> Kind | None:
    """What the first prefix of ``subject`` says; None when there is no subject at all."""
    if subject is None:
        return None
    match = _PREFIX.match(subject[:_MAX_SUBJECT])
    if match is None:
        return Kind.PLAIN
    return Kind.FORWARD if match.group("word").casefold() in _FORWARD else Kind.REPLY


def strip_forward_prefixes(subject: str) -> str:
    """Remove every leading forward prefix ("Fwd: FW: Subject" → "Subject"); replies are kept."""
    text = subject[:_MAX_SUBJECT]
    for _ in range(20):  # bounded: a hostile subject cannot make this loop long
        match = _PREFIX.match(text)
        if match is None or match.group("word").casefold() not in _FORWARD:
            break
        text = text[match.end() :]
        text = text[1:] if text.startswith("]") else text
    return text.strip()
