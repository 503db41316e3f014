"""Body text and header text in the charsets mail clients write, read through the parser as
Thunderbird (the WHATWG Encoding Standard) shows it: labels that lie, labels Python reads with a
smaller table or does not know, a stray byte kept rather than replaced."""

from __future__ import annotations

import base64
import binascii

import pytest

from emaillog.forwards import ForwardedMessage, forwards_of
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.mimepart import Uudecoder


def _email(body: bytes, charset: str, subject: bytes = b"Hello", sender: bytes = b"Rita") -> Email:
    head = [
        b"From: " + sender + b" <rita@acme.example>",
        b"To: carl@globex.example",
        b"Subject: " + subject,
        b"Message-ID: <c@acme.example>",
        b"MIME-Version: 1.0",
        b"Content-Type: text/plain; charset=" + charset.encode(),
        b"Content-Transfer-Encoding: 8bit",
    ]
    raw = b"\r\n".join(head) + b"\r\n\r\n" + body
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    return email


@pytest.mark.parametrize(
    ("text", "written_in", "label"),
    [
        # Korean Outlook labels Windows-949 text with EUC-KR's names; "똠" is outside EUC-KR.
        ("똠방각하 안녕하세요", "cp949", "ks_c_5601-1987"),
        ("똠방각하", "cp949", "euc-kr"),
        # Chinese clients label GBK text "gb2312"; "镕" and "喆" are outside GB 2312.
        ("镕基 喆 你好", "gb18030", "gb2312"),
        # Japanese clients label Windows-31J "shift_jis"; "①" and "髙" are NEC and IBM additions.
        ("① 髙橋 価格 ￥100", "cp932", "shift_jis"),
        ("香港 你好 嘅 咗", "big5hkscs", "big5"),  # Hong Kong Cantonese: HKSCS characters
        # Labels Python does not know, that mail clients do.
        ("สวัสดีครับ", "cp874", "windows-874"),
        ("שלום", "iso-8859-8", "iso-8859-8-i"),
        ("Grüße", "cp850", "cp-850"),
        # Labels that lie: UTF-8 bytes declared ASCII or Latin-1, Windows-1252 bytes declared UTF-8.
        ("Grüße €", "utf-8", "us-ascii"),
        ("Grüße €", "utf-8", "iso-8859-1"),
        ("“Grüße” – €", "cp1252", "utf-8"),
        ("Grüße", "utf-7", "unicode-1-1-utf-7"),
        ("こんにちは ｱｲ", "iso2022_jp_ext", "iso-2022-jp"),
    ],
)
def test_a_body_reads_as_a_mail_client_shows_it(text: str, written_in: str, label: str) -> None:
    assert _email(text.encode(written_in), label).text == text


def test_a_stray_latin1_byte_in_a_utf8_body_is_read_and_the_rest_stays_utf8() -> None:
    # A Latin-1 signature appended to a UTF-8 body: every "ü" became "�" (the whole part replaced).
    body = "Привет, Карл\n".encode() + "Grüße, Jürgen".encode("latin-1")
    assert _email(body, "utf-8").text == "Привет, Карл\nGrüße, Jürgen"


def test_iso_2022_jp_with_an_escape_python_lacks_keeps_the_rest_of_the_text() -> None:
    # ESC $ ( Q (JIS X 0213) mid-text: the part is all 7-bit, so it also "decodes" as UTF-8, and
    # the escape sequences were stored as the text ("\x1b$B$3$s…").
    body = "こんにちは".encode("iso2022_jp") + b" \x1b$(Q-!\x1b(B"
    text = _email(body, "iso-2022-jp").text
    assert text.startswith("こんにちは ") and "\x1b" not in text


def test_windows_1252_text_with_an_unassigned_byte_keeps_its_curly_quotes() -> None:
    body = "“Angebot” – 10 €".encode("cp1252") + b" \x81"
    assert _email(body, "iso-8859-1").text == "“Angebot” – 10 € \x81"


def _word(charset: bytes, data: bytes) -> bytes:
    return b"=?" + charset + b"?B?" + base64.b64encode(data) + b"?="


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        # Each was stored still encoded: the stdlib decoded the word strictly and gave up on the value.
        (_word(b"ks_c_5601-1987", "견적 똠방".encode("cp949")), "견적 똠방"),
        (_word(b"gb2312", "镕基 报价".encode("gb18030")), "镕基 报价"),
        (_word(b"shift_jis", "①見積".encode("cp932")), "①見積"),
        (_word(b"utf-8", "Grüße".encode("latin-1")), "Grüße"),
        (_word(b"windows-874", "สวัสดี".encode("cp874")), "สวัสดี"),
        (_word(b"x-unknown", "Grüße".encode("cp1252")), "Grüße"),
        ("Grüße ".encode() + _word(b"utf-8", "€".encode()), "Grüße €"),  # RFC 6532 text beside a word
        # A label that lies, as a body's does: UTF-8 bytes declared Latin-1 (was "GrÃ¼Ãe").
        (_word(b"iso-8859-1", "Grüße".encode()), "Grüße"),
        # A character split across two words, and the blank between them dropped (RFC 2047 §6.2).
        (_word(b"utf-8", "Grü".encode()[:3]) + b"\r\n " + _word(b"utf-8", "Grü".encode()[3:]), "Grü"),
        (b"=?utf-8*de?Q?Gr=C3=BC=C3=9Fe?= und =?utf-8?q?mehr=ZZ?=", "Grüße und mehr=ZZ"),
        (b"Offer =?utf-8?b?A?=", "Offer =?utf-8?b?A?="),  # base64 that cannot be read: kept as written
    ],
)
def test_a_subject_and_a_name_read_as_a_mail_client_shows_them(header: bytes, shown: str) -> None:
    email = _email(b"Hello", "utf-8", subject=header, sender=header)
    assert email.subject == shown
    assert email.senders[0].name == shown


