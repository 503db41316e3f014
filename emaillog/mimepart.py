"""A leaf of a walked message and reading its body: transfer encoding undone, text in its charset.

The walker (``mime.py``) finds where each leaf's body lies and leaves it encoded, in place in the
message; it is decoded here only when asked for (``Part.decoded``, ``Part.text``). Junk degrades,
never raises: base64 keeps what decodes, and text falls back from the declared charset to UTF-8,
then Windows-1252. ``decode_text`` is also how the body and file names inside a winmail.dat
(``tnef.py``) and the parts of a forward are read, so every path decodes text the same way.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import re
from dataclasses import dataclass
from email.message import Message

import pybase64


@dataclass(frozen=True, slots=True)
class Part:
    """A leaf: its header, its still-encoded body (``source[start:end]``), and where it sits."""

    header: Message
    source: bytes  # the whole message: the body is read from it in place, not copied out
    start: int
    end: int
    depth: int
    # Read once: reading a part's body, naming it and checking it for encryption each ask for it.
    content_type: str

    @property
    def body(self) -> memoryview:
        return memoryview(self.source)[self.start : self.end]

    @property
    def is_attachment(self) -> bool:
        disposition = str(self.header.get("content-disposition", "")).split(";", 1)[0].strip().lower()
        return disposition == "attachment"

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone; junk degrades, never raises."""
        encoding = transfer_encoding(self.header.get("content-transfer-encoding"))
        return transfer_decoded(self.source, encoding, self.start, self.end)

    def text(self) -> str:
        return decode_text(self.decoded(), self.header.get_content_charset())


def transfer_encoding(value: object) -> str:
    """A Content-Transfer-Encoding as mail clients read it: its first word, in lower case.

    Mailers write ``"base64"`` (quoted), ``base64 (encoded)`` (a comment), ``base64;`` or
    ``Base64``. Thunderbird reads the first word up to a blank, ";" or ","; mutt, whatever starts
    with "base64"; Dovecot skips comments. The stdlib compares the whole value, so each of these
    was read as no encoding: the text body was stored as its base64, the file as its encoding.
    Here comments are skipped, quotes are not part of the word, and the word ends where
    Thunderbird's does; "" when there is none (7bit, as RFC 2045 §6.1 defaults).
    """
    text, removed = str(value or "")[:_MOST_ENCODING_CHARS], 1
    while removed:  # innermost first: comments nest (RFC 5322 §3.2.2)
        text, removed = _COMMENT.subn(" ", text)
    word = _ENCODING_WORD.search(text)
    return word.group().lower() if word else ""


_COMMENT = re.compile(r"\([^()]*\)")
_ENCODING_WORD = re.compile(r'[^\s";,()]+')
# The longest name is "quoted-printable": a huge value is not searched through.
_MOST_ENCODING_CHARS = 256


def transfer_decoded(source: bytes, encoding: str, start: int = 0, end: int | None = None) -> bytes:
    """``source[start:end]`` with ``encoding`` (``transfer_encoding``'s) undone; junk degrades."""
    end = len(source) if end is None else end
    if encoding == "base64":
        return _base64(source, start, end)
    data = source[start:end]
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in UUENCODE:
        decoder = Uudecoder()
        return decoder.feed(data) + decoder.finish()
    return data


