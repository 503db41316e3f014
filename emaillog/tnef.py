"""Outlook's ``winmail.dat`` (TNEF, MS-OXTNEF): the files and the body it carries, read by tnefparse.

Outlook in RTF mode sends one ``application/ms-tnef`` part in place of the rep's files; logged as it
came, the CRM showed an opaque ``winmail.dat``. The files inside are what the rep attached.

tnefparse was written for trusted input. Its loops follow the counts a stream declares, and some of
them never look at the bytes left: a MAPI property list that declares four billion values of a fixed
size makes four billion objects out of a few bytes, and every attribute costs a copy of the rest of
the stream (quadratic in the number of attributes). So the stream's framing is checked here first,
cheaply and within budgets, and tnefparse is only handed a stream whose every count fits the bytes
that follow. Anything else — and anything tnefparse raises — leaves the part packed, as it came.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tnefparse.properties import MAPI_ATTACH_CONTENT_ID
from tnefparse.tnef import TNEF, TNEFAttachment

from .headerfields import content_id
from .mimepart import decode_text

log = logging.getLogger("emaillog.parse")

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})

# tnefparse copies the rest of the stream for each attribute it reads (``data[offset:]``): a stream
# of many small attributes before one large one costs its size once per attribute. Real Outlook
# streams have about eight attributes per file and a few dozen for the message; 100 files of 80 KB
# copy about 3 GB. A stream that would copy more than this stays packed.
MAX_COPIED = 1024 * 1024 * 1024
# MAPI property values tnefparse may walk in one stream (each costs it a Python object or more).
# Outlook writes a few hundred per message and a few dozen per file.
MAX_VALUES = 50_000

_SIGNATURE = 0x223E9F78
_LEVEL_ATTACHMENT = 0x02
_ATT_RENDDATA = 0x9002  # starts each attached file
_ATT_MAPIPROPS = 0x9003  # the message's MAPI properties (the HTML body among them)
_ATT_RECIPTABLE = 0x9004
_ATT_ATTACHMENT = 0x9005  # a file's MAPI properties (its long name)
_STRING_KINDS = (0x0001, 0x0007)  # attribute types tnefparse decodes as text before any table
# An attached Outlook item (not a file) is a whole TNEF stream inside a property, which tnefparse
# parses again with nothing bounding it: a stream holding one stays packed.
_EMBEDDED_MESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
# The file property tnefparse looks for that stream in (PR_ATTACH_DATA_OBJ). It reads the property's
# values joined, each with its trailing NULs stripped: two values can spell the signature where the
# stream does not (a value's padding and the next one's length lie between them), so a stream that
# gives the property more than one value stays packed (Outlook writes one).
_ATTACH_DATA_OBJ = 0x3701

# MAPI property types (MS-OXCDATA §2.11.1) by the size of one value; the variable-sized ones carry
# a count of values, then each value's length, padded to four bytes.
_FIXED_SIZE = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8}
_FIXED_SIZE |= {0x0014: 8, 0x0040: 8, 0x0048: 16}
_VARIABLE = frozenset({0x0000, 0x000D, 0x001E, 0x001F, 0x0102})
_MULTIPLE = 0x1000
_NAMED = 0x8000

# tnefparse's own failures on a stranger's bytes: short reads (struct.error), bad dates and code
# pages, undecodable names, an attribute before its file, its asserts, runaway recursion.
_DECODE_ERRORS = (
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
    AttributeError,
    NameError,
    AssertionError,
    RecursionError,
    struct.error,
)

# The standard library's own table (of this Python), as for other parts (``contents.safe_filename``).
_TYPES = mimetypes.MimeTypes()


@dataclass(frozen=True, slots=True)
class File:
    name: str | None  # as written in the stream; the caller makes it safe to show
    content_type: str
    data: bytes
    content_id: str | None = None  # what the stream's HTML body names the file by, if anything


@dataclass(frozen=True, slots=True)
class Unpacked:
    files: tuple[File, ...]
    text: str | None
    html: str | None


class Part(Protocol):
    """What is read of an attachment here (``contents.Attachment``)."""

    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...


P = TypeVar("P", bound=Part)


def opened(
    parts: Sequence[P], text: str, html: str | None, room: int, make: Callable[[File], P]
) -> tuple[tuple[P, ...], str, str | None]:
    """``parts`` with each TNEF part replaced by the files it carries (``make`` turns each into a
    part), and ``text``/``html`` taken from the first TNEF that has them when the message has none.

    ``room``: how many parts the message may still take before SPEC §8's part limit. A TNEF whose
    files would take it over the limit stays packed: the limit bounds the work a stranger can cause,
    and the packed part costs nothing more, where rejecting the message would lose an email that is
    logged as it came today. A TNEF that gives neither a file nor a body the message lacks stays
    packed too, so that nothing it holds is dropped for nothing.
    """
    kept: list[P] = []
    budget = Budget()
    for part in parts:
        unpacked = unpack(part.data, room + 1, budget) if is_tnef(part.content_type, part.filename) else None
        fills_text = not text and unpacked is not None and unpacked.text is not None
        fills_html = html is None and unpacked is not None and unpacked.html is not None
        if unpacked is None or not (unpacked.files or fills_text or fills_html):
            kept.append(part)
            continue
        room -= len(unpacked.files) - 1
        kept.extend(make(file) for file in unpacked.files)
        text = unpacked.text if fills_text and unpacked.text else text
        html = unpacked.html if fills_html else html
    return tuple(kept), text, html


def is_tnef(content_type: str, filename: str) -> bool:
    """A TNEF part: by its type, or by the name Outlook gives it when a gateway relabels the type."""
    return content_type in TNEF_TYPES or filename.lower() == "winmail.dat"


@dataclass(slots=True)
class Budget:
    """What tnefparse, and the walk that checks a stream for it, may still spend on one message.

    One budget for all the TNEF parts of a message, not one each: a message of 1,000 parts of a few
    bytes, each holding a property list of 50,000 values cut short, took 45 s of CPU (340 KB).
    What the walk of a stream that then stays packed went through is spent too (the walks cost as
    well); a count it refused without walking is not.
    """

    copied: int = MAX_COPIED
    values: int = MAX_VALUES


def unpack(data: bytes, max_files: int, budget: Budget | None = None) -> Unpacked | None:
    """The files and bodies of a TNEF stream; None when it is not to be opened (left as it came).

    ``max_files``: how many files the message may still take (SPEC §8's part limit). ``budget``:
    what the message's TNEF parts may still cost (a fresh one when not given).
    """
    files = _files_declared(data, budget or Budget())
    if files is None or files > max_files:
        return None
    try:
        tnef = TNEF(data, do_checksum=False)
        unpacked = Unpacked(_files(tnef), _text(tnef.body, tnef.codepage), _text(tnef.htmlbody, None))
    except _DECODE_ERRORS as exc:
        # Only the error's type: its message may quote the stranger's bytes.
        log.info("a winmail.dat part is kept packed: tnefparse raised %s", type(exc).__name__)
        return None
    return unpacked if unpacked.files or unpacked.text or unpacked.html else None


def _files(tnef: TNEF) -> tuple[File, ...]:
    """The files that have content (an attachment record without data has nothing to show)."""
    files = []
    for attachment in tnef.attachments:
        if attachment.data:
            name = _name(attachment)
            data = bytes(attachment.data)
            files.append(File(name, _content_type(name or ""), data, _content_id(attachment)))
    return tuple(files)


def _content_id(attachment: TNEFAttachment) -> str | None:
    """The file's PR_ATTACH_CONTENT_ID (MS-OXPROPS), which Outlook gives a picture its HTML body shows
    as ``cid:``; None when the stream has none (most have none: RTF bodies name no files by it)."""
    try:
        values = [a.data for a in attachment.mapi_attrs if a.name == MAPI_ATTACH_CONTENT_ID]
    except _DECODE_ERRORS:
        return None  # a value tnefparse cannot read costs the id, not the file
    value = values[0] if values else None
    if isinstance(value, bytes):
        value = decode_text(value.rstrip(b"\x00"), None)
    return content_id(value) if isinstance(value, str) else None


def _name(attachment: TNEFAttachment) -> str | None:
    """The long file name, else the short one; None (named by its type) when neither reads as text."""
    try:
        name = attachment.long_filename()
    except UnicodeDecodeError:
        return None  # a short name written in a code page, not in UTF-8 as tnefparse reads it
    if isinstance(name, bytes):
        name = decode_text(name, None)
    if not isinstance(name, str):
        return None
    return name.strip("\x00 ") or None


def _content_type(name: str) -> str:
    guessed, _ = _TYPES.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def _text(body: object, codepage: str | None) -> str | None:
    """A body as text: tnefparse gives str when it knew the code page, else the bytes as written."""
    if isinstance(body, bytes):
        body = decode_text(body, codepage)
    if not isinstance(body, str):
        return None
    return body.rstrip("\x00").strip() or None


def _files_declared(data: bytes, budget: Budget) -> int | None:
    """How many files the stream declares; None when tnefparse is not to be given it."""
    if len(data) < 6 or struct.unpack_from("<I", data)[0] != _SIGNATURE or _EMBEDDED_MESSAGE in data:
        return None
    try:
        return _Frame(data, budget).files()
    except (_Refused, struct.error):
        return None


class _Refused(Exception):
    """The stream is outside what tnefparse is given (over a budget, or not well formed)."""


class _Short(_Refused):
    """A property list ends before its values do (or has a type tnefparse does not know)."""


class _Frame:
    """A walk over the stream's framing, as tnefparse will walk it, reading no values.

    Each attribute is: level (1 byte), id (2), type (2), length (4), data, checksum (2).
    """

    def __init__(self, data: bytes, budget: Budget) -> None:
        self.data = data
        self.budget = budget

    def files(self) -> int:
        data, offset, files = self.data, 6, 0
        # tnefparse's own loop condition: a tail of 12 bytes or fewer is ignored.
        while offset + 12 < len(data):
            level, name, kind, length = struct.unpack_from("<BHHI", data, offset)
            # A last attribute cut short ends where the stream does, its last two bytes taken for
            # the checksum, as tnefparse reads it.
            size = min(len(data) - offset, length + 11)
            if len(data) - offset > self.budget.copied:
                raise _Refused
            self.budget.copied -= len(data) - offset
            files += name == _ATT_RENDDATA
            self.properties(level, name, kind, offset + 9, offset + size - 2)
            offset += size
        return files

    def properties(self, level: int, name: int, kind: int, start: int, end: int) -> None:
        """Check the MAPI property lists tnefparse decodes (the same branches as its loop)."""
        body = memoryview(self.data)[start:end]  # read in place: most attributes are not read at all
        if level == _LEVEL_ATTACHMENT:
            if name == _ATT_ATTACHMENT:
                self.single(body, of_file=True)
        elif name == _ATT_MAPIPROPS:
            self.single(body, of_file=False)
        elif name == _ATT_RECIPTABLE and kind not in _STRING_KINDS:
            # Each row's list starts where tnefparse ended the one before: a row that is not whole
            # would leave the next count read from wherever that is. Cut short, the table is refused.
            offset = 4
            for _ in range(self.spend(_u32(body, 0))):
                offset = self.mapi(body, offset, of_file=False)

    def single(self, body: memoryview, of_file: bool) -> None:
        """A list nothing follows. tnefparse stops reading it at the first value cut short (its
        ``decode_mapi`` catches the error) or idles through the rest of its count: both bounded by
        the counts spent by then, so the walk may stop there too."""
        with contextlib.suppress(_Short, struct.error):
            self.mapi(body, 0, of_file)

    def mapi(self, body: memoryview, offset: int, of_file: bool) -> int:
        """The end of the property list at ``offset``; every value must lie within ``body``.

        ``of_file``: the list is a file's (tnefparse looks there for an embedded message)."""
        count = self.spend(_u32(body, offset))
        offset += 4
        for _ in range(count):
            offset = self.property(body, offset, of_file)
        return offset

    def property(self, body: memoryview, offset: int, of_file: bool) -> int:
        kind, name = struct.unpack_from("<HH", body, offset)
        offset += 4
        if name >= _NAMED:
            offset += 16 + 4
            offset += 4 if _u32(body, offset - 4) == 0 else 4 + _padded(_u32(body, offset))
        multiple = None
        if kind & _MULTIPLE:
            kind ^= _MULTIPLE
            multiple = _u32(body, offset)
            offset += 4
        repeats = self.spend(multiple or 1)
        if of_file and name == _ATTACH_DATA_OBJ and kind in _VARIABLE:
            values = multiple or _u32(body, offset)  # multi-valued: one per repeat; else a count first
            if values > 1:
                raise _Refused
        if kind in _FIXED_SIZE:
            offset += repeats * _FIXED_SIZE[kind] + (2 if repeats % 2 and _FIXED_SIZE[kind] == 2 else 0)
        elif kind in _VARIABLE:
            for _ in range(repeats):
                offset = self.variable(body, offset, single=bool(multiple))
        else:
            raise _Short  # a type tnefparse does not know: it gives up on the list
        if offset > len(body):
            raise _Short
        return offset

    def variable(self, body: memoryview, offset: int, single: bool) -> int:
        count = 1 if single else _u32(body, offset)
        offset += 0 if single else 4
        for _ in range(self.spend(count)):
            offset += 4 + _padded(_u32(body, offset))
            if offset > len(body):
                raise _Short
        return offset

    def spend(self, values: int) -> int:
        if values > self.budget.values:
            raise _Refused
        self.budget.values -= values
        return values


def _u32(data: bytes | memoryview, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _padded(length: int) -> int:
    return length + -length % 4
