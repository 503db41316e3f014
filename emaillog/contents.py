"""What a message contains: its body text and HTML, and its files as Attachment values.

The walker (``mime.py``) gives the leaves of a message; here they are sorted into the body (the
inline text/plain and text/html parts, Apple Mail's split body joined) and the attachments, each
decoded, hashed and given a safe display name. Outlook's winmail.dat is opened into the files it
carries (``tnef.py``) and an encrypted message's text says why its content is missing
(``encrypted.py``). ``message.py`` reads a message's own contents through here, the forward
reader an attached original's (``contents_of``), and the large-message path, which streams
attachments to disk instead of holding them, names and records its files with the same
``safe_filename`` and ``unpacked_file``, so a file is named the same whichever path read it.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from .encrypted import Sealed, explained, sealed_message
from .headerfields import content_id, parameter_text
from .htmltext import html_to_text
from .limits import Limits, StructureProblem
from .mime import Walked, walk
from .mimepart import Part
from .pickling import pickled_by_fields
from .tnef import File, opened
from .uutext import UuFile, uuencoded_files

_BODY_TYPES = ("text/plain", "text/html")


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Attachment:
    """A decoded attachment: in memory (``data``) or, for a streamed large one, in a temp file."""

    filename: str
    content_type: str
    size: int
    sha256: str
    data: bytes = b""
    path: Path | None = None
    # The part's Content-ID (``headerfields.content_id``): what ``cid:`` URLs in the HTML name it by.
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class Contents:
    text: str  # for an encrypted message, says why its content is missing
    html: str | None  # as it came: sanitised by the caller
    attachments: tuple[Attachment, ...]
    sealed: Sealed | None
    body_bytes: int  # the text and HTML bodies that came, as SPEC §8 limits them


def read_contents(walked: Walked, max_parts: int) -> Contents:
    """``_contents``, and whether the message is encrypted: if so, its text says why it is missing."""
    text, html, attachments, body_bytes = _contents(walked.parts, max_parts)
    sealed = sealed_message(walked.header, walked.parts, text, html)
    return Contents(explained(text, sealed), html, attachments, sealed, body_bytes)


def _contents(parts: tuple[Part, ...], max_parts: int) -> tuple[str, str | None, tuple[Attachment, ...], int]:
    """The body text and HTML (the message's own, not an attached one's), the attachments, and the
    size of the bodies.

    Several inline text parts (Apple Mail splits a body around an inline image) are joined. Outlook's
    winmail.dat gives the files (and the body, where there is none) it carries (``tnef.opened``), and
    a file uuencoded into a text body is taken out of it (``uutext``).
    The text read from an HTML-only body is not a body that came: counted, a 1.3 MB HTML email was
    "2.5 MB" and refused as over the 2 MB limit.
    """
    texts: list[str] = []
    html: str | None = None
    attachments: list[Attachment] = []
    room = max_parts - len(parts)  # how many more files the part limit lets the message carry
    for part in parts:
        kind = part.content_type
        if kind in _BODY_TYPES and not part.is_attachment and not _named(part):
            if kind == "text/plain":
                text, carried = uuencoded_files(part.text(), room)
                texts.append(text)
                attachments.extend(_uuencoded(file) for file in carried)
                room -= len(carried)
            elif html is None:
                html = part.text()
            continue
        attachments.append(_attachment(part))
    files, text, html = opened(attachments, "\n".join(texts), html, room, unpacked_file)
    body_bytes = len(text.encode()) + len((html or "").encode())
    if not text and html:
        text = html_to_text(html)
    return text, html, files, body_bytes


def _named(part: Part) -> bool:
    return bool(
        part.header.get_param("filename", header="content-disposition") or part.header.get_param("name")
    )


def _attachment(part: Part) -> Attachment:
    data = part.decoded() if part.content_type != "message/rfc822" else bytes(part.body)
    return Attachment(
        filename=safe_filename(filename_in(part.header), part.content_type),
        content_type=part.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        # Read here, from the header the walker parsed, and only for the parts that are files: the
        # body parts, most of the parts read, never pay for it.
        content_id=content_id(part.header.get("content-id")),
    )


def _uuencoded(file: UuFile) -> Attachment:
    """A file uuencoded into the text body, typed by its name as Thunderbird types it."""
    name = safe_filename(file.name, _UNTYPED)  # typed by the safe name: no "data:" URL in it
    content_type = _EXTENSIONS.guess_type(name, strict=False)[0] or _UNTYPED
    return Attachment(
        filename=name,
        content_type=content_type,
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        data=file.data,
    )


def unpacked_file(file: File) -> Attachment:
    """A file from inside a winmail.dat, as an attachment of the message (held in memory)."""
    return Attachment(
        filename=safe_filename(file.name, file.content_type),
        content_type=file.content_type,
        size=len(file.data),
        sha256=hashlib.sha256(file.data).hexdigest(),
        data=file.data,
        content_id=file.content_id,
    )


def filename_in(header: Message) -> str | None:
    """A part's file name: Content-Disposition's ``filename``, else Content-Type's ``name``. Also
    read by largemail.py from a part's own header when the server's structure cannot say."""
    name = header.get_param("filename", header="content-disposition") or header.get_param("name")
    return parameter_text(name)


def contents_of(raw: bytes) -> tuple[str, str | None, tuple[Attachment, ...]] | None:
    """Body text, HTML and files of ``raw`` (an attached original), read as ``parse`` reads a message
    of our own; None when it cannot be walked.

    One reading for both paths: the stdlib's get_body/iter_attachments had kept only the first part of
    a body Apple Mail splits around a picture (the rest became a nameless file) and dropped Outlook's
    inline pictures and a text/calendar beside the bodies.
    """
    limits = Limits()
    walked = walk(raw, limits)
    if isinstance(walked, StructureProblem):
        return None
    # An encrypted original forwarded as an attachment is logged as a BCC'd one is: saying so.
    read = read_contents(walked, limits.max_parts)
    return read.text, read.html, read.attachments


# With the controls, the bidi marks and overrides: "invoice\u202efdp.exe" shows as "invoiceexe.pdf"
# wherever the name is displayed (the CRM's page, a download dialog), an .exe passed off as a PDF.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_filename(name: str | None, content_type: str) -> str:
    """A display name for an attachment: no path parts, no control characters, bounded length.

    Files are stored by content hash, never under this name, so this only protects what is shown.
    """
    name = _UNSAFE_NAME.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip(" ._")
    if not name:
        # A picture pasted into the body, an invitation: named by its type, so a person who
        # downloads it can open it (every such part was "attachment.bin").
        extension = _MAIL_EXTENSIONS.get(content_type) or _EXTENSIONS.guess_extension(content_type)
        name = "attachment" + (extension or ".bin")
    return _shortened(name, 200)


def _shortened(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` characters, its extension (up to 16 characters) kept: cut off, a
    downloaded file opens in nothing."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        return name[:limit]
    return name[: limit - len(extension) - 1] + "." + extension


# The standard library's own table (of this Python), not the machine's /etc/mime.types, which
# differs from one machine to the next; with the names mail clients give the types it lacks or
# names otherwise.
_EXTENSIONS = mimetypes.MimeTypes()
_MAIL_EXTENSIONS = {"text/calendar": ".ics", "application/pkcs7-mime": ".p7m"}
_UNTYPED = "application/octet-stream"
