"""What older and odder mailers write, read as mail clients read it: a Content-Transfer-Encoding
quoted or with a comment, a file name in both the plain and RFC 2231 forms, a file uuencoded into
the text body. The same whichever path reads the message (whole, or by sections from BODYSTRUCTURE)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from email import message_from_bytes
from email.policy import default

import pytest

from emaillog.forwards.parts import body_of
from emaillog.headerfields import parameter_text
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.mimepart import transfer_encoding
from emaillog.structure import leaves
from emaillog.uutext import uuencoded_files

HEAD = (
    b"From: Rita Rep <rita@acme.example>\r\nTo: carl@globex.example\r\nSubject: Offer\r\n"
    b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <old@acme.example>\r\nMIME-Version: 1.0\r\n"
)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4
TEXT = "Grüße, Carl"


def _email(raw: bytes) -> Email:
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    return email


def _with_label(label: bytes) -> bytes:
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
        + label
        + b"\r\n\r\n"
        + base64.encodebytes(TEXT.encode())
        + b"--B\r\nContent-Type: application/pdf; name=offer.pdf\r\nContent-Transfer-Encoding: "
        + label
        + b"\r\n\r\n"
        + base64.encodebytes(PDF)
        + b"--B--\r\n"
    )


LABELS = [b'"base64"', b"base64 (encoded)", b"(MIME) base64", b"BASE64", b"base64;", b'"Base64"', b"base64 x"]


@pytest.mark.parametrize("label", LABELS)
def test_a_quoted_or_commented_base64_label_is_decoded_as_mail_clients_decode_it(label: bytes) -> None:
    # Compared whole, '"base64"' was no encoding: the text stored as its base64, the file encoded.
    email = _email(_with_label(label))
    assert email.text.strip() == TEXT
    [attachment] = email.attachments
    assert attachment.data == PDF and attachment.sha256 == hashlib.sha256(PDF).hexdigest()


@pytest.mark.parametrize(
    ("label", "read"),
    [
        (None, ""),
        ("", ""),
        (" 7BIT ", "7bit"),
        ('"quoted-printable"', "quoted-printable"),
        ("x-uuencode (old)", "x-uuencode"),
        ("(a (nested) comment) base64", "base64"),
        ("(unclosed base64", "unclosed"),
        ("base-64", "base-64"),  # not base64: no client reads it so
    ],
)
def test_a_transfer_encoding_label_reads_as_its_first_word(label: str | None, read: str) -> None:
    assert transfer_encoding(label) == read


def test_a_quoted_label_on_a_forwarded_originals_body_is_decoded_too() -> None:
    original = message_from_bytes(
        HEAD
        + b'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "base64"\r\n\r\n'
        + base64.encodebytes(TEXT.encode()),
        policy=default,
    )
    assert (body_of(original, "plain") or "").strip() == TEXT


def test_the_servers_label_is_read_as_the_parts_own() -> None:
    pdf = [b"application", b"pdf", None, None, None, b'"BASE64"', 6000, None, None, None, None]
    text = [b"text", b"plain", [b"charset", b"utf-8"], None, None, b"Quoted-Printable (x)", 14, 1]
    assert [leaf.encoding for leaf in leaves([[text, pdf], b"mixed"])] == ["quoted-printable", "base64"]


BOTH_FORMS = [
    b"Content-Disposition: attachment; filename=\"plain.pdf\"; filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf",
    b"Content-Disposition: attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf; filename=\"plain.pdf\"",
    b"Content-Disposition: attachment; filename=plain.pdf;\r\n"
    b" filename*0*=utf-8''Gr%C3%BC; filename*1=\"\xc3\x9fe.pdf\"",
    b"Content-Type: application/pdf; name=\"plain.pdf\"; name*=utf-8''Gr%C3%BC%C3%9Fe.pdf",
]


@pytest.mark.parametrize("header", BOTH_FORMS)
def test_a_name_in_both_forms_is_its_rfc_2231_form_read_whole(header: bytes) -> None:
    # The stdlib gives the plain one first: the rep's "Grüße.pdf" was stored as the fallback name.
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nHi\r\n"
        b"--B\r\n"
        + (b"" if header.startswith(b"Content-Type") else b"Content-Type: application/pdf\r\n")
        + header
        + b"\r\n\r\n%PDF\r\n--B--\r\n"
    )
    [attachment] = _email(raw).attachments
    assert attachment.filename == "Grüße.pdf"


def test_a_name_in_both_forms_is_its_rfc_2231_form_read_by_sections() -> None:
    # Dovecot's BODYSTRUCTURE gives both, the plain first, its continuations joined into "name*".
    encoded = b"utf-8''Gr%C3%BC%C3%9Fe.pdf"
    text = [b"text", b"plain", [b"charset", b"utf-8"], None, None, b"7bit", 4, 1, None, None, None, None]
    by_type = [b"application", b"pdf", [b"name", b"plain.pdf", b"name*", encoded], None, None, b"7bit", 4]
    by_disposition = [b"application", b"pdf", None, None, None, b"base64", 4, None]
    structure = [
        [
            text,
            [*by_type, None, None, None, None],
            [*by_disposition, [b"attachment", [b"filename", b"plain.pdf", b"filename*", encoded]], None],
        ],
        b"mixed",
    ]
    assert [leaf.filename for leaf in leaves(structure)] == [None, "Grüße.pdf", "Grüße.pdf"]


def _uuencoded(data: bytes, name: bytes = b"prices.xls") -> bytes:
    lines = b"".join(binascii.b2a_uu(data[i : i + 45]) for i in range(0, len(data), 45))
    return b"begin 644 " + name + b"\n" + lines + b"`\nend\n"


def _plain(body: bytes, header: bytes = b"") -> bytes:
    head = HEAD + b"Content-Type: text/plain; charset=utf-8\r\n" + header
    return head + b"\r\n" + body.replace(b"\n", b"\r\n")


def test_a_file_uuencoded_into_the_text_is_an_attachment_and_not_text() -> None:
    # Stored as it came, the body was kilobytes of "M..." lines (counted toward the body limit),
    # and the file was nowhere.
    sheet = bytes(range(256)) * 40
    email = _email(_plain(b"Here are the prices.\n\n" + _uuencoded(sheet) + b"\nRegards, Rita\n"))
    assert email.text.split() == ["Here", "are", "the", "prices.", "Regards,", "Rita"]
    assert email.body_bytes < 100
    [attachment] = email.attachments
    assert (attachment.filename, attachment.content_type) == ("prices.xls", "application/vnd.ms-excel")
    assert attachment.data == sheet and attachment.size == len(sheet)


def test_uuencoded_files_in_a_quoted_printable_body_and_with_odd_names_are_each_kept() -> None:
    body = _uuencoded(b"one", b"../../etc/a b.txt") + b"between\n" + _uuencoded(b"two", b"noextension")
    email = _email(_plain(body.replace(b"=", b"=3D"), b"Content-Transfer-Encoding: quoted-printable\r\n"))
    assert email.text.strip() == "between"
    assert [(a.filename, a.content_type, a.data) for a in email.attachments] == [
        ("a b.txt", "text/plain", b"one"),
        ("noextension", "application/octet-stream", b"two"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "We begin 644 tests today.\nend\n",  # not at a line's start
        "begin 644 prices.xls\nthe file did not come through\nend\n",  # prose is not uuencode
        "begin 644 prices.xls\nM86)C\n",  # no end: left as it came
        "begin here\nM86)C\nend\n",  # no mode
    ],
)
def test_text_that_only_looks_like_uuencode_stays_text(text: str) -> None:
    assert uuencoded_files(text, 10) == (text, ())


def test_uuencoded_files_beyond_the_part_limit_stay_in_the_text() -> None:
    block = "begin 644 a.bin\n#86)C\n`\nend\n"
    text, files = uuencoded_files(block * 5, 3)
    assert [file.data for file in files] == [b"abc"] * 3 and text == block * 2
    many = _plain(_uuencoded(b"abc", b"a.bin") * (Limits().max_parts + 5))
    assert len(_email(many).attachments) == Limits().max_parts - 1  # the body is one of the parts


# A name given whole in RFC 2231's form (name*=) and again as continuations (name*0*=, name*1*=),
# as buggy clients write it. The stdlib's decoder raised TypeError on it (it sorts the pieces by
# number, and the whole one has none), and every parameter of the field read as absent.
DOUBLED = b"name*=\"utf-8''r%C3%A9sum%C3%A9.pdf\"; name*0*=utf-8''a; name*1*=b.pdf"


def test_a_name_given_whole_and_in_pieces_costs_only_itself() -> None:
    raw = (
        HEAD + b'Content-Type: multipart/mixed; boundary="B"; ' + DOUBLED + b"\r\n\r\n"
        b"--B\r\nContent-Type: text/plain; charset=koi8-r; " + DOUBLED.replace(b"name", b"title") + b"\r\n"
        b"\r\n" + "Привет, Carl".encode("koi8-r") + b"\r\n"
        b"--B\r\nContent-Type: application/pdf; " + DOUBLED + b"\r\n"
        b"Content-Disposition: attachment; size=4; " + DOUBLED.replace(b"name", b"filename") + b"\r\n\r\n"
        b"%PDF\r\n--B--\r\n"
    )
    email = _email(raw)  # the boundary was lost: the whole message was one text part
    assert email.text == "Привет, Carl"  # its charset was lost too: read as Windows-1252
    assert [a.filename for a in email.attachments] == ["résumé.pdf"]


def test_a_doubled_parameter_takes_its_whole_form_and_leaves_the_others_alone() -> None:
    from emaillog.mimeheader import read_header

    header = read_header(
        b"Content-Type: text/plain; charset=iso-8859-1; " + DOUBLED + b"; format=flowed\r\n"
        b"Content-Disposition: attachment; filename*0=a; filename*=b.pdf; filename*1=c; size=4\r\n"
    )
    # As Thunderbird (nsMIMEHeaderParamImpl) reads it: the whole name*= before its continuations.
    assert parameter_text(header.get_param("name")) == "résumé.pdf"
    assert header.get_content_charset() == "iso-8859-1"
    assert header.get_param("format") == "flowed"
    assert parameter_text(header.get_param("filename", header="content-disposition")) == "b.pdf"
    assert header.get_param("size", header="content-disposition") == "4"


def test_a_parameter_the_decoder_cannot_read_at_all_is_the_only_one_lost() -> None:
    from emaillog.mimeheader import read_header

    # A piece number of 5,000 digits: int() refuses it (ValueError), and the stdlib with it.
    header = read_header(
        b"Content-Type: multipart/mixed; boundary=B; x*" + b"1" * 5000 + b"=y; charset=utf-8\r\n"
    )
    assert (header.get_boundary(), header.get_content_charset()) == ("B", "utf-8")
    assert header.get_param("x") is None


def test_a_name_the_server_left_in_pieces_is_read_from_the_parts_own_header() -> None:
    # Dovecot 2.3 numbers name*= as the piece before it (0 if none) and, its numbers now not 0, 1 …,
    # hands the pieces over unjoined (as seen for the DOUBLED headers, in either order): the name
    # was "a" + "b.pdf" by a guess, or none. Not the server's to say: largemail reads the header.
    whole = b"utf-8''r%C3%A9sum%C3%A9.pdf"
    by_type = [b"application", b"pdf", [b"name*0*", whole, b"name*0*", b"utf-8''a", b"name*1*", b"b.pdf"]]
    unjoined = [b"filename*0*", b"utf-8''a", b"filename*1*", b"b.pdf", b"filename*1*", whole]
    pieces = [b"filename*0*", b"utf-8''Gr%C3%BC", b"filename*2", b"e.pdf"]  # filename*1 missing
    joined = [b"filename*", b"utf-8''Gr%C3%BC%C3%9Fe.pdf"]
    structure = [
        [
            [*by_type, None, None, b"base64", 4, None, None, None, None],
            [b"application", b"pdf", None, None, None, b"base64", 4, None, [b"attachment", unjoined], None],
            [b"application", b"pdf", None, None, None, b"base64", 4, None, [b"attachment", pieces], None],
            # A good filename beside a broken name: the filename, as a message read whole takes it.
            [*by_type, None, None, b"base64", 4, None, [b"attachment", joined], None],
        ],
        b"mixed",
    ]
    found = [(leaf.filename, leaf.filename_unjoined) for leaf in leaves(structure)]
    assert found == [(None, True), (None, True), (None, True), ("Grüße.pdf", False)]
