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
    quoted text (rewrapped lines, different spacing and punctuation marks of quoting) still matches;
    and not what one client writes into its text and another leaves out (``_CLIENT_MADE``).
    """
    return _digest(sender, date, subject, _letters_and_digits(body))


def fingerprint_with_links(sender: Address | None, date: datetime | None, subject: str, body: str) -> str:
    """The fingerprint as versions before schema v10 made it: link targets and picture placeholders
    counted as the email's letters. The upgrade to schema v10 finds the stored ones by it."""
    return _digest(sender, date, subject, _letters_and_digits(body, client_made=True))


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


def _letters_and_digits(
    body: str, wanted: int = WANTED, window: int = WINDOW, client_made: bool = False
) -> str:
    """The first ``wanted`` letters and digits of the first ``window`` characters, lower-cased,
    without what mail clients make (``_own_text``) unless ``client_made``.

    Tried first on a shorter prefix that usually holds enough (the regex over 8,000 characters was
    a tenth of the time per message); the prefix is cut at whitespace, where lower-casing (final
    sigma) and the removal of non-word runs give the same result as on the whole window.
    """
    cut = body.find(" ", wanted + wanted // 3, window)
    if cut > 0:
        found = _keep_letters_and_digits(_own_text(body[:cut].lower(), client_made, prefix=True))
        if len(found) >= wanted:
            return found[:wanted]
    return _keep_letters_and_digits(_own_text(body[:window].lower(), client_made))[:wanted]


# What a client writes into its text of an email that another client's text of it, or emaillog's
# text of its HTML (inscriptis shows neither link targets nor pictures), lacks (SPEC §9):
# - link targets: Gmail's and Apple Mail's "sign here <https://…>", Outlook's "sign here<https://…>"
#   and "rita@acme.com<mailto:rita@acme.com>", where an HTML-only copy reads "sign here". A URL
#   goes wherever it stands (bare, <…>, […], (…)): a link whose text is its URL is shown by one
#   client once, by another twice ("https://x<https://x>").
# - pictures: Gmail's "[image: logo]" (the label is localised), Outlook's "[cid:image001.png@01D…]"
#   and its "[alt text]". Any bracketed run of up to 300 characters goes, so bracketed words of
#   the email's own go too, from every copy alike.
# A URL is found by its ":" (a literal first character lets the regex engine skip to the next
# one; a first set such as [hfm] stops at most letters: 10 times slower), then its scheme before.
_URL_REST = re.compile(r":(?://|(?<=mailto:))[^\s<>\[\]\"]*")
_BRACKETED = re.compile(r"\[[^\[\]]{0,300}\]")
_SCHEME_MAX = 10  # "mailto", "https", "webcal": letters before "://" taken as the URL's scheme


def _own_text(lowered: str, client_made: bool, prefix: bool = False) -> str:
    """``lowered`` without link targets and picture placeholders (unless ``client_made``).

    Of a ``prefix`` cut at whitespace, a last "[" with no "]" after it is left out as well: it may
    close beyond the cut. A URL holds no whitespace, so the cut never splits one; links go first,
    so removing a placeholder never joins letters to a scheme.
    """
    if client_made:
        return lowered
    # "[" and ":" are found at memchr speed; the longer markers are looked for only after a ":".
    if ":" in lowered and ("://" in lowered or "mailto:" in lowered):
        lowered = _without_urls(lowered)
    if "[" not in lowered:
        return lowered
    last = lowered.rfind("[")
    if prefix and lowered.find("]", last) < 0:
        lowered = lowered[:last]
    return _BRACKETED.sub("", lowered)


def _without_urls(text: str) -> str:
    pieces, kept = [], 0
    for found in _URL_REST.finditer(text):
        start = found.start()
        while start > kept and found.start() - start < _SCHEME_MAX and text[start - 1].isalpha():
            start -= 1
        pieces.append(text[kept:start])
        kept = found.end()
    pieces.append(text[kept:])
    return "".join(pieces)


# In ASCII, ``[\W_]`` is every byte but a-z, A-Z and 0-9: bytes.translate deletes them at C speed.
_ASCII_NOT_WORD = bytes(b for b in range(128) if not chr(b).isalnum())


def _keep_letters_and_digits(text: str) -> str:
    if text.isascii():
        return text.encode("ascii").translate(None, _ASCII_NOT_WORD).decode("ascii")
    return _NOT_WORD.sub("", text)