def test_uudecoding_is_the_same_in_one_piece_and_in_chunks_and_keeps_a_padded_lines_data() -> None:
    payload = bytes(range(256)) * 3
    lines = [binascii.b2a_uu(payload[i : i + 45]) for i in range(0, len(payload), 45)]
    lines[1] = lines[1].rstrip(b"\n") + b"  junk\n"  # some encoders pad lines: the data is kept
    encoded = b"begin 644 f.bin\r\n" + b"".join(lines).replace(b"\n", b"\r\n") + b"`\r\nend\r\nafter\r\n"
    whole = Uudecoder()
    assert whole.feed(encoded) + whole.finish() == payload
    chunked = Uudecoder()
    pieces = [chunked.feed(encoded[i : i + 7]) for i in range(0, len(encoded), 7)]
    assert b"".join(pieces) + chunked.finish() == payload


def _forwarded_original(header: bytes) -> ForwardedMessage:
    """The original of a forward as attachment whose Subject, From and To are ``header``, read
    through ``parse`` as the pass reads it (``forwards_of``)."""
    inner = (
        b"From: " + header + b" <carl@globex.example>\r\nTo: " + header + b" <rita@acme.example>\r\n"
        b"Subject: " + header + b"\r\nDate: Fri, 20 Nov 2026 10:30:00 +0000\r\n"
        b"Message-ID: <original@globex.example>\r\n\r\nHello\r\n"
    )
    raw = (
        b"From: Rita <rita@acme.example>\r\nTo: log@acme.example\r\nSubject: FW: offer\r\n"
        b"Message-ID: <fw@acme.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nPlease log.\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    [original] = forwards_of(email)
    return original


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        # Read through the stdlib's header objects: '견적 �c방', '�F基 报价', 'Gr��e', 'Gr� �' (the
        # name) and 'GrÃ¼Ã\x9fe', where the same header on a BCC'd message was read right.
        (_word(b"ks_c_5601-1987", "견적 똠방".encode("cp949")), "견적 똠방"),
        (_word(b"gb2312", "镕基 报价".encode("gb18030")), "镕基 报价"),
        ("Grüße".encode("latin-1"), "Grüße"),  # raw 8-bit Windows-1252
        ("Grüße €".encode(), "Grüße €"),  # raw 8-bit UTF-8 (RFC 6532)
        (_word(b"utf-8", "Grü".encode()[:3]) + b"\r\n " + _word(b"utf-8", "Grü".encode()[3:]), "Grü"),
        (_word(b"iso-8859-1", "Grüße".encode()), "Grüße"),
        (b"Angebot\r\n f=C3=BCr =?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Angebot f=C3=BCr Grüße"),  # folded
    ],
)
def test_an_original_forwarded_as_attachment_reads_as_the_same_header_on_a_bccd_message(
    header: bytes, shown: str
) -> None:
    original = _forwarded_original(header)
    bccd = _email(b"Hello", "utf-8", subject=header, sender=header)
    assert (original.subject, original.sender_name) == (shown, shown)
    assert [a.name for a in original.to] == [shown]
    assert (bccd.subject, bccd.senders[0].name) == (shown, shown)


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        # Read as a display name was: its quotes were taken off ('Quote" request'), so the same email
        # BCC'd and forwarded as an attachment had two subjects and two fingerprints.
        (b'"Quote" request', '"Quote" request'),
        (b'Request for "Quote"', 'Request for "Quote"'),
        # A fold before a tab is folding: the tab stays as the space between the words ("ab" before).
        (b"Angebot\r\n\tfor Globex", "Angebot for Globex"),
        (b"  Hello \x1b[31mthere  ", "Hello [31mthere"),  # control characters out, ends stripped
    ],
)
def test_a_subject_is_the_same_bccd_or_forwarded_quotes_kept(subject: bytes, shown: str) -> None:
    assert _email(b"Hello", "utf-8", subject=subject).subject == shown
    assert _forwarded_original(subject).subject == shown
