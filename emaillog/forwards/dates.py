"""Dates as forward headers write them, in any language, turned into timezone-aware datetimes.

A fast path reads the common shapes (a month name from ``calendar.py`` or digits, a time, an optional
zone) with a few bounded regexes; ``dateparser`` is the slow fallback for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from emaillog.forwards.calendar import (
    AMBIGUOUS_MONTHS,
    DEFAULT_LANGUAGE_FOR_AMBIGUOUS,
    LANGUAGE_CUES,
    MONTHS,
    TIMEZONES,
)

_MAX_DATE = 200  # a written date is short; anything longer is cut before any regex runs

_OFFSET = re.compile(r"(?:\b(?:gmt|utc)\s*)?(?<![\d:])([+\-−])(\d{1,2})(?::?(\d{2}))?(?!\d)")
# ISO 8601 after a clock: seconds' fraction and zone ("15:51:30.123+01:00", "15:51Z").
_ISO_ZONE = re.compile(
    r"(?<=\d\d:\d\d)(?P<seconds>:\d\d)?(?P<fraction>[.,]\d{1,9})?"
    r"(?:(?P<sign>[+\-])(?P<hours>\d\d):?(?P<minutes>\d\d)|(?P<z>z))?(?![^\W\d_])"
)
# "GMT+0100", "UTC+01:00" in an RFC 5322 shape: parsedate reads the zone name and drops the offset.
_NAMED_OFFSET = re.compile(r"(?i)\b(?:gmt|utc)\s*([+\-])(\d\d):?(\d\d)\b")
_ZONE_WORDS = "|".join(sorted(TIMEZONES, key=len, reverse=True))
_ZONE_NAME = re.compile(rf"(?<![^\W\d_])({_ZONE_WORDS})(?![^\W\d_])")
_TIME = re.compile(
    r"(?<![\d./:])(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?![\d/]|[.:]\d)\s*(?:uhr|h)?\s*"
    r"(?P<ampm>[ap])?(?(ampm)\.?\s?m\b\.?|)"
)
_CJK_DATE = re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_NUMERIC_DATE = re.compile(r"(?<![\d.])(\d{1,2})\s*([./-])\s*(\d{1,2})\s*[./-]\s*(\d{4}|\d{2})(?!\d)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_DAY = re.compile(r"(?<!\d)(\d{1,2})(?!\d)")
_WORD = re.compile(r"[^\W\d_]+")
_PM_WORDS = ("午後", "오후", "pm")
_AM_WORDS = ("午前", "오전")


@dataclass(frozen=True, slots=True)
class _Clock:
    hour: int
    minute: int
    second: int
    twelve_hour: bool  # written with AM/PM, a hint of American day order


def parse_date(text: str, languages: frozenset[str] = frozenset()) -> datetime | None:
    """Turn a written date into a tz-aware datetime, or None. ``languages`` hints ambiguous months.

    When no zone is written, UTC is assumed: the wall-clock digits are those of the forwarder's
    client, whose zone we cannot know from the text, and a fixed, documented choice keeps the
    value stable and its error bounded (a few hours) instead of depending on the server's zone.
    """
    text = text[:_MAX_DATE].strip()
    if not text:
        return None
    return _rfc_date(text) or _fast_date(text, languages) or _slow_date(text)


def zone_written(text: str | None) -> bool:
    """Whether a written date names its zone; when it does not, ``parse_date`` assumed UTC.

    The rules then read the digits in the zone of the forward's own Date header: the forwarder's
    client wrote both, so that zone is the best knowledge there is (off by at most a DST change).
    """
    if not text:
        return False
    text = text[:_MAX_DATE].strip()
    rfc = _rfc(text)
    if rfc is not None:
        return rfc.tzinfo is not None  # "-0000" is "zone unknown"
    return _take_zone(text.lower().replace("\xa0", " "))[0] is not None


def _rfc_date(text: str) -> datetime | None:
    value = _rfc(text)
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rfc(text: str) -> datetime | None:
    """An RFC 5322 date ("Wed, 3 Nov 2021 15:51:30 +0100": Thunderbird, MailMate) as written:
    naive when it names no zone; None for any other shape."""
    if not re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}", text):
        return None
    try:
        return parsedate_to_datetime(_NAMED_OFFSET.sub(r" \1\2\3", text))
    except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: an offset of 20 digits
        return None


def _fast_date(text: str, languages: frozenset[str]) -> datetime | None:
    lowered = text.lower().replace("\xa0", " ")
    zone, lowered = _take_zone(lowered)
    clock, lowered = _take_clock(lowered)
    if clock is None:
        return None
    ymd = _numeric_ymd(lowered, clock) or _named_ymd(lowered, languages)
    if ymd is None:
        return None
    try:
        return datetime(*ymd, clock.hour, clock.minute, clock.second, tzinfo=zone or UTC)
    except ValueError:
        return None


def _take_zone(text: str) -> tuple[timezone | None, str]:
    zone, text = _iso_zone(text)
    if zone is not None:
        return zone, text
    match = _OFFSET.search(text)
    if match and (match.group(3) or "gmt" in match.group(0) or "utc" in match.group(0)):
        sign = -1 if match.group(1) in "-−" else 1
        minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
        if minutes <= 14 * 60:
            return timezone(timedelta(minutes=sign * minutes)), _cut(text, match)
    named = _ZONE_NAME.search(text)
    if named:
        return timezone(timedelta(minutes=TIMEZONES[named.group(1)])), _cut(text, named)
    return None, text


def _iso_zone(text: str) -> tuple[timezone | None, str]:
    """An ISO 8601 zone right after the clock, cut out with the seconds' fraction (left in place,
    "30.123" was read as a time of its own); the text unchanged when there is none."""
    for found in _ISO_ZONE.finditer(text):
        seconds, fraction, sign, z = found.group("seconds", "fraction", "sign", "z")
        # An offset after a bare "hh:mm" only in the ISO shape ("…T15:51+01:00"): "10:30-11:30" is
        # a range of times, not a zone.
        iso_clock = seconds or fraction or text[found.start() - 6 : found.start() - 5] == "t"
        if not (fraction or z or (sign and iso_clock)):
            continue
        rest = text[: found.start()] + (seconds or "") + " " + text[found.end() :]
        if z:
            return UTC, rest
        hours, minutes = int(found.group("hours") or 0), int(found.group("minutes") or 0)
        if sign is None or hours > 14 or minutes > 59:  # a fraction alone, or no real offset
            return None, rest
        return timezone((-1 if sign == "-" else 1) * timedelta(hours=hours, minutes=minutes)), rest
    return None, text


def _take_clock(text: str) -> tuple[_Clock | None, str]:
    for match in _TIME.finditer(text):
        hour, minute = int(match.group(1)), int(match.group(2))
        before = text[max(0, match.start() - 4) : match.start()]
        twelve = match.group("ampm") is not None or any(w in before for w in _PM_WORDS + _AM_WORDS)
        hour = _twelve_hour(hour, match.group("ampm"), before)
        if hour < 24 and minute < 60:
            return _Clock(hour, minute, int(match.group(3) or 0), twelve), _cut(text, match)
    return None, text


def _twelve_hour(hour: int, ampm: str | None, before: str) -> int:
    if ampm == "p" or any(word in before for word in _PM_WORDS):
        return hour + 12 if hour < 12 else hour
    if ampm == "a" or any(word in before for word in _AM_WORDS):
        return 0 if hour == 12 else hour
    return hour


def _numeric_ymd(text: str, clock: _Clock) -> tuple[int, int, int] | None:
    for pattern in (_CJK_DATE, _ISO_DATE):
        match = pattern.search(text)
        if match:
            return int(match.group(1)), int(match.group(2)), int(match.group(3))
    match = _NUMERIC_DATE.search(text)
    if match is None:
        return None
    first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    year += 2000 if year < 100 else 0
    # Day first everywhere but the USA; a 12-hour clock with slashes is the American shape
    # (IONOS writes "02/10/2023 4:52 PM EST" for 10 February), unless the digits forbid it.
    us = match.group(2) == "/" and clock.twelve_hour
    month, day = (first, second) if (us or second > 12) and first <= 12 else (second, first)
    return year, month, day


def _named_ymd(text: str, languages: frozenset[str]) -> tuple[int, int, int] | None:
    year = _YEAR.search(text)
    if year is None:
        return None
    rest = text[: year.start()] + " " + text[year.end() :]
    month = _month(rest, year.start(), languages)
    day = next((int(m.group(1)) for m in _DAY.finditer(rest) if 1 <= int(m.group(1)) <= 31), None)
    if month is None or day is None:
        return None
    return int(year.group(1)), month, day


def _month(text: str, year_at: int, languages: frozenset[str]) -> int | None:
    # Weekday abbreviations can look like months (Spanish "mar" for martes): when several words
    # could be a month, the one nearest the year is the month.
    words = [w for w in _WORD.finditer(text) if w.group(0) in MONTHS or w.group(0) in AMBIGUOUS_MONTHS]
    if not words:
        return None
    best = min(words, key=lambda w: abs(w.start() - year_at))
    word = best.group(0)
    if word in MONTHS:
        return MONTHS[word]
    return _ambiguous(word, languages | _cues(text))


def _ambiguous(word: str, languages: frozenset[str]) -> int:
    meanings = AMBIGUOUS_MONTHS[word]
    for language, month in meanings.items():
        if language in languages:
            return month
    return meanings[DEFAULT_LANGUAGE_FOR_AMBIGUOUS]


def _cues(text: str) -> frozenset[str]:
    words = set(_WORD.findall(text))
    return frozenset(lang for lang, cues in LANGUAGE_CUES.items() if words & cues)


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _slow_date(text: str) -> datetime | None:
    # dateparser is imported here, not at the top: it costs a second to load and most dates never
    # need it. Any failure inside it is a date we cannot read, not an error of ours.
    try:
        import dateparser

        value = dateparser.parse(text, settings={"RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC"})
    except Exception:  # noqa: BLE001 - a third-party parser on hostile text may raise anything
        return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
