"""Text in the charsets mail clients write, lying labels and RFC 2231 file names included, stored as
Thunderbird shows it: the same whether the message is read whole or by sections (large)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

import pytest
from support import FWD, World, make_world

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.store.models import LoggedEmail


@pytest.fixture(params=["whole", "by sections"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    imap_account: ImapAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    if request.param == "by sections":  # every message counts as large: read from its BODYSTRUCTURE
        monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
        monkeypatch.setattr("emaillog.largemail.CHUNK", 4096)
    return make_world(tmp_path, database_url, imap_account)


def _percent(data: bytes) -> bytes:
    return "".join(f"%{byte:02X}" for byte in data).encode()


# (the file's header lines, the name Thunderbird shows)
FILES = [
    # Korean Outlook: its label is EUC-KR's, its bytes Windows-949 ("똠" is outside EUC-KR).
    (
        b"Content-Disposition: attachment; filename*=ks_c_5601-1987''" + _percent("똠방.pdf".encode("cp949")),
        "똠방.pdf",
    ),
    # Chinese clients: "gb2312" over GBK ("镕" is outside GB 2312).
    (
        b"Content-Disposition: attachment; filename*=gb2312''" + _percent("镕基.pdf".encode("gb18030")),
        "镕基.pdf",
    ),
    # A label that lies: UTF-8 bytes declared Latin-1, and none declared.
    (
        b"Content-Disposition: attachment; filename*=iso-8859-1''" + _percent("Grüße.pdf".encode()),
        "Grüße.pdf",
    ),
    (b"Content-Disposition: attachment; filename*=''" + _percent("Größe.pdf".encode()), "Größe.pdf"),
    # Continuations, one of them encoded, with a language tag.
    (
        b"Content-Disposition: attachment;\r\n filename*0*=utf-8'de'Angebot%20f%C3%BC;"
        b"\r\n filename*1=r-Carl.pdf",
        "Angebot für-Carl.pdf",
    ),
    # Raw 8-bit bytes in the header: UTF-8 (RFC 6532), else the Windows-1252 older clients wrote.
    ('Content-Disposition: attachment; filename="Straße.pdf"'.encode(), "Straße.pdf"),
    ('Content-Disposition: attachment; filename="Maß.pdf"'.encode("latin-1"), "Maß.pdf"),
    # Outlook's encoded words inside the quotes, a character split across two of them.
    (b'Content-Type: application/pdf; name="=?utf-8?B?R3LD?= =?utf-8?B?vMOfZS5wZGY=?="', "Grüße.pdf"),
    # A name given whole and again in pieces, by buggy clients: the whole one, as Thunderbird shows.
    (
        b"Content-Type: application/pdf; charset=x; name*=\"utf-8''r%C3%A9sum%C3%A9.pdf\";"
        b"\r\n name*0*=utf-8''a; name*1*=b.pdf",
        "résumé.pdf",
    ),
    (
        b"Content-Disposition: attachment; filename*0*=utf-8''a; filename*1*=b.pdf;"
        b"\r\n filename*=utf-8''r%C3%A9sum%C3%A9.pdf; size=4000",
        "résumé.pdf",
    ),
]


def _raw() -> bytes:
    subject = base64.b64encode("Angebot 똠방".encode("cp949"))
    head = (
        b"Delivered-To: log@acme.example\r\nFrom: =?gb2312?B?"
        + base64.b64encode("镕基".encode("gb18030"))
        + b"?= <rita@acme.example>\r\nTo: Carl Customer <carl@globex.example>\r\n"
        b"Subject: =?ks_c_5601-1987?B?" + subject + b"?=\r\n"
        b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <charsets@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n'
    )
    body = (
        b"--mix\r\nContent-Type: text/plain; charset=ks_c_5601-1987\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "똠방각하 안녕하세요".encode("cp949") + b"\r\n"
    )
    files = b"".join(
        b"--mix\r\n"
        + (b"" if b"Content-Type" in header else b"Content-Type: application/pdf\r\n")
        + header
        + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"%PDF-1.4 " + bytes([n]) * 4000).replace(b"\n", b"\r\n")
        for n, (header, _) in enumerate(FILES)
    )
    return head + body + files + b"--mix--\r\n"


def test_names_subject_and_text_are_stored_as_a_mail_client_shows_them(world: World) -> None:
    raw = _raw()
    whole = parse(raw, Limits())
    assert isinstance(whole, Email)
    assert [a.filename for a in whole.attachments] == [name for _, name in FILES]
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    assert [a["filename"] for a in email["attachments"]] == [name for _, name in FILES]
    assert (email["subject"], email["from_name"]) == ("Angebot 똠방", "镕基")
    assert email["text_body"].strip() == "똠방각하 안녕하세요"


def _word(charset: bytes, text: str, written_in: str) -> bytes:
    return b"=?" + charset + b"?B?" + base64.b64encode(text.encode(written_in)) + b"?="


def test_an_original_forwarded_as_attachment_is_stored_as_a_mail_client_shows_it(world: World) -> None:
    # Its headers were read through the stdlib's header objects, not as a BCC'd message's: the
    # Subject '견적 �c방', the sender's name '�F基'. By sections the original is kept in the skeleton.
    split = "Grü".encode()
    original = (
        b"From: " + _word(b"gb2312", "镕基", "gb18030") + b" <carl@globex.example>\r\n"
        b"To: " + "Jürgen Maß".encode("latin-1") + b" <rita@acme.example>\r\n"
        b"Cc: =?utf-8?B?"
        + base64.b64encode(split[:3])
        + b"?=\r\n =?utf-8?B?"
        + base64.b64encode(split[3:])
        + b"?= <dana@globex.example>\r\n"
        b"Subject: " + _word(b"ks_c_5601-1987", "견적 똠방", "cp949") + b"\r\n"
        b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <original@globex.example>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo Rita\r\n"
    )
    raw = (
        f"Delivered-To: {FWD}\r\nTo: {FWD}\r\n".encode() + b"From: Rita Rep <rita@acme.example>\r\n"
        b"Subject: FW: offer\r\nDate: Fri, 20 Nov 2026 11:00:00 +0000\r\nMessage-ID: <fw@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n'
        b"--mix\r\nContent-Type: text/plain\r\n\r\nPlease log.\r\n"
        b'--mix\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="o.eml"\r\n\r\n'
        + original
        + b"\r\n--mix--\r\n"
    )
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    assert (email["subject"], email["from_name"], email["route"]) == ("견적 똠방", "镕基", "forward")
    [row] = LoggedEmail.select()
    assert json.loads(row.to_json) == [{"name": "Jürgen Maß", "address": "rita@acme.example"}]
    assert json.loads(row.cc_json) == [{"name": "Grü", "address": "dana@globex.example"}]


def test_a_nul_in_a_body_is_not_text_and_the_message_is_logged(world: World) -> None:
    # Dovecot turns a raw NUL into 0x80, but one quoted-printable or base64 encodes comes through:
    # PostgreSQL refused it in a text column, and every pass failed on the message.
    raw = (
        b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
        b"To: Carl Customer <carl@globex.example>\r\nSubject: Nul\r\nMessage-ID: <nul@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello=00 Carl\r\n"
        b"--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"<p>Hello\x00 Carl</p>").replace(b"\n", b"\r\n")
        + b"--alt--\r\n"
    )
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None and email["text_body"].strip() == "Hello Carl"
    assert "Hello Carl" in email["html_body"]


def test_a_uuencoded_file_is_stored_decoded(world: World) -> None:
    # Stored as it came, the file a CRM user downloaded was its uuencoding, hashed as such.
    payload = bytes(range(256)) * 40
    lines = [binascii.b2a_uu(payload[i : i + 45]) for i in range(0, len(payload), 45)]
    raw = (
        b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
        b"To: Carl Customer <carl@globex.example>\r\nSubject: Old mailer\r\nMessage-ID: <uu@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n'
        b"--mix\r\nContent-Type: text/plain\r\n\r\nThe price list.\r\n"
        b'--mix\r\nContent-Type: application/octet-stream; name="prices.bin"\r\n'
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 prices.bin\r\n"
        + b"".join(lines).replace(b"\n", b"\r\n")
        + b"`\r\nend\r\n--mix--\r\n"
    )
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    [stored] = email["attachments"]
    assert (stored["filename"], stored["size"]) == ("prices.bin", len(payload))
    assert stored["sha256"] == hashlib.sha256(payload).hexdigest()
    assert Path(stored["path"]).read_bytes() == payload


def test_a_named_text_part_is_a_file_on_both_paths(world: World) -> None:
    # An inline text part with a file name is a file to a mail client and to a message read whole.
    # By sections, the server's structure calls it body text (inline, text/plain): it is kept in the
    # skeleton with its own MIME header, whose file name makes it a file there too.
    raw = (
        b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
        b"To: Carl Customer <carl@globex.example>\r\nSubject: Notes\r\nMessage-ID: <named@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n'
        b"--mix\r\nContent-Type: text/plain\r\n\r\nThe notes are attached.\r\n"
        b'--mix\r\nContent-Type: text/plain\r\nContent-Disposition: inline; filename="notes.txt"\r\n\r\n'
        + b"a line of the notes\r\n" * 100  # over the 1,000 bytes that make it large here
        + b"--mix--\r\n"
    )
    whole = parse(raw, Limits())
    assert isinstance(whole, Email)
    assert [a.filename for a in whole.attachments] == ["notes.txt"]
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    assert [a["filename"] for a in email["attachments"]] == ["notes.txt"]
    assert email["text_body"].strip() == "The notes are attached."


def test_old_mailers_labels_names_and_uuencoded_text_are_stored_as_a_mail_client_shows_them(
    world: World,
) -> None:
    # A quoted or trailing-junk transfer encoding (Dovecot's BODYSTRUCTURE says "7bit" for both: the
    # file was stored as its base64 by sections), a name in both forms (the plain one was kept), a
    # file uuencoded into the text (kept as text, the file nowhere).
    sheet = bytes(range(256)) * 40
    lines = b"".join(binascii.b2a_uu(sheet[i : i + 45]) for i in range(0, len(sheet), 45))
    text = b"Here are the prices.\n\nbegin 644 prices.xls\n" + lines + b"`\nend\n\nRita\n"
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 20

    def file(label: bytes, disposition: bytes) -> bytes:
        return (
            b"--mix\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
            + disposition
            + b"\r\nContent-Transfer-Encoding: "
            + label
            + b"\r\n\r\n"
            + base64.encodebytes(pdf).replace(b"\n", b"\r\n")
        )

    raw = (
        b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
        b"To: Carl Customer <carl@globex.example>\r\nSubject: Old mailer\r\n"
        b"Message-ID: <old@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n\r\n'
        b'--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "base64"\r\n\r\n'
        + base64.encodebytes(text).replace(b"\n", b"\r\n")
        + file(b'"base64"', b"filename=\"plain.pdf\"; filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf")
        + file(b"Base64; (sic)", b"filename*=utf-8''Ma%C3%9F.pdf; filename=\"plain.pdf\"")
        + b"--mix--\r\n"
    )
    world.deliver(raw)
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    assert email["text_body"].split() == ["Here", "are", "the", "prices.", "Rita"]
    stored = {a["filename"]: a for a in email["attachments"]}
    assert sorted(stored) == ["Grüße.pdf", "Maß.pdf", "prices.xls"]
    for name, data in (("Grüße.pdf", pdf), ("Maß.pdf", pdf), ("prices.xls", sheet)):
        assert stored[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert Path(stored[name]["path"]).read_bytes() == data
