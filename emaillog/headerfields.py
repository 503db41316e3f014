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

import binascii
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from .mimeheader import unescaped
from .mimepart import decode_text

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


def subject_text(value: str | None) -> str:
    """A Subject as mail clients show it, for every path (a BCC'd message, an attached original):
    unfolded, its encoded words decoded, a tab read as a space and other control characters taken
    out, the ends stripped. Its quotes are the writer's: read as a display name was ('"Quote"
    request' became 'Quote" request'), the same email BCC'd and forwarded had two subjects."""
    if not value:
        return ""
    text = decode_words(unfolded(value)) or ""
    return CONTROL.sub("", text.replace("\t", " ")).strip()


def unfolded(value: str) -> str:
    """RFC 5322 §2.2.3: a line break before a blank is folding, not part of the value."""
    return _FOLD.sub("", value)


_FOLD = re.compile(r"\r?\n(?=[ \t])")
# C0 and C1 control characters: never part of a header value as shown (addresses.py too).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def decode_words(value: str | None) -> str | None:
    """``value`` with its RFC 2047 encoded words decoded; never raises.

    Each word's text is read as a body part's is (``mimepart.decode_text``): the charset the mail
    clients read its label as, UTF-8 under a label that lies, a stray byte kept. Adjacent words of
    one charset are joined before decoding, so a character split across two words (as clients
    split long Subjects) is whole. The stdlib's make_header decoded each word strictly and gave
    back the whole value still encoded when one did not decode: a Subject in Korean Outlook's
    "ks_c_5601-1987" with a character outside EUC-KR, in "gb2312" with a GBK one, or with
    8-bit text beside an encoded word was stored as "=?ks_c_5601-1987?B?…?=".
    """
    if value is None or "=?" not in value:
        return value
    text = value[:MAX_DECODED_HEADER]
    out: list[str] = []
    run: list[tuple[str, bytearray]] = []  # the encoded words since the last plain text
    position = 0
    for word in _ENCODED_WORD.finditer(text):
        between = text[position : word.start()]
        # Blanks between two encoded words are not part of the text (RFC 2047 §6.2).
        if between and not (run and between.isspace()):
            out.extend(decode_text(bytes(data), charset) for charset, data in run)
            run.clear()
            out.append(between)
            position = word.start()
        charset = word.group(1).partition("*")[0].lower()  # RFC 2231 §5: "utf-8*de", a language
        data = _word_bytes(word.group(2), word.group(3))
        if data is None:  # kept as written, as plain text
            continue
        if run and run[-1][0] == charset:
            run[-1][1].extend(data)
        else:
            run.append((charset, bytearray(data)))
        position = word.end()
    out.extend(decode_text(bytes(data), charset) for charset, data in run)
    out.append(text[position:])
    return "".join(out)


# What the stdlib's decode_header accepts as a word: blanks inside its text (a broken Q word)
# included, a "?" not.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")


def _word_bytes(encoding: str, encoded: str) -> bytes | None:
    """An encoded word's bytes; junk degrades (a bad "=XX" kept as written, base64 padded). None
    when its base64 cannot be read (a lone sixth character): the word is then kept as written."""
    data = encoded.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    letters = bytes(c for c in data if c in _BASE64_LETTERS)
    if len(letters) % 4 == 1:
        return None
    return binascii.a2b_base64(letters + b"=" * (-len(letters) % 4))


_BASE64_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def parameter_text(value: object) -> str | None:
    """A MIME parameter (a file name) as the stdlib's ``get_param`` gives it, as text.

    RFC 2231's ``(charset, language, text)`` is read as an encoded word's text is (``decode_text``):
    the stdlib read its bytes strictly in the charset named and otherwise as us-ascii, so a name
    labelled iso-8859-1 but written in UTF-8 (or with no label) was stored as "GrÃ¼Ã_e.pdf", and
    one in "gb2312" holding a GBK character, or "utf-8" holding a Latin-1 byte, with a "�".
    Otherwise the value is header text, with the encoded words Outlook writes inside its quotes.
    """
    if isinstance(value, tuple):
        charset, _language, text = value
        try:
            data = str(text).encode("latin-1")  # the stdlib undoes the %XX escapes as Latin-1
        except UnicodeEncodeError:
            return str(text)  # text of a plain continuation beside encoded ones, read already
        return decode_text(data, charset or None)
    return decode_words(header_text(value)) if value else None


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
