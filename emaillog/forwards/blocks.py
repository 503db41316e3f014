"""Reading a forwarded block once its marker is found: header fields, then the original body."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from emaillog.addresses import Address
from emaillog.forwards.dates import parse_date
from emaillog.forwards.labels import languages_of, read_label, split_glued
from emaillog.forwards.markers import WROTE_LEAD_WORDS, WROTE_WORDS
from emaillog.forwards.people import parse_people

_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_ONE_LEVEL = re.compile(r"^[ \t]?>[ \t]?")
_MAX_BLANKS = 3  # blank lines allowed between a marker and its first header line
_MAX_HEADER_LINES = 40
_SENDER_IN_LINE = re.compile(r"(?P<name>[^<>()]*?)\s*[<(]\s*<?(?P<address>[^<>()\s]+@[^<>()\s]+?)>?\s*[>)]")
_QUOTED_NAME = re.compile(r"[\"“„«']\s*(?P<name>[^\"“”„«»']{1,200}?)\s*[\"”»']\s*$")
_NUMERIC_WHEN = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4},?\s+\d{1,2}[:.]\d{2}(?:\s*[AaPp]\.?[Mm]\.?)?")


@dataclass(frozen=True, slots=True)
class Block:
    sender: Address | None
    sender_name: str | None
    to: tuple[Address, ...]
    to_names: tuple[str, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    date_text: str | None
    subject: str | None
    body: str


@dataclass(slots=True)
class _Fields:
    values: dict[str, str]
    labels: list[str]
    end: int  # first line after the header block


def read_block(lines: list[str], first: int, glued: str) -> Block | None:
    """Read the header block starting at ``lines[first]`` (or written on one line: ``glued``)."""
    if glued:
        fields = _fields(split_glued(glued), 0)
        body_start = first
    else:
        first = _skip_blank(lines, first)
        fields = _fields(lines, first)
        body_start = fields.end
    if "from" not in fields.values or len(fields.values) < 2:
        return None
    quoted = not glued and bool(_QUOTE.match(lines[first]))
    return _block(fields, body_text(lines[body_start:], quoted))


def _skip_blank(lines: list[str], index: int) -> int:
    for _ in range(_MAX_BLANKS):
        if index < len(lines) and not _unquote(lines[index]):
            index += 1
    return index


def _fields(lines: list[str], first: int) -> _Fields:
    fields = _Fields({}, [], first)
    last: str | None = None
    for index in range(first, min(len(lines), first + _MAX_HEADER_LINES)):
        line = _unquote(lines[index])
        label = read_label(line) if line else None
        if label is not None:
            fields.values.setdefault(label.field, label.value)
            fields.labels.append(label.label)
            last = label.field
        elif line and last in ("to", "cc") and _continues(fields.values[last], line):
            fields.values[last] += " " + line
        else:
            break
        fields.end = index + 1
    return fields


def _continues(value: str, line: str) -> bool:
    # A long recipient list wraps onto the next line; a body line does not end a list with ",".
    return value.rstrip().endswith((",", ";")) or ("@" in line and read_label(line) is None)


def _block(fields: _Fields, body: str) -> Block:
    values = fields.values
    senders, sender_names = parse_people(values["from"])
    to, to_names = parse_people(values.get("to", ""))
    cc, _ = parse_people(values.get("cc", ""))
    date_text = values.get("date") or None
    sender = senders[0] if senders else None
    return Block(
        sender=sender,
        sender_name=sender.name if sender else (sender_names[0] if sender_names else None),
        to=to,
        to_names=to_names,
        cc=cc,
        date=parse_date(date_text, languages_of(fields.labels)) if date_text else None,
        date_text=date_text,
        subject=values.get("subject") or None,
        body=body,
    )


def read_wrote_line(lines: list[str], index: int) -> Block | None:
    """Read Outlook for Mac's "On 28/10/2021 12:46, "John" <j@x> wrote:" line and what follows."""
    line = _unquote(lines[index])
    match = _SENDER_IN_LINE.search(line)
    if match is None:
        return None
    senders, _ = parse_people(f"<{match.group('address')}>")
    name = _wrote_name(match.group("name"))
    sender = Address(name, senders[0].address) if senders and name else (senders[0] if senders else None)
    rest = match.group("name") + " " + line[match.end() :]
    when = _NUMERIC_WHEN.search(rest)
    date_text = when.group(0) if when else _strip_words(rest)
    return Block(
        sender,
        name,
        (),
        (),
        (),
        parse_date(date_text),
        date_text or None,
        None,
        body_text(lines[index + 1 :], False),
    )


def _wrote_name(before: str) -> str | None:
    quoted = _QUOTED_NAME.search(before)
    if quoted:
        return quoted.group("name").strip() or None
    # Unquoted: the name follows the date, a comma or a lead word ("heeft", "użytkownik").
    name = re.split(r"[\d,:]", before)[-1].strip()
    for word in sorted(WROTE_LEAD_WORDS, key=len, reverse=True):
        if name.casefold().startswith(word + " "):
            name = name[len(word) :].strip()
    return name or None


def _strip_words(text: str) -> str:
    for word in WROTE_WORDS:
        text = re.sub(re.escape(word) + r"\s*[:：]?\s*$", "", text, flags=re.IGNORECASE)
    return text.strip(" ,:")


def body_text(lines: list[str], quoted: bool) -> str:
    """The original body: one quote level removed when it is quoted, common indent removed."""
    lines = lines[:]
    filled = [line for line in lines if line.strip()]
    if quoted or (filled and sum(1 for line in filled if line.lstrip().startswith(">")) * 2 > len(filled)):
        lines = [_ONE_LEVEL.sub("", line) for line in lines]
    lines = [line.rstrip() for line in lines]
    indent = min((len(line) - len(line.lstrip(" ")) for line in lines if line), default=0)
    return "\n".join(line[indent:] for line in lines).strip()


def _unquote(line: str) -> str:
    return _QUOTE.sub("", line).strip()
