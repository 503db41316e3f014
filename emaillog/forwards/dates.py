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
    if _rfc_date(text) is not None:
        try:
            return parsedate_to_datetime(text).tzinfo is not None  # "-0000" is "zone unknown"
        except (TypeError, ValueError, IndexError):
            return False
    return _take_zone(text.lower().replace("\xa0", " "))[0] is not None


def _rfc_date(text: str) -> datetime | None:
    # RFC 5322 dates ("Wed, 3 Nov 2021 15:51:30 +0100") come from Thunderbird and MailMate.
    if not re.match(r"^(?:[A-Za-z]{3},\s*)?\d{1,2} [A-Za-z]{3} \d{4} \d{1,2}:\d{2}", text):
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


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
