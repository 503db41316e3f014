"""Reading a large message without holding it in memory (SPEC §8: memory stays bounded).

The server parses the MIME structure (BODYSTRUCTURE). We fetch the header and the body text
sections, rebuild a small "skeleton" message from them (so the rest of the pipeline parses it as
any other message), and stream every attachment section to a temp file in chunks, decoding and
hashing as it arrives. The SHA-256 of the raw message is computed by streaming it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

from .contents import Attachment, filename_in, safe_filename, unpacked_file
from .directfile import part_file
from .encrypted import explained, sealed_structure
from .imapsections import SectionReader
from .limits import Limits
from .message import Email, Malformed, malformed, parse
from .mimeheader import read_header
from .mimepart import UUENCODE, Uudecoder, transfer_encoding
from .private import private_dir
from .structure import MAX_LEAVES, Leaf, leaves
from .tnef import Budget, File, is_tnef, unpack

CHUNK = 1024 * 1024
# A winmail.dat streamed to disk is read back into memory to be opened up to this size (tnefparse
# reads a whole stream at once); a larger one stays packed, as it came.
MAX_TNEF_OPENED = 64 * 1024 * 1024
# How many times its decoded size a body section's encoding makes it at most: quoted-printable's
# "=XX" per byte and a soft line break ("=" CRLF) per 75 characters give 3.12.
_MOST_GROWTH = 4
# message/rfc822 parts up to this size are kept in the skeleton so forwards-as-attachment work.
MAX_INLINE_MESSAGE = 8 * 1024 * 1024
_MIME_HEADER = re.compile(
    rb"^(content-type|content-transfer-encoding)[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n?",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class LargeRead:
    email: Email | Malformed
    header: bytes  # the original's header section: what a notice about it carries
    sha256: str


def read_large(reader: SectionReader, limits: Limits, max_body_bytes: int, tmp_dir: Path) -> LargeRead:
    sha256 = _hash_raw(reader)
    header, structure = reader.structure()
    found = list(islice(leaves(structure), min(MAX_LEAVES, limits.max_parts) + 1))
    if len(found) > limits.max_parts:
        detail = f"the message has more than {limits.max_parts} MIME parts"
        return LargeRead(malformed(header, detail, sha256, limits), header, sha256)
    texts = [leaf for leaf in found if leaf.is_body_text]
    text_size = sum(leaf.size for leaf in texts)
    # Encoded size over this many times the limit cannot decode to under it. Not twice: base64
    # grows by a third, but quoted-printable writes a byte as "=XX" (Cyrillic, Greek, CJK text:
    # nearly every byte), 3.1 times with its soft line breaks, so a 750 KB Russian body came as
    # 2.1 MB and was refused as over a 1 MB limit that the same email under 8 MB passed.
    too_big = text_size > _MOST_GROWTH * max_body_bytes
    kept = [] if too_big else texts
    kept += [
        leaf for leaf in found if leaf.content_type == "message/rfc822" and leaf.size <= MAX_INLINE_MESSAGE
    ]
    email = parse(_skeleton(reader, header, kept), limits)
    if isinstance(email, Malformed):
        return LargeRead(replace(email, sha256=sha256), header, sha256)
    streamed = tuple(
        _stream(reader, leaf, tmp_dir) for leaf in found if leaf not in kept and leaf not in texts
    )
    streamed = _opened_tnef(streamed, limits.max_parts - len(found), tmp_dir)
    body_bytes = max(email.body_bytes, text_size) if too_big else email.body_bytes
    email = replace(email, attachments=email.attachments + streamed, sha256=sha256, body_bytes=body_bytes)
    return LargeRead(_with_sealed(email, header, found), header, sha256)


def _opened_tnef(streamed: tuple[Attachment, ...], room: int, tmp_dir: Path) -> tuple[Attachment, ...]:
    """The streamed attachments, each winmail.dat replaced by the files it carries (written to temp
    files, fsynced), as a small message's are (``tnef.opened``); its body is not read here.

    A large Outlook email is most often one with a large file inside its winmail.dat: left packed,
    the rep's file would not show in the CRM. ``room``: how many parts the message may still take.
    """
    kept: list[Attachment] = []
    budget = Budget()
    for attachment in streamed:
        files = _tnef_files(attachment, room, budget)
        if not files:
            kept.append(attachment)
            continue
        kept.extend(_written(file, tmp_dir) for file in files)
        room -= len(files) - 1
        if attachment.path is not None:
            attachment.path.unlink(missing_ok=True)
    return tuple(kept)


def _tnef_files(attachment: Attachment, room: int, budget: Budget) -> tuple[File, ...]:
    """The files of a streamed winmail.dat small enough to be read back to be opened; () otherwise."""
    if attachment.path is None or not is_tnef(attachment.content_type, attachment.filename):
        return ()
    if attachment.size > MAX_TNEF_OPENED:
        return ()
    unpacked = unpack(attachment.path.read_bytes(), room + 1, budget)
    return () if unpacked is None else unpacked.files


def _written(file: File, tmp_dir: Path) -> Attachment:
    """The file as an attachment in a temp file (fsynced), as streamed parts are."""
    attachment = unpacked_file(file)
    with part_file(tmp_dir, fsync=True) as (out, path):
        out.write(attachment.data)
    return replace(attachment, data=b"", path=path)


def _with_sealed(email: Email, header: bytes, found: list[Leaf]) -> Email:
    """An encrypted message says so here too: the skeleton left its sealed parts (and the top-level
    Content-Type that names an encrypted whole message) out, so the server's structure is read."""
    if email.sealed is not None:  # inline PGP, in a body text the skeleton kept
        return email
    sealed = sealed_structure(read_header(header), found, email.text, email.html)
    return email if sealed is None else replace(email, text=explained(email.text, sealed), sealed=sealed)


