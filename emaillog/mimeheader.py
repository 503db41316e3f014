"""Reading a MIME header section into a ParsedHeader: fields, 8-bit text, parameters split once.

The walker (``mime.py``) reads the header of the message and of every part through ``read_header``,
and the header fields ``message.py`` reads come from it. A section in the plain form nearly every
one has is read with one regular expression; the rest goes to the stdlib's header parser
(compat32, cheap). Either way the fields are compat32's, with two changes: a value with 8-bit
bytes is text (RFC 6532 UTF-8, else Windows-1252), not a Header of unknown-8bit, and each field's
parameters are split once, not again for every parameter asked for. Nothing here knows of bodies,
boundaries or limits: that is the walker's room.
"""

from __future__ import annotations

import re
from email.message import Message, _parseparam, _unquotevalue  # type: ignore[attr-defined]
from email.parser import BytesHeaderParser
from email.policy import Compat32
from email.utils import decode_params, rfc2231_continuation, unquote  # type: ignore[attr-defined]


def unescaped(text: str) -> str:
    """Header text read as ASCII with its 8-bit bytes kept as surrogate escapes, those bytes decoded:
    as UTF-8 when they are (RFC 6532), else as the Windows-1252 (Latin-1) older clients wrote."""
    if text.isascii():
        return text
    try:
        data = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return text  # decoded already
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Compat32Text(Compat32):
    """compat32, except that a value with 8-bit bytes is read as text (``unescaped``).

    compat32 hands such a value out as a Header of unknown-8bit, whose ``str`` is a replacement
    character per byte: a file name written in UTF-8, as RFC 6532 mail and many phones write it,
    came out as "��t��.pdf".
    """

    def header_fetch_parse(self, name, value):  # type: ignore[no-untyped-def]
        # What compat32 does for a str without 8-bit bytes (returns it), without its encode() test:
        # this runs for every header read of every part, a dozen times a message.
        if isinstance(value, str):
            return value if value.isascii() else unescaped(value)
        return super().header_fetch_parse(name, value)


COMPAT32_TEXT = _Compat32Text()


class ParsedHeader(Message):
    """A header section as parsed, never changed afterwards: each field's parameters are split once.

    The stdlib splits the whole Content-Type again for every parameter asked for (the charset,
    the name, the boundary …), and reading a part asks for several. A parameter written both ways
    reads as its RFC 2231 form. A field the stdlib cannot decode (``name*`` beside ``name*0*``
    makes its RFC 2231 decoder raise TypeError) is decoded again one parameter at a time
    (``_decoded_by_family``): only the parameter at fault is changed or lost, not its neighbours.
    """

    def __init__(self, policy: Compat32 = COMPAT32_TEXT) -> None:
        super().__init__(policy)

    def get_param(  # type: ignore[override]
        self, param: str, failobj: object = None, header: str = "content-type", unquote: bool = True
    ) -> object:
        cache: dict[tuple[str, bool], list[tuple[str, object]]] = self.__dict__.setdefault("_params", {})
        key = (header.lower(), unquote)
        params = cache.get(key)
        if params is None:
            field = self.get(header)
            params = _plain_params(field) if unquote and isinstance(field, str) else None
            if params is None:
                try:
                    params = list(self.get_params([], header, unquote))
                except _UNDECODABLE:
                    # Only a field the stdlib fails on pays for this: a well-formed one never does.
                    params = self._params_by_family(header, unquote)
            cache[key] = params
        wanted = param.lower()
        found = [value for name, value in params if name.lower() == wanted]
        # RFC 2231's form (a tuple: ``filename*=utf-8''…``) before the plain one beside it, which
        # a mailer writes for clients that know no better: Thunderbird takes it, as RFC 6266 §4.3
        # asks. The stdlib gives the first, always the plain one (it puts RFC 2231's after).
        return next((value for value in found if isinstance(value, tuple)), found[0] if found else failobj)

    def _params_by_family(self, header: str, unquote: bool) -> list[tuple[str, object]]:
        """``get_params`` for a field the stdlib could not decode as a whole: split as it splits
        (``Message._get_params_preserve``), each RFC 2231 parameter decoded on its own."""
        value = self.get(header)
        if value is None:
            return []
        pairs = []
        for item in _parseparam(str(value)):
            name, equals, text = item.partition("=")
            pairs.append((name.strip(), text.strip()) if equals else (item.strip(), ""))
        params = _decoded_by_family(pairs)
        return [(name, _unquotevalue(text)) for name, text in params] if unquote else params


