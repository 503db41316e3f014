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
        encoding = str(self.header.get("content-transfer-encoding", "")).strip().lower()
        if encoding == "base64":
            return _base64(self.source, self.start, self.end)
        data = self.source[self.start : self.end]
        if encoding == "quoted-printable":
            return binascii.a2b_qp(data)
        return data

    def text(self) -> str:
        return decode_text(self.decoded(), self.header.get_content_charset())


# Labels whose text is, in mail as on the web, nearly always written in Windows-1252: its curly
# quotes, dashes and euro sign sit where Latin-1 has invisible C1 controls (WHATWG Encoding).
_WINDOWS_1252 = frozenset(
    {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"}
)


def decode_text(data: bytes, charset: str | None) -> str:
    """Text of a body part: its declared charset when the bytes are in it, else UTF-8 when they are
    (a part labelled us-ascii or unknown but written in UTF-8), else Windows-1252; never raises."""
    label = (charset or "").strip().lower()
    if label and label not in _WINDOWS_1252:
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if label and label not in _WINDOWS_1252:
        with contextlib.suppress(LookupError):
            codecs.lookup(label)
            return data.decode(label, errors="replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


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
