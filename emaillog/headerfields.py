"""The top-level header fields of a message, read into values: Message-IDs, Date, Return-Path, text.

``Fields`` holds every field as it arrived, decoded from its raw bytes once (``mimeheader.py``
reads the section); the functions turn one value into what the rules store. They are one reading
for every path — the parse of a BCC'd message and of a Malformed one's header (``message.py``),
an attached original (``forwards/attached.py``), the file names of a large message's
BODYSTRUCTURE (``structure.py``) — so that the same header gives the same value whichever way the
message came. Everything read here is a stranger's: a value that does not parse is None or kept
as it is, never an exception.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parsedate_to_datetime

from .mimeheader import unescaped

MSGID = re.compile(r"<[^<>\s]{1,900}>")
_BARE_MSGID = re.compile(r"[^<>\s@()]{1,450}@[^<>\s@()]{1,450}")

# Header values are decoded from at most this many characters. The stdlib's encoded-word decoders
# are quadratic in the number of words (decode_header pops from the front of a list, the
# policy.default parser re-splits the rest of the value for each word): a 1 MB Subject of encoded
# words, within the header limit, took over 40 CPU seconds. Nothing the rules read is longer.
MAX_DECODED_HEADER = 32 * 1024


class Fields:
    """Top-level header values by lower-case name, decoded from the raw bytes once."""

    def __init__(self, header: Message) -> None:
        self.items = tuple((str(k), header_text(v)) for k, v in header.raw_items())
        self._by_name: dict[str, list[str]] = {}
        for name, value in self.items:
            self._by_name.setdefault(name.lower(), []).append(value)

    def all(self, name: str) -> list[str]:
        return self._by_name.get(name, [])

    def first(self, name: str) -> str | None:
        values = self._by_name.get(name)
        return values[0] if values else None

    def decoded(self, name: str) -> str | None:
        """A text header with its RFC 2047 encoded words decoded (Subject, Auto-Submitted …)."""
        return decode_words(self.first(name))


def header_text(value: object) -> str:
    """A raw header value as text; 8-bit bytes are read as UTF-8 (RFC 6532), else as Windows-1252."""
    return unescaped(str(value))


def decode_words(value: str | None) -> str | None:
    if value is None or "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value[:MAX_DECODED_HEADER])))
    except (ValueError, LookupError, UnicodeError, AssertionError, HeaderParseError):
        # HeaderParseError: an encoded word whose base64 does not decode (a stranger's broken Subject).
        return value


def first_msgid(value: str | None) -> str | None:
    """The first <id> of a Message-ID / In-Reply-To value; an id written without its angle brackets
    (some mailers and gateways) is taken whole, in brackets. One reading for every path, so that an
    email BCC'd and later forwarded as an attachment has the same identity (SPEC §9)."""
    found = MSGID.search(value or "")
    if found:
        return found.group(0)
    bare = (value or "").strip()
    return f"<{bare}>" if _BARE_MSGID.fullmatch(bare) else None


def header_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # A date without a zone ("-0000" or none) is taken as UTC so every stored date is comparable.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# RFC 5322 §3.6.7: path = angle-addr / ([CFWS] "<" [CFWS] ">" [CFWS]); comments may surround it.
_PATH_COMMENT = re.compile(r"\([^()]*\)")
_ANGLE_PATH = re.compile(r"<([^<>]*)>")


def return_path_of(value: str | None) -> str | None:
    """The envelope sender inside the Return-Path's angle brackets; "" for the null path ``<>``."""
    if value is None:
        return None
    text = _PATH_COMMENT.sub(" ", value)
    found = _ANGLE_PATH.search(text)
    return (found.group(1) if found else text).strip()


# A Content-ID longer than this is not kept. Real ones are short (Outlook's "image001.png@01DA2B3C.
# 4D5E6F70" is 30 characters); a cut-short one could equal another part's and show the wrong picture.
MAX_CONTENT_ID = 250
# What a kept Content-ID may hold: no blanks (a folded or CR/LF-split value is not one id) and no
# angle brackets; ``content_id`` also refuses controls and invisible format characters (bidi).
_CONTENT_ID = re.compile(rf"[^\s<>]{{1,{MAX_CONTENT_ID}}}")


def content_id(value: object) -> str | None:
    """A part's Content-ID as a ``cid:`` URL names it (RFC 2392): the id without its angle brackets
    and blanks; None when there is none or it is not one id within bounds.

    ``value`` is the first Content-ID field (the one IMAP servers put in BODYSTRUCTURE, so that a
    message read whole and one read by sections store the same id). The id is a stranger's text
    that a CRM matches against ``cid:`` URLs: it is kept whole or not at all, never repaired.
    """
    if value is None:
        return None
    text = header_text(value)
    if len(text) > 4 * MAX_CONTENT_ID:  # nothing is searched through a huge value
        return None
    text = text.strip()
    if text.startswith("<"):
        close = text.find(">")
        rest = text[close + 1 :].strip() if close > 0 else ""
        # Only a comment may follow the id (RFC 5322 CFWS): "<a@b> (logo)".
        if close < 0 or (rest and not (rest.startswith("(") and rest.endswith(")"))):
            return None
        text = text[1:close].strip()
    return text if _CONTENT_ID.fullmatch(text) and text.isprintable() else None
