"""Shapes real clients and gateways write (Outlook, Apple Mail, scanners, old gateways): what is
read must be what a person sees in their mail client, whichever path reads the message."""

from __future__ import annotations

import base64
from email import message_from_bytes

from emaillog.limits import Limits
from emaillog.message import BOUNDED_DEFAULT, Email, parse, stdlib_attachments
from emaillog.structure import leaves

HEAD = (
    b"From: Rita Rep <rita@acme.example>\r\nTo: carl@globex.example\r\nSubject: Offer\r\n"
    b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <s1@acme.example>\r\nMIME-Version: 1.0\r\n"
)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


def with_file(part_header: bytes, data: bytes = PDF, encoded: bytes | None = None) -> bytes:
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nFile attached.\r\n"
        b"--B\r\n"
        + part_header
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + (encoded if encoded is not None else base64.encodebytes(data))
        + b"\r\n--B--\r\n"
    )


def only_file(raw: bytes) -> tuple[str, bytes]:
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    [attachment] = email.attachments
    return attachment.filename, attachment.data


def body_text(raw: bytes) -> str:
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    return email.text.strip()


def test_a_large_message_file_name_in_encoded_words_is_decoded_as_in_a_small_one() -> None:
    # Outlook writes non-ASCII file names as RFC 2047 encoded words inside the quoted parameter;
    # the server's BODYSTRUCTURE hands the parameter over as written.
    name = b"=?utf-8?B?w6l0w6kgb2ZmcmUucGRm?="
    text = [b"text", b"plain", [b"charset", b"utf-8"], None, None, b"7bit", 14, 1, None, None, None, None]
    pdf = [b"application", b"pdf", [b"name", name], None, None, b"base64", 6000, None]
    structure = [[text, [*pdf, [b"attachment", [b"filename", name]], None, None]], b"mixed"]
    assert [leaf.filename for leaf in leaves(structure)] == [None, "été offre.pdf"]
    assert (
        only_file(with_file(b'Content-Type: application/pdf; name="' + name + b'"\r\n'))[0] == "été offre.pdf"
    )


def test_a_file_name_in_raw_utf8_is_read_as_utf8() -> None:
    # RFC 6532 mail (and many phone clients) writes the UTF-8 name as it is, without encoding it.
    head = 'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="été offre.pdf"\r\n'
    assert only_file(with_file(head.encode()))[0] == "été offre.pdf"


def test_base64_without_its_final_padding_keeps_its_last_bytes() -> None:
    data = PDF[:1001]  # 1001 bytes: the last group of four carries a "=" that some writers leave out
    encoded = base64.encodebytes(data).rstrip(b"\n").rstrip(b"=")
    head = b'Content-Type: application/pdf; name="x.pdf"\r\n'
    assert only_file(with_file(head, encoded=encoded))[1] == data


def test_latin1_header_bytes_read_as_latin1_not_as_replacement_characters() -> None:
    raw = HEAD.replace(b"Subject: Offer", "Subject: Angebot für Müller".encode("latin-1")) + b"\r\nbody\r\n"
    email = parse(raw, Limits())
    assert isinstance(email, Email) and email.subject == "Angebot für Müller"


def test_utf8_header_bytes_still_read_as_utf8() -> None:
    raw = HEAD.replace(b"Subject: Offer", "Subject: Angebot für Müller – 日本".encode()) + b"\r\nbody\r\n"
    email = parse(raw, Limits())
    assert isinstance(email, Email) and email.subject == "Angebot für Müller – 日本"


def test_a_body_declared_us_ascii_but_written_in_utf8_is_read_as_utf8() -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + "Grüße aus München".encode()
    assert body_text(raw) == "Grüße aus München"


def test_windows_1252_labelled_iso_8859_1_keeps_its_quotes_and_euro_sign() -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n" + "It’s €100 — café".encode("cp1252")
    assert body_text(raw) == "It’s €100 — café"


def test_an_unknown_or_missing_charset_on_latin1_bytes_is_not_read_as_replacement_characters() -> None:
    for content_type in (b"text/plain; charset=x-unknown", b"text/plain"):
        raw = HEAD + b"Content-Type: " + content_type + b"\r\n\r\n" + "Grüße".encode("latin-1")
        assert body_text(raw) == "Grüße"


def test_an_attached_original_that_is_a_single_file_keeps_the_file() -> None:
    # A scanner's or copier's mail is one application/pdf part, no multipart around it.
    scan = (
        HEAD + b'Content-Type: application/pdf; name="scan.pdf"\r\n'
        b'Content-Disposition: attachment; filename="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(PDF)
    )
    [attachment] = stdlib_attachments(message_from_bytes(scan, policy=BOUNDED_DEFAULT))
    assert (attachment.filename, attachment.data) == ("scan.pdf", PDF)


def test_an_attached_message_inside_an_original_is_the_message_not_its_part_header() -> None:
    inner = b"From: someone@other.example\r\nSubject: Old thread\r\n\r\nOld text.\r\n"
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nFor reference.\r\n"
        b'--B\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="old.eml"\r\n\r\n'
        + inner
        + b"\r\n--B--\r\n"
    )
    [attachment] = stdlib_attachments(message_from_bytes(raw, policy=BOUNDED_DEFAULT))
    assert attachment.filename == "old.eml"
    assert attachment.data.startswith(b"From: someone@other.example")
