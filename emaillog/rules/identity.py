"""SPEC §9: what makes two deliveries the same email."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from ..addresses import Address

_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_WS = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]+")
_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?|aw|wg|tr|rv|sv|vs|antw|i|r)\s*(?:\[\d+\])?\s*:\s*)+", re.I)


def identity(
    message_id: str | None, sender: Address | None, date: datetime | None, subject: str, body: str
) -> str:
    """The Message-ID when there is one, else a fingerprint of sender, date, subject and body."""
    if message_id and message_id.strip("<> \t\r\n"):
        found = _MSGID.search(message_id)
        return "mid:" + (found.group(1) if found else message_id.strip("<> \t\r\n"))
    return fingerprint(sender, date, subject, body)


def fingerprint(sender: Address | None, date: datetime | None, subject: str, body: str) -> str:
    """What an email is when its Message-ID is not known (an inline forward): sender, the minute it
    was sent, subject without reply/forward prefixes, and the start of the body's letters and digits.

    Only letters and digits count, so the same email read from a BCC'd copy and from a forward's
    quoted text (rewrapped lines, different spacing and punctuation marks of quoting) still matches.
    """
    return _digest(sender, date, subject, _letters_and_digits(body))


def whole_body_fingerprint(sender: Address | None, date: datetime | None, subject: str, body: str) -> str:
    """The fingerprint as versions before e559518 made it (schema v3 stored it): the first 2,000
    letters and digits of the whole body, not of its first WINDOW characters. The two differ only
    for a body longer than WINDOW; the upgrade to schema v9 finds the stored ones by it."""
    return _digest(sender, date, subject, _NOT_WORD.sub("", body.lower())[:WANTED])


def _digest(sender: Address | None, date: datetime | None, subject: str, letters: str) -> str:
    parts = [
        sender.key() if sender else "",
        date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if date else "",
        _WS.sub(" ", _PREFIX.sub("", subject)).strip().lower(),
        letters,
    ]
    return "fp:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# How many letters and digits of the body count, read from how many of its first characters.
WANTED, WINDOW = 2000, 8000


def _letters_and_digits(body: str, wanted: int = WANTED, window: int = WINDOW) -> str:
    """The first ``wanted`` letters and digits of the first ``window`` characters, lower-cased.

    Tried first on a shorter prefix that usually holds enough (the regex over 8,000 characters was
    a tenth of the time per message); the prefix is cut at whitespace, where lower-casing (final
    sigma) and the removal of non-word runs give the same result as on the whole window.
    """
    cut = body.find(" ", wanted + wanted // 3, window)
    if cut > 0:
        found = _keep_letters_and_digits(body[:cut].lower())
        if len(found) >= wanted:
            return found[:wanted]
    return _keep_letters_and_digits(body[:window].lower())[:wanted]


# In ASCII, ``[\W_]`` is every byte but a-z, A-Z and 0-9: bytes.translate deletes them at C speed.
_ASCII_NOT_WORD = bytes(b for b in range(128) if not chr(b).isalnum())


def _keep_letters_and_digits(text: str) -> str:
    if text.isascii():
        return text.encode("ascii").translate(None, _ASCII_NOT_WORD).decode("ascii")
    return _NOT_WORD.sub("", text)
