"""A tiny writer of TNEF streams (MS-OXTNEF), for tests: tnefparse only reads them.

A stream is a signature and a key, then attributes: level (1 message, 2 attachment), id and type
(two bytes each), length, data and a checksum (the sum of the data's bytes). MAPI property lists
(MS-OXTNEF §2.1.3.4) are a count, then per property its type, id and value(s).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP

SIGNATURE = 0x223E9F78
MESSAGE, ATTACHMENT = 1, 2
BYTE, STRING, DWORD = 0x0006, 0x0007, 0x0008  # attribute types (atpByte, atpString, atpDword)
BINARY, STRING8, INT32, SHORT = 0x0102, 0x001E, 0x0003, 0x0002  # MAPI property types
MULTIPLE = 0x1000


def attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def value(kind: int, ident: int, data: bytes) -> bytes:
    """One MAPI property with one variable-sized value (a string or binary)."""
    return struct.pack("<HHII", kind, ident, 1, len(data)) + padded(data)


def mapi(*properties: bytes) -> bytes:
    return struct.pack("<I", len(properties)) + b"".join(properties)


def stream(*attributes: bytes) -> bytes:
    head = struct.pack("<IH", SIGNATURE, 0x1234)
    version = attribute(MESSAGE, 0x9006, DWORD, struct.pack("<I", 0x00010000))
    codepage = attribute(MESSAGE, 0x9007, BYTE, struct.pack("<II", 1252, 0))
    return head + version + codepage + b"".join(attributes)


def file(name: str | None, data: bytes, long_name: str | None = None) -> bytes:
    """A file's attributes, as Outlook writes them: rendering, short name, data, MAPI properties."""
    out = attribute(ATTACHMENT, 0x9002, BYTE, b"\x01\x00" + b"\xff" * 12)
    if name is not None:
        out += attribute(ATTACHMENT, 0x8010, STRING, name.encode() + b"\x00")
    out += attribute(ATTACHMENT, 0x800F, BYTE, data)
    if long_name is not None:
        out += attribute(ATTACHMENT, 0x9005, BYTE, mapi(value(STRING8, 0x3707, long_name.encode() + b"\x00")))
    return out


def winmail(
    files: Sequence[tuple[str | None, bytes]] = (), html: str | None = None, body: str | None = None
) -> bytes:
    """A TNEF stream with ``files`` (name, data), and an HTML body and a text body when given."""
    properties = []
    if html is not None:
        properties.append(value(BINARY, 0x1013, html.encode()))
    if body is not None:
        properties.append(value(STRING8, 0x1000, body.encode("cp1252") + b"\x00"))
    message = attribute(MESSAGE, 0x9003, BYTE, mapi(*properties)) if properties else b""
    return stream(message, *(file(name, data, long_name=name) for name, data in files))


def outlook_message(
    tnef: bytes,
    text: str | None = "Please find the contract attached.",
    html: str | None = None,
    filename: str = "winmail.dat",
    content_type: str = "application/ms-tnef",
    sender: str = "Rita Rep <rita@acme.example>",
    message_id: str = "<rtf@acme.example>",
) -> EmailMessage:
    """A message as Outlook sends one in RTF mode: the bodies it writes, then the TNEF part."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Carl Customer <carl@globex.example>"
    msg["Subject"] = "The contract"
    msg["Date"] = "Fri, 20 Nov 2026 10:30:00 +0000"
    msg["Message-ID"] = message_id
    if text is not None:
        msg.set_content(text)
    if html is not None and text is not None:
        msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    maintype, subtype = content_type.split("/")
    msg.add_attachment(tnef, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def bcc_message(tnef: bytes, delivered_to: str = "log@acme.example", **options: object) -> bytes:
    msg = outlook_message(tnef, **options)  # type: ignore[arg-type]
    msg["Delivered-To"] = delivered_to
    return msg.as_bytes(policy=SMTP)
