"""Recognising header-label lines ("From:", "Von:", "Kimden:", "件名：") of a forwarded block."""

from __future__ import annotations

import re
from dataclasses import dataclass

from emaillog.forwards.labelwords import COLONLESS_LABELS, LABEL_LANGUAGES, LABELS

_FIELD_BY_LABEL: dict[str, str] = {label: field for field, labels in LABELS.items() for label in labels}


def _alternation(words: list[str]) -> str:
    # Longest first: "data" must win over "da", "отправлено" over "от".
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_ALL = _alternation(list(_FIELD_BY_LABEL))
# Outlook's HTML turned into text writes "*From:*"; Thunderbird puts a tab after the colon.
LINE = re.compile(
    rf"^\s*\*{{0,2}}\s*(?P<label>{_ALL})\s*\*{{0,2}}\s*[:：]\s*\*{{0,2}}[ \t]*(?P<value>.*)$", re.I
)
# Inside Yahoo's one-line block labels follow the previous value with no space at all.
GLUED = re.compile(rf"(?P<label>{_ALL})\s*[:：]|(?P<bare>{_alternation(list(COLONLESS_LABELS))})\s", re.I)


@dataclass(frozen=True, slots=True)
class LabelLine:
    field: str
    label: str
    value: str


def read_label(line: str) -> LabelLine | None:
    """The label, its field and its value when ``line`` is a header-label line."""
    match = LINE.match(line)
    if match is None:
        return None
    label = match.group("label").casefold()
    return LabelLine(_FIELD_BY_LABEL[label], label, match.group("value").strip())


def split_glued(text: str) -> list[str]:
    """Cut Yahoo's one-line header block into one line per label."""
    cuts = [m.start() for m in GLUED.finditer(text)]
    if not cuts:
        return []
    pieces = [text[a:b] for a, b in zip(cuts, [*cuts[1:], len(text)], strict=True)]
    return [_with_colon(piece.strip()) for piece in pieces]


def _with_colon(piece: str) -> str:
    word, _, rest = piece.partition(" ")
    if word.casefold() in COLONLESS_LABELS and not word.endswith(":"):
        return f"{word}: {rest}"
    return piece


def languages_of(labels: list[str]) -> frozenset[str]:
    """Languages the labels give away (used only to settle ambiguous month names)."""
    return frozenset(LABEL_LANGUAGES[label] for label in labels if label in LABEL_LANGUAGES)
