"""Finding the top-most forwarded-message block in a plain-text body and reading it.

A block starts with a marker: a dashed phrase ("---------- Forwarded message ---------"), an intro
line ("Begin forwarded message:"), Outlook's underscore rule or bare header block, or Outlook for
Mac's reply-style line ("On …, John <j@x> wrote:"). The last three also open ordinary replies, so
they count only when the forward's own subject does not say "reply" (and the reply-style line only
when it says "forward").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emaillog.forwards.blocks import Block, read_block, read_wrote_line
from emaillog.forwards.labels import read_label
from emaillog.forwards.markers import DASHED_PHRASES, INTRO_LINES, ORIGINAL_MESSAGE_PHRASES, WROTE_WORDS
from emaillog.forwards.model import ForwardedMessage
from emaillog.forwards.subjects import Kind, classify, strip_forward_prefixes

MAX_TEXT = 256 * 1024  # only the start of a huge body is searched: the header block is near the top
_MAX_LINES = 5000
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_DASHED = re.compile(r"^-{2,}[ \t]*(?P<phrase>[^\n]{1,120}?)[ \t]*-{2,}[ \t]*(?P<rest>.*)$")
_DASHED_TAIL = re.compile(r"^[^:：]{0,80}-{2,}\s*$")
_UNDERSCORES = re.compile(r"^_{10,}\s*$")
_INVISIBLE = re.compile(r"[\ufeff\u200b\u200c\u200d\u2060]")
_INTRO = frozenset(phrase.casefold() for phrase in INTRO_LINES)
_ORIGINAL = tuple(phrase.casefold() for phrase in ORIGINAL_MESSAGE_PHRASES)
_WROTE = re.compile(
    r"(?<!\w)(?:" + "|".join(re.escape(w) for w in sorted(WROTE_WORDS, key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Start:
    index: int  # the marker's line
    kind: str  # "dashed", "intro", "underscores", "headers" or "wrote"
    glued: str  # Yahoo: the header block written on the marker's own line
    client: str | None
    original: bool = False  # a dashed "original message" phrase, written above replies too


def parse_inline(
    text: str, subject: str | None = None, *, reply_quotes: bool = True
) -> ForwardedMessage | None:
    """Find the top-most forwarded-message block in ``text``; None when it is not a forward.

    With ``reply_quotes`` false, an "original message" separator in a message whose subject says
    reply is the quote of a reply (Outlook's "-----Original Message-----", Samsung Mail's), not a
    forward: route detection must not take a BCC'd reply for a forwarded one (SPEC §3).
    """
    lines = prepare(text)
    kind = classify(subject)
    for index in range(min(len(lines), _MAX_LINES)):
        start = _marker(lines, index, kind)
        if start is not None and not reply_quotes and kind is Kind.REPLY and start.original:
            return None
        if start is None:
            continue
        block = _read(lines, start)
        if block is not None:
            return _message(lines, start, block, subject)
    return None


def prepare(text: str) -> list[str]:
    """Lines of ``text`` without invisible characters, with non-breaking spaces made plain."""
    text = _INVISIBLE.sub("", text[:MAX_TEXT]).replace("\xa0", " ")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def unquote(line: str) -> str:
    return _QUOTE.sub("", line).strip()


def _marker(lines: list[str], index: int, kind: Kind | None) -> _Start | None:
    line = unquote(lines[index])
    if not line:
        return None
    strong = _dashed(line, index) or _intro(line, index)
    if strong is not None:
        return strong
    if kind is Kind.REPLY:
        return None
    if _UNDERSCORES.match(line):
        return _Start(index, "underscores", "", "outlook")
    if kind is Kind.FORWARD and "@" in line and _WROTE.search(line):
        return _Start(index, "wrote", "", "outlook-mac")
    label = read_label(line) if ":" in line or "：" in line else None
    return _Start(index, "headers", "", "outlook") if label is not None and label.field == "from" else None


def _dashed(line: str, index: int) -> _Start | None:
    match = _DASHED.match(line)
    if match is None:
        return None
    phrase = match.group("phrase").casefold()
    if not any(known in phrase for known in DASHED_PHRASES):
        return None
    rest = match.group("rest")
    rest = "" if _DASHED_TAIL.match(rest) else rest
    original = any(known in phrase for known in _ORIGINAL)
    return _Start(index, "dashed", rest, _dashed_client(line, phrase, rest), original)


def _dashed_client(line: str, phrase: str, glued: str) -> str | None:
    # The number of dashes tells the clients apart as well as the words do.
    original = "original message" in phrase
    if glued:
        return "yahoo"
    if re.match(r"-----[^\s-]", line):
        return "outlook"
    if line.startswith("-------- "):
        return "samsung-mail" if original else "thunderbird"
    if line.startswith("---------- "):
        return "ionos" if original else "gmail"
    return "windows-live-mail" if line.startswith("----- ") else None


def _intro(line: str, index: int) -> _Start | None:
    if not line.endswith((":", "：")):
        return None
    phrase = line.rstrip(" :：").casefold()
    if phrase not in _INTRO:
        return None
    return _Start(index, "intro", "", "mailmate" if phrase == "forwarded message" else "apple-mail")


def _read(lines: list[str], start: _Start) -> Block | None:
    if start.kind == "wrote":
        return read_wrote_line(lines, start.index)
    first = start.index if start.kind == "headers" else start.index + 1
    block = read_block(lines, first, start.glued)
    # Outlook's rule and bare "From:" lines also occur in ordinary text; without a sender address
    # they are not taken for a forward.
    if block is not None and block.sender is None and start.kind in ("headers", "underscores"):
        return None
    return block


def _message(lines: list[str], start: _Start, block: Block, subject: str | None) -> ForwardedMessage:
    note = "\n".join(lines[: start.index]).strip() or None
    own_subject = block.subject
    if own_subject is None and subject is not None:
        own_subject = strip_forward_prefixes(subject) or None
    return ForwardedMessage(
        sender=block.sender,
        to=block.to,
        cc=block.cc,
        date=block.date,
        date_text=block.date_text,
        subject=own_subject,
        body=block.body,
        html=None,
        note=note,
        message_id=None,
        in_reply_to=None,
        references=(),
        source="inline-text",
        client_hint=start.client,
        sender_name=block.sender_name,
        to_names=block.to_names,
    )