def _plain_params(value: str) -> list[tuple[str, object]] | None:
    """``Message.get_params`` (unquoted) of a field in the form nearly every one has, or None.

    That form: no RFC 2231 parameter (no "*"), no backslash, and no ";" inside quotes (each piece
    between two ";" holds an even number of them). Then the stdlib's split is ``str.split(";")``
    and each value comes out unquoted once (its decoder quotes what it unquoted, and ``get_params``
    unquotes it again); a name is stripped, and lowercased when an "=" follows it. The stdlib's
    own path (``_parseparam``, ``decode_params`` and three rounds of quoting) took 5.0-5.5 µs a
    field against 1.4-1.5 µs here (timeit, a Content-Type or Content-Disposition of the backlog
    benchmark), and a part has one or two such fields (Content-Type, Content-Disposition).
    """
    if "\\" in value or "*" in value:
        return None
    pieces = value.split(";")
    if any(piece.count('"') % 2 for piece in pieces):
        return None
    params: list[tuple[str, object]] = []
    for piece in pieces:
        name, equals, text = piece.partition("=")
        params.append((name.strip().lower(), unquote(text.strip())) if equals else (piece.strip(), ""))
    return params


# What the stdlib's parameter decoding raises on hostile fields (see ParsedHeader).
_UNDECODABLE = (TypeError, ValueError, LookupError, UnicodeError)


def _decoded_by_family(pairs: list[tuple[str, str]]) -> list[tuple[str, object]]:
    """``email.utils.decode_params`` (same result, same order), except that an RFC 2231 parameter
    it cannot decode costs only itself.

    Its families are grouped as it groups them (``name*``, ``name*0*``, ``name*1`` … are ``name``).
    One that fails is, when it has a piece given whole (``name*=``), that piece alone, as
    Thunderbird reads it (nsMIMEHeaderParamImpl takes ``name*=`` before continuations): buggy
    clients write the name whole and again in pieces, and the stdlib cannot sort a piece without
    a number among numbered ones (TypeError). Any other that fails (a piece number of thousands
    of digits, which int() refuses) is left out.
    """
    plain: list[tuple[str, str]] = []
    families: dict[str, list[tuple[str, str]]] = {}
    for name, text in pairs[1:]:
        match = rfc2231_continuation.match(name)
        if match:
            families.setdefault(match.group("name"), []).append((name, text))
        else:
            plain.append((name, text))
    params: list[tuple[str, object]] = list(decode_params([pairs[0], *plain]))
    for family in families.values():
        try:
            params.extend(decode_params([pairs[0], *family])[1:])
        except _UNDECODABLE:
            whole = next((p for p in family if rfc2231_continuation.match(p[0]).group("num") is None), None)
            if whole is not None:
                params.extend(decode_params([pairs[0], whole])[1:])
    return params


HEADER_PARSER = BytesHeaderParser(_class=ParsedHeader, policy=COMPAT32_TEXT)

# A header section in the plain form nearly every one has: each line a field name (the printable
# characters the stdlib accepts, no colon), a colon and a value, or a continuation starting with
# a space or tab; every line ended by CRLF or LF.
# Blanks between a field name and its colon are RFC 5322 §4.5's obsolete syntax ("Auto-Submitted :"),
# which every server reads as that field; the stdlib drops the line (or ends the header there).
_PLAIN_SECTION = re.compile(r"(?:[!-9;-~]+[ \t]*:[^\r\n]*\r?\n|[ \t][^\r\n]*\r?\n)*")
_FIELD = re.compile(r"([!-9;-~]+)[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)\r?\n")
_OBSOLETE_NAME = re.compile(rb"(?m)^([!-9;-~]+)[ \t]+:")


def read_header(section: bytes) -> ParsedHeader:
    """A header section parsed as the stdlib's compat32 header parser does, at a fraction of its cost.

    The stdlib's FeedParser reads a section line by line through a generator and a chain of
    buffers; a section in the plain form (``_PLAIN_SECTION``) is read here with one regular
    expression into the same fields, values as compat32 keeps them (unfolded nowhere, the leading
    blanks of the value and its last line break removed). Anything else — a Unix "From " line, a
    first line that is a continuation, a line without a colon, a bare CR — goes to the stdlib, which
    knows how to be lenient about it.
    """
    text = section.decode("ascii", "surrogateescape")
    if not text.startswith((" ", "\t")) and _PLAIN_SECTION.fullmatch(text):
        header = ParsedHeader()
        for name, value in _FIELD.findall(text):
            header.set_raw(name, value)
        header.set_payload("")
        return header
    # Obsolete "Name :" fields are given their plain form first, so the stdlib reads them too.
    parsed = HEADER_PARSER.parsebytes(_OBSOLETE_NAME.sub(rb"\1:", section))
    assert isinstance(parsed, ParsedHeader)
    return parsed
