"""Shapes real clients and gateways write (Outlook, Apple Mail, scanners, old gateways): what is
read must be what a person sees in their mail client, whichever path reads the message."""

from __future__ import annotations

import base64
from email import message_from_bytes

import pytest
from support import attached_forward

from emaillog.forwards import forwards_of
from emaillog.forwards.attached import from_attachment
from emaillog.forwards.model import ForwardedMessage
from emaillog.fulltree import BOUNDED_DEFAULT
from emaillog.limits import Limits
from emaillog.message import Email, Malformed, parse
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


@pytest.mark.parametrize("label", [b"iso-8859-1", b"us-ascii"])
def test_an_inline_forward_is_decoded_as_a_message_of_our_own(label: bytes) -> None:
    # The forward reader decoded its text itself: iso-8859-1 as Latin-1 (the quotes and the euro
    # sign of Windows-1252 became control characters), which the BCC path had stopped doing.
    forward = (
        "FYI\r\n\r\n---------- Forwarded message ---------\r\nFrom: Carl Customer <carl@globex.example>\r\n"
        "Date: Thu, 19 Nov 2026 at 09:00\r\nSubject: Offer\r\nTo: <rita@acme.example>\r\n\r\n"
        "It’s €100 — café\r\n"
    )
    raw = (
        HEAD.replace(b"Subject: Offer", b"Subject: Fwd: Offer")
        + b"Content-Type: text/plain; charset="
        + label
        + b"\r\n\r\n"
        + forward.encode("cp1252")
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    [original] = forwards_of(email)
    assert original.body == "It’s €100 — café"


def test_an_attached_original_that_is_a_single_file_keeps_the_file() -> None:
    # A scanner's or copier's mail is one application/pdf part, no multipart around it.
    scan = (
        HEAD + b'Content-Type: application/pdf; name="scan.pdf"\r\n'
        b'Content-Disposition: attachment; filename="scan.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(PDF)
    )
    [attachment] = forwarded_original(scan).attachments
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
    [attachment] = forwarded_original(raw).attachments
    assert attachment.filename == "old.eml"
    assert attachment.data.startswith(b"From: someone@other.example")


def forwarded_original(inner: bytes) -> ForwardedMessage:
    """The original a rep forwarded as an attachment, as the forward reader reads it."""
    email = parse(attached_forward(message_from_bytes(inner, policy=BOUNDED_DEFAULT)), Limits())
    assert isinstance(email, Email)
    [original] = forwards_of(email)
    return original


def test_an_apple_mail_body_split_around_a_picture_is_whole_when_forwarded_as_an_attachment() -> None:
    # Apple Mail writes text, the inline picture, then the rest of the text as three parts. The BCC
    # path joined them; the forward path kept the first and stored the rest as a nameless file.
    inner = (
        HEAD + b'Content-Type: multipart/mixed; boundary="A"\r\n\r\n'
        b"--A\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nBefore the picture.\r\n"
        b'--A\r\nContent-Type: image/jpeg; name="photo.jpg"\r\n'
        b'Content-Disposition: inline; filename="photo.jpg"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(PDF) + b"\r\n"
        b"--A\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nAfter the picture.\r\n--A--\r\n"
    )
    original = forwarded_original(inner)
    assert "Before the picture." in original.body and "After the picture." in original.body
    assert [(a.filename, a.data) for a in original.attachments] == [("photo.jpg", PDF)]


def test_an_outlook_original_keeps_its_inline_pictures_and_its_invitation_when_forwarded() -> None:
    # Outlook: mixed > related > alternative + the signature's image001.png, then the file. The
    # picture (and a text/calendar beside the bodies) was dropped: only the BCC path kept them.
    inner = (
        HEAD + b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b'--M\r\nContent-Type: multipart/related; boundary="R"\r\n\r\n'
        b'--R\r\nContent-Type: multipart/alternative; boundary="L"\r\n\r\n'
        b"--L\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the offer.\r\n"
        b"--L\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b'<p>See the offer.<img src="cid:image001"></p>\r\n'
        b"--L\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n"
        b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--L--\r\n"
        b'--R\r\nContent-Type: image/png; name="image001.png"\r\nContent-ID: <image001>\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(PDF) + b"\r\n--R--\r\n"
        b'--M\r\nContent-Type: application/pdf; name="offer.pdf"\r\nContent-Disposition: attachment; '
        b'filename="offer.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(PDF)
        + b"\r\n--M--\r\n"
    )
    original = forwarded_original(inner)
    assert original.body == "See the offer."
    assert [a.content_type for a in original.attachments] == ["text/calendar", "image/png", "application/pdf"]
    assert [a.filename for a in original.attachments][1:] == ["image001.png", "offer.pdf"]


def test_an_attached_original_the_walker_cannot_read_still_gives_its_body() -> None:
    # The forward's own walk counts the original's parts and nesting, so an original over the
    # limits makes the whole forward malformed. The original the reader walks, though, is the
    # stdlib's tree written back, which can differ from what the forward's walk saw: if that walk
    # fails, its text is still read; its files are not.
    deep = b"".join(
        b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (i, i) for i in range(60)
    )
    inner = (
        HEAD + b'Content-Type: multipart/mixed; boundary="T"\r\n\r\n'
        b"--T\r\nContent-Type: text/plain\r\n\r\nThe original.\r\n--T\r\n" + deep + b"\r\nx\r\n--T--\r\n"
    )
    original = from_attachment(message_from_bytes(inner, policy=BOUNDED_DEFAULT), None)
    assert original is not None and original.body == "The original."
    assert original.attachments == ()
    assert isinstance(
        parse(attached_forward(message_from_bytes(inner, policy=BOUNDED_DEFAULT)), Limits()), Malformed
    )
