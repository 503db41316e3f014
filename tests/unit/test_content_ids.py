"""Attachments carry their Content-ID, so that a CRM showing the stored HTML can resolve each
``<img src="cid:…">`` (a pasted screenshot, a signature logo) to the stored file (SPEC §4)."""

from __future__ import annotations

import pickle

import pytest
from support import PICTURE, forward_with_a_picture, with_picture
from winmail import ATTACHMENT, BYTE, STRING8, attribute, bcc_message, file, mapi, stream, value

from emaillog.contents import Attachment
from emaillog.forwards import forwards_of
from emaillog.headerfields import MAX_CONTENT_ID, content_id
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.structure import leaves


def parsed(raw: bytes) -> Email:
    email = parse(raw, Limits())
    assert isinstance(email, Email), email
    return email


def test_an_inline_picture_keeps_its_content_id_and_the_html_its_cid_url() -> None:
    email = parsed(with_picture([b"<image001.png@01DA>"]))
    [picture] = email.attachments
    assert (picture.filename, picture.content_type, picture.data) == ("image001.png", "image/png", PICTURE)
    assert picture.content_id == "image001.png@01DA"
    assert email.html is not None and 'src="cid:image001.png@01DA"' in email.html


def test_a_file_without_a_content_id_has_none() -> None:
    raw = with_picture([]).replace(b"Content-Disposition: inline", b"Content-Disposition: attachment")
    [attachment] = parsed(raw).attachments
    assert attachment.content_id is None


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        (b"<image001.png@01DA2B3C.4D5E6F70>", "image001.png@01DA2B3C.4D5E6F70"),
        (b"  <  image001.png@01DA >  ", "image001.png@01DA"),  # blanks around and inside the brackets
        (b"image001.png@01DA", "image001.png@01DA"),  # written without brackets (some mailers)
        (b"<logo@acme> (signature logo)", "logo@acme"),  # a comment after the id (RFC 5322 CFWS)
        ("<bild-ü@acme.example>".encode(), "bild-ü@acme.example"),  # RFC 6532 UTF-8
        (b"<bild-\xfc@acme.example>", "bild-ü@acme.example"),  # 8-bit Latin-1: read as other headers
    ],
)
def test_a_content_id_is_kept_without_its_brackets_and_blanks(written: bytes, kept: str) -> None:
    [picture] = parsed(with_picture([written])).attachments
    assert picture.content_id == kept


@pytest.mark.parametrize(
    "written",
    [
        b"<" + b"x" * MAX_CONTENT_ID + b"@acme.example>",  # over the bound: kept whole or not at all
        b"<" + b"x" * 900_000 + b">",  # within the 1 MB header limit
        b"<a\r\n b@acme.example>",  # folded over a line break: not one id
        b"<a b@acme.example>",
        b"<a@b><c@d>",
        b"<a@b> junk",
        b"<a@b",
        b"<>",
        b"<a\x1b[2J@acme.example>",  # a terminal escape
        "<invoice\u202egnp.exe@acme>".encode(),  # a bidi override
        "<a\u200b@acme>".encode(),  # an invisible zero-width space
    ],
)
def test_a_hostile_content_id_is_not_kept(written: bytes) -> None:
    email = parsed(with_picture([written]))
    [picture] = email.attachments
    assert picture.content_id is None
    assert picture.data == PICTURE, "the picture itself is still logged"


@pytest.mark.parametrize("breaking", [b"\r", b"\n"])
def test_a_lone_cr_or_lf_inside_a_content_id_is_not_kept(breaking: bytes) -> None:
    # The line without a colon ends the part's header, as every parser reads it: the rest is body.
    [picture] = parsed(with_picture([b"<a" + breaking + b"b@acme.example>"])).attachments
    assert (picture.filename, picture.content_id) == ("image001.png", None)


def test_of_several_content_ids_the_first_is_kept_as_imap_servers_report_it() -> None:
    # Dovecot's BODYSTRUCTURE gives the first field: a message read by sections stores the same id.
    [picture] = parsed(with_picture([b"<first@acme.example>", b"<second@acme.example>"])).attachments
    assert picture.content_id == "first@acme.example"


def test_the_id_is_read_alike_from_a_header_and_from_a_servers_body_structure() -> None:
    for written in (b"<image001.png@01DA>", b" < a@b > ", b"<bild-\xfc@x>", b"<a b@c>", b"x" * 2000):
        [picture] = parsed(with_picture([written])).attachments
        body_id = written.strip()  # Dovecot hands the field over as written, leading blanks cut
        html = [b"text", b"html", None, None, None, b"7bit", 10, 1]
        structure = [[html, [b"image", b"png", None, body_id, None, b"base64", 400]], b"related"]
        assert [leaf.content_id for leaf in leaves(structure)] == [None, picture.content_id]


def test_the_normaliser_reads_nothing_as_nothing() -> None:
    assert content_id(None) is None
    assert content_id("") is None
    assert content_id("   ") is None


def test_an_attached_originals_inline_picture_keeps_its_content_id() -> None:
    email = parsed(forward_with_a_picture())
    [forward] = forwards_of(email)
    [logo] = forward.attachments
    assert (logo.filename, logo.content_id, logo.data) == ("logo.png", "logo@globex", PICTURE)
    assert forward.html is not None and "cid:logo@globex" in forward.html


def content_id_file(name: str, data: bytes, cid: bytes) -> bytes:
    """A file in a TNEF stream with its PR_ATTACH_CONTENT_ID, as Outlook writes an HTML body's picture."""
    return file(name, data) + attribute(ATTACHMENT, 0x9005, BYTE, mapi(value(STRING8, 0x3712, cid + b"\x00")))


def test_a_winmail_dats_files_carry_the_content_id_outlook_gave_them_or_none() -> None:
    tnef = stream(
        content_id_file("image001.png", PICTURE, b"image001.png@01DA"), file("offer.pdf", b"%PDF-1.7")
    )
    email = parsed(bcc_message(tnef))
    assert [(a.filename, a.content_id) for a in email.attachments] == [
        ("image001.png", "image001.png@01DA"),
        ("offer.pdf", None),
    ]


def test_a_hostile_content_id_inside_a_winmail_dat_is_not_kept() -> None:
    tnef = stream(content_id_file("image001.png", PICTURE, b"a\r\nb@" + b"x" * 400))
    [picture] = parsed(bcc_message(tnef)).attachments
    assert (picture.filename, picture.content_id) == ("image001.png", None)


def test_an_attachment_with_its_content_id_pickles_for_the_parser_workers() -> None:
    [picture] = parsed(with_picture([b"<image001.png@01DA>"])).attachments
    back = pickle.loads(pickle.dumps(picture, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(back, Attachment) and back == picture and back.content_id == "image001.png@01DA"