def _hash_raw(reader: SectionReader) -> str:
    digest = hashlib.sha256()
    for piece in reader.chunks("", CHUNK):
        digest.update(piece)
    return digest.hexdigest()


def _skeleton(reader: SectionReader, header: bytes, parts: list[Leaf]) -> bytes:
    """A small message with the original's header and only the parts the rules read."""
    boundary = b"=_emaillog_" + binascii.hexlify(os.urandom(12))
    head = _MIME_HEADER.sub(b"", header.rstrip(b"\r\n") + b"\r\n")
    out = [head, b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n']
    for leaf in parts:
        out += [
            b"--" + boundary + b"\r\n",
            reader.section(f"{leaf.section}.MIME").rstrip(b"\r\n") + b"\r\n\r\n",
            reader.section(leaf.section),
            b"\r\n",
        ]
    out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


def _stream(reader: SectionReader, leaf: Leaf, tmp_dir: Path) -> Attachment:
    """Decode one section to a temp file in chunks, hashing as it goes; fsynced before it is used."""
    private_dir(tmp_dir)
    digest = hashlib.sha256()
    decoder = _decoder(_encoding(reader, leaf))
    with part_file(tmp_dir, fsync=True) as (out, path):
        for data in _decoded(reader.chunks(leaf.section, CHUNK), decoder):
            digest.update(data)
            out.write(data)
    return Attachment(
        filename=safe_filename(_filename(reader, leaf), leaf.content_type),
        content_type=leaf.content_type,
        size=out.size,
        sha256=digest.hexdigest(),
        path=path,
        content_id=leaf.content_id,
    )


def _filename(reader: SectionReader, leaf: Leaf) -> str | None:
    """The leaf's file name as a message read whole names it (``filename_in``). The server's is
    taken unless it could not join the name's RFC 2231 pieces (``Leaf.filename_unjoined``): then the
    part's own header is read. One small FETCH, for a name written in pieces the server left apart."""
    if not leaf.filename_unjoined:
        return leaf.filename
    return filename_in(read_header(reader.section(f"{leaf.section}.MIME")))


def _encoding(reader: SectionReader, leaf: Leaf) -> str:
    """The leaf's Content-Transfer-Encoding as a message read whole reads it (``transfer_encoding``).

    The server's is taken when it names one to undo. Otherwise the part's own header is read: Dovecot
    gives "7bit" for ``"base64"`` (quoted), ``base64;`` or ``base64 foo``, which a message read whole
    decodes, and the file was stored as its base64. One small FETCH, for a file that is not base64.
    """
    if leaf.encoding in _DECODED:
        return leaf.encoding
    header = read_header(reader.section(f"{leaf.section}.MIME"))
    return transfer_encoding(header.get("content-transfer-encoding"))


_DECODED = frozenset({"base64", "quoted-printable", *UUENCODE})


def _decoded(
    chunks: Iterator[bytes], decoder: _Identity | _Base64 | _QuotedPrintable | Uudecoder
) -> Iterator[bytes]:
    for piece in chunks:
        yield decoder.feed(piece)
    yield decoder.finish()


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _Base64:
    """Incremental base64: whitespace dropped, a remainder of under four characters carried over."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self.rest + data.translate(None, b" \t\r\n")
        cut = len(data) - len(data) % 4
        self.rest = data[cut:]
        return _b64(data[:cut])

    def finish(self) -> bytes:
        return _b64(self.rest + b"=" * (-len(self.rest) % 4)) if self.rest else b""


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data)
    except binascii.Error:
        # Junk inside an attachment costs that attachment's bytes, not the whole message.
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/]", b"", data)[: len(data) // 4 * 4] or b"")


class _QuotedPrintable:
    """Incremental quoted-printable: decoded a whole line at a time."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return quopri.decodestring(data[:cut])

    def finish(self) -> bytes:
        return quopri.decodestring(self.rest)


def _decoder(encoding: str) -> _Identity | _Base64 | _QuotedPrintable | Uudecoder:
    if encoding == "base64":
        return _Base64()
    if encoding == "quoted-printable":
        return _QuotedPrintable()
    if encoding in UUENCODE:
        return Uudecoder()
    return _Identity()