# Labels whose text is, in mail as on the web, nearly always written in Windows-1252: its curly
# quotes, dashes and euro sign sit where Latin-1 has invisible C1 controls (WHATWG Encoding).
_WINDOWS_1252 = frozenset(
    {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"}
)

# Labels that mail clients decode (by the WHATWG Encoding Standard, as Thunderbird does) with a
# larger table than Python's codec of that name, or that Python does not know. Korean Outlook writes
# "ks_c_5601-1987" over Windows-949, Chinese clients "gb2312" over GBK, Japanese "shift_jis" over
# Windows-31J: a character outside the strict table ("똠", "镕", "①") failed the whole part, which
# was then decoded with a replacement character for every such character.
_DECODER_FOR_LABEL = {
    **dict.fromkeys(
        (
            "euc-kr",
            "ks_c_5601-1987",
            "ks_c_5601-1989",
            "ksc5601",
            "ksc_5601",
            "korean",
            "cseuckr",
            "csksc56011987",
            "iso-ir-149",
            "windows-949",
        ),
        "cp949",
    ),
    **dict.fromkeys(
        (
            "gb2312",
            "gbk",
            "x-gbk",
            "chinese",
            "csgb2312",
            "csiso58gb231280",
            "gb_2312",
            "gb_2312-80",
            "iso-ir-58",
            "cp936",
            "ms936",
            "windows-936",
            "euc-cn",
        ),
        "gb18030",
    ),
    **dict.fromkeys(("big5", "cn-big5", "csbig5", "x-x-big5"), "big5hkscs"),
    **dict.fromkeys(
        ("shift_jis", "shift-jis", "sjis", "ms_kanji", "csshiftjis", "windows-31j", "x-sjis", "ms932"),
        "cp932",
    ),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp"), "iso2022_jp_ext"),  # with its half-width katakana
    **dict.fromkeys(("windows-874", "dos-874", "tis-620", "iso-8859-11", "iso8859-11"), "cp874"),
    **dict.fromkeys(("iso-8859-8-i", "csiso88598i", "logical"), "iso-8859-8"),
    **dict.fromkeys(("x-mac-roman", "csmacintosh"), "mac-roman"),
    **dict.fromkeys(("x-mac-cyrillic", "x-mac-ukrainian"), "mac-cyrillic"),
}
# Codecs whose text is all 7-bit bytes: that such a part is also valid UTF-8 says nothing.
_SEVEN_BIT = ("iso2022", "utf-7", "hz")


def decode_text(data: bytes, charset: str | None) -> str:
    """Text of a body part: its declared charset when the bytes are in it, else UTF-8 when they are
    (a part labelled us-ascii or unknown but written in UTF-8), else Windows-1252; never raises.

    A label is read as mail clients read it (``_DECODER_FOR_LABEL``); a part labelled UTF-8 keeps
    its valid characters and reads a stray byte as Windows-1252 (``_utf8``). A NUL is not text
    (mail clients show nothing for it): a body whose quoted-printable held "=00" made PostgreSQL
    refuse the whole batch, on every pass, and the message was never logged."""
    return _decoded(data, charset).replace("\x00", "")


def _decoded(data: bytes, charset: str | None) -> str:
    label = (charset or "").strip().strip('"').strip().lower()
    codec = None if label in _WINDOWS_1252 else _codec(label)
    if codec == "utf-8":
        return _utf8(data)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        if data.isascii() and codec.startswith(_SEVEN_BIT):
            # Escape sequences the codec does not know: the rest of the text still reads in it.
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if codec is not None:
        return data.decode(codec, errors="replace")
    return _cp1252(data)


def _codec(label: str) -> str | None:
    """The name of the codec that reads ``label``'s text, or None when there is none."""
    if not label:
        return None
    label = _DECODER_FOR_LABEL.get(label, label)
    # "cp-850", "ibm-437": a hyphen Python's names do not have.
    for name in (label, label.replace("-", "").replace("_", "")):
        with contextlib.suppress(LookupError):
            info = codecs.lookup(name)
            # Only text encodings: "base64", "rot13" and the like are not charsets.
            return info.name if getattr(info, "_is_text_encoding", True) else None
    return None


def _utf8(data: bytes) -> str:
    """``data`` as UTF-8, any byte that is not part of a UTF-8 character read as Windows-1252: a
    Latin-1 signature or a pasted line in a UTF-8 part keeps its "ü" instead of a "�"."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
    return _STRAY_BYTE.sub(lambda stray: _cp1252(stray.group().encode("utf-8", "surrogateescape")), text)


_STRAY_BYTE = re.compile("[\udc80-\udcff]+")


def _cp1252(data: bytes) -> str:
    """``data`` as Windows-1252; its five unassigned bytes as the C1 controls Latin-1 has there (as
    WHATWG reads them), not the whole text as Latin-1 with its curly quotes lost."""
    text = data.decode("cp1252", "surrogateescape")
    return _STRAY_BYTE.sub(
        lambda stray: stray.group().encode("utf-8", "surrogateescape").decode("latin-1"), text
    )


# The names mail clients give uuencode as a Content-Transfer-Encoding (Thunderbird decodes all four,
# as the stdlib's get_payload does "x-uuencode"): left as it came, the file stored was its encoding.
UUENCODE = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})


class Uudecoder:
    """Incremental uudecode, a whole line at a time: the lines between "begin" and "end" (all of
    them when there is no "begin" line); a line with junk after its data keeps its data."""

    def __init__(self) -> None:
        self.rest = b""
        self.begun = False
        self.ended = False

    def feed(self, data: bytes) -> bytes:
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return b"".join(self._line(line) for line in data[:cut].splitlines())

    def finish(self) -> bytes:
        rest, self.rest = self.rest, b""
        return self._line(rest)

    def _line(self, line: bytes) -> bytes:
        if self.ended:
            return b""
        if not self.begun and line.startswith(b"begin "):
            self.begun = True
            return b""
        if line.strip() == b"end":
            self.ended = True
            return b""
        if not line.strip():
            return b""
        try:
            return binascii.a2b_uu(line)
        except binascii.Error:
            # Trailing junk (some encoders pad lines): the length byte says how much is data.
            with contextlib.suppress(binascii.Error):
                return binascii.a2b_uu(line[: (((line[0] - 32) & 63) * 4 + 5) // 3])
            return b""


def _base64(source: bytes, start: int, end: int) -> bytes:
    """``source[start:end]`` base64-decoded."""
    pad = source.find(b"=", start, end)
    if pad < 0 or not source[pad:end].strip(b"=\r\n\t "):
        # The common case, padding only at the end: the SIMD decoder is ~6x faster than binascii and
        # gives the same bytes. Padding mid-data (where binascii stops) takes the binascii path.
        # It reads the body in place: copying it out first was a tenth of an attachment's cost.
        with contextlib.suppress(binascii.Error):
            return pybase64.b64decode(memoryview(source)[start:end], validate=False)
    data = source[start:end]
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        # Padding or junk errors: keep what decodes, as mail clients do. A last group left without
        # its "=" padding still carries bytes: it is padded, not dropped (a lone sixth bit cannot).
        cleaned = bytes(c for c in data if c in _B64_ALPHABET)
        if len(cleaned) % 4 == 1:
            cleaned = cleaned[:-1]
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))


_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
