"""Parsing raw bytes: hostile headers, limits before parsing, bodies, attachments."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from support import BCC, FWD, REP, message

from emaillog.addresses import parse_addresses
from emaillog.contents import safe_filename
from emaillog.domains import company_domain
from emaillog.fulltree import MAX_TREE_PARTS
from emaillog.limits import Limits
from emaillog.message import Email, Malformed, parse
from emaillog.mime import check_structure, split_header
from emaillog.parallel import InlineParser, MessageParser, ParallelParser, ParseJob
from emaillog.rules.route import ReadForwards, RouteSettings


def test_reads_the_fields_the_rules_need() -> None:
    email = parse(
        message(
            cc=["Dana <dana@initech.example>"],
            bcc=["b@hooli.example"],
            attachments=[("offer.pdf", b"%PDF-1.4")],
        ),
        Limits(),
    )
    assert isinstance(email, Email)
    assert email.sender is not None and email.sender.address == "rita@acme.example"
    assert [a.address for a in email.cc] == ["dana@initech.example"]
    assert [a.address for a in email.bcc] == ["b@hooli.example"]
    assert email.delivered_to == ("log@acme.example",)
    assert email.message_id == "<m1@acme.example>" and email.date is not None and email.date.tzinfo
    assert [(a.filename, a.size) for a in email.attachments] == [("offer.pdf", 8)]


def test_two_from_headers_are_malformed() -> None:
    raw = message().replace(b"From:", b"From: a@x.example\r\nFrom:", 1)
    result = parse(raw, Limits())
    assert isinstance(result, Malformed) and "more than one From" in result.detail


@pytest.mark.parametrize("separator", [b" :", b"\t:", b"  \t :"])
def test_a_field_with_blanks_before_its_colon_is_read(separator: bytes) -> None:
    # RFC 5322 §4.5 (obs-fields): "Name :" is the field Name to every server; the stdlib dropped it,
    # so an auto-reply or list mail written so was answered, and a second From went unseen.
    raw = message(headers={"Auto-Submitted": "auto-replied", "List-Id": "<sales.lists.example>"})
    raw = raw.replace(b"Auto-Submitted:", b"Auto-Submitted" + separator).replace(
        b"List-Id:", b"List-Id" + separator
    )
    result = parse(raw, Limits())
    assert isinstance(result, Email), result
    names = {name for name, _ in result.headers}
    assert {"Auto-Submitted", "List-Id"} <= names, names
    hidden_from = parse(
        message().replace(b"From:", b"From" + separator + b" x@evil.example\r\nFrom:", 1), Limits()
    )
    assert isinstance(hidden_from, Malformed) and "more than one From" in hidden_from.detail


def test_missing_from_is_malformed() -> None:
    raw = b"To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"
    result = parse(raw, Limits())
    assert isinstance(result, Malformed) and "no readable From" in result.detail


def test_limits_are_checked_before_parsing() -> None:
    assert check_structure(b"x" * 101, Limits(max_message_bytes=100)) is not None
    assert "header section" in check_structure(b"X: " + b"a" * 2000, Limits(max_header_bytes=1000)).detail  # type: ignore[union-attr]


def nested(depth: int) -> bytes:
    head = b"From: a@b.example\r\n"
    parts = b""
    for n in range(depth):
        parts += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
    parts += b"Content-Type: text/plain\r\n\r\nx\r\n"
    for n in reversed(range(depth)):
        parts += b"--b%d--\r\n" % n
    return head + parts


def test_nesting_limit() -> None:
    assert check_structure(nested(50), Limits()) is None
    problem = check_structure(nested(51), Limits())
    assert problem is not None and "nested" in problem.detail


def test_part_limit() -> None:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(1001))
    raw = b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + b"--b--\r\n"
    problem = check_structure(raw, Limits())
    assert problem is not None and "parts" in problem.detail
    assert check_structure(raw, Limits(max_parts=2000)) is None


def attaching(*inner: bytes, encoding: bytes = b"", boundary: bytes = b"a") -> bytes:
    """A message that carries each of ``inner`` as an attached message/rfc822 part."""
    cte = b"Content-Transfer-Encoding: " + encoding + b"\r\n" if encoding else b""
    delimiter = b"--" + boundary + b"\r\nContent-Type: message/rfc822\r\n" + cte + b"\r\n"
    body = b"".join(delimiter + m + b"\r\n" for m in inner)
    head = b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
    return head + body + b"--" + boundary + b"--\r\n"


def many_parts(count: int) -> bytes:
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body + b"--b--\r\n"


def test_the_parts_of_attached_messages_count_toward_the_part_limit() -> None:
    # Counted as one part each, 400 attached messages of 999 parts took 17 s of CPU and 370 MB to
    # read as forwards; at the message size limit, minutes and gigabytes.
    problem = check_structure(attaching(*[many_parts(400)] * 3), Limits())
    assert problem is not None and "more than 1000 MIME parts" in problem.detail
    assert check_structure(attaching(*[many_parts(400)] * 2), Limits()) is None


def test_the_parts_of_an_attached_message_are_not_parts_of_the_message_itself() -> None:
    email = parse(attaching(many_parts(3)), Limits())
    assert isinstance(email, Email)
    assert [a.content_type for a in email.attachments] == ["message/rfc822"]


def test_attached_messages_count_toward_the_nesting_limit() -> None:
    # Each level is a multipart and an attached message in it: two containers.
    chain = b"From: c@d.example\r\n\r\nthe innermost\r\n"
    for level in range(25):
        chain = attaching(chain, boundary=b"a%d" % level)
    assert check_structure(chain, Limits()) is None
    problem = check_structure(attaching(chain, boundary=b"top"), Limits())
    assert problem is not None and "nested more than 50 deep" in problem.detail
    problem = check_structure(attaching(nested(50)), Limits())
    assert problem is not None and "nested" in problem.detail


def test_an_attached_message_sent_in_base64_is_one_part_whatever_its_size() -> None:
    # RFC 2046 forbids it, some clients do it: the encoded text has no header lines to limit.
    encoded = base64.encodebytes(many_parts(2000) * 200)
    raw = attaching(encoded, encoding=b"base64")
    assert len(encoded) > Limits().max_header_bytes
    assert check_structure(raw, Limits()) is None


def test_an_attached_message_only_labelled_base64_counts_as_any_other() -> None:
    # The stdlib reads an attached message as a message whatever its transfer encoding says.
    raw = attaching(*[many_parts(400)] * 3, encoding=b"base64")
    problem = check_structure(raw, Limits())
    assert problem is not None and "more than 1000 MIME parts" in problem.detail
    chain = b"From: c@d.example\r\n\r\nthe innermost\r\n"
    for level in range(26):
        chain = attaching(chain, encoding=b"base64", boundary=b"a%d" % level)
    problem = check_structure(chain, Limits())
    assert problem is not None and "nested more than 50 deep" in problem.detail


def lone_cr_forward(parts: int) -> bytes:
    """A forward whose attached message has ``parts`` parts split by lone CRs: line breaks to the
    stdlib's parser, not to the walker, which sees one part."""
    body = b"".join(b"--c\rContent-Type: text/plain\r\rx\r" for _ in range(parts)) + b"--c--\r"
    inner = b"From: c@d.example\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n" + body
    head = f"From: {REP}\r\nTo: {FWD}\r\nDelivered-To: {FWD}\r\nSubject: Fwd: x\r\n".encode()
    return (
        head
        + b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--a--\r\n"
    )


@pytest.mark.parametrize("parser", [InlineParser(), ParallelParser(workers=2)], ids=["inline", "workers"])
def test_a_tree_the_stdlib_would_split_into_too_many_parts_is_malformed(
    parser: MessageParser, tmp_path: Path
) -> None:
    # 400 attached messages of 999 parts split so took 17 s of CPU and 330 MB to read as forwards.
    job = ParseJob(Limits(), tmp_path, isolate=True, prepare=ReadForwards(RouteSettings(BCC, FWD, False)))
    try:
        [hostile, fine] = parser.submit([lone_cr_forward(MAX_TREE_PARTS), lone_cr_forward(50)], job)()
    finally:
        parser.close()
    assert isinstance(hostile.email, Malformed) and "more than 10000 MIME parts" in hostile.email.detail
    assert isinstance(fine.email, Email)


def test_header_injection_is_not_an_address() -> None:
    found = parse_addresses(["=?utf-8?q?x=0D=0ABcc:_victim@example.com?= <a@b.example>"])
    assert all("\n" not in (a.name or "") + a.address for a in found)


def test_attachment_names_cannot_be_paths() -> None:
    assert safe_filename("../../etc/passwd", "text/plain") == "passwd"
    assert safe_filename("a\x00b\r\n.txt", "text/plain") == "a_b__.txt"
    assert safe_filename(None, "message/rfc822") == "attachment.eml"


def test_an_attachment_name_cannot_turn_its_end_around() -> None:
    # U+202E (right-to-left override) made "invoice<RLO>fdp.exe" show as "invoiceexe.pdf".
    raw = message(attachments=[("invoice\u202efdp.exe", b"MZ"), ("\u2067a\u200fb\u2069.txt", b"x")])
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    assert [a.filename for a in email.attachments] == ["invoice_fdp.exe", "a_b_.txt"]
    assert safe_filename("שלום.pdf", "application/pdf") == "שלום.pdf"  # right-to-left letters are kept


def test_a_long_attachment_name_keeps_its_extension() -> None:
    # Cut at 200 characters, "Quarterly report … .pdf" lost its ".pdf": downloaded, it opened in nothing.
    long = "Quarterly report " + "x" * 300 + ".pdf"
    assert safe_filename(long, "application/pdf") == long[:196] + ".pdf"
    assert safe_filename("a" * 300, "text/plain") == "a" * 200
    assert safe_filename("a" * 250 + "." + "b" * 50, "text/plain") == ("a" * 250 + "." + "b" * 50)[:200]


def test_a_part_without_a_name_is_named_by_its_type() -> None:
    # A picture pasted into the body or an invitation has no file name; "attachment.bin" could not
    # be opened by the person who downloaded it.
    assert safe_filename(None, "image/png") == "attachment.png"
    assert safe_filename("", "text/calendar") == "attachment.ics"
    assert safe_filename(None, "application/octet-stream") == "attachment.bin"
    assert safe_filename(None, "application/x-unheard-of") == "attachment.bin"
    assert safe_filename(None, "application/pkcs7-mime") == "attachment.p7m"  # not the table's .p7c


def test_company_domain_is_registrable_and_not_free_mail() -> None:
    assert company_domain("mail.acme.co.uk") == "acme.co.uk"
    assert company_domain("gmail.com") is None and company_domain("yahoo.co.uk") is None


def test_html_is_sanitised_and_text_derived_when_missing() -> None:
    raw = (
        b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Hi<script>alert(1)</script><img src='http://t.example/p.gif'></p>"
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email) and email.html is not None
    assert "script" not in email.html and "t.example" not in email.html and email.text == "Hi"


def test_the_body_size_counts_the_bodies_that_came_not_the_text_read_from_html() -> None:
    # SPEC §8 limits the text and HTML parts: a 1.3 MB HTML-only email was "2.5 MB" with the text
    # read from it, and refused as over the 2 MB limit.
    html = "<p>" + "Here is the long proposal we discussed on the phone. " * 24_000 + "</p>"
    raw = b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + html.encode()
    email = parse(raw, Limits())
    assert isinstance(email, Email) and email.text.startswith("Here is the long proposal")
    assert email.body_bytes == len(html.encode()) < 2 * 1024 * 1024
    plain = message(body="Hello, here is our proposal.")
    assert parse(plain, Limits()).body_bytes == len("Hello, here is our proposal.\n")  # type: ignore[union-attr]


def test_a_name_given_whole_beside_its_pieces_is_the_whole_one() -> None:
    # name* beside name*0* makes the stdlib's RFC 2231 decoder raise TypeError: the message is not
    # given up as a crash, and the part is named as Thunderbird names it (it was read as nameless,
    # its charset lost with the name).
    raw = (
        b"From: carl@globex.example\r\nTo: rita@acme.example\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b'Content-Type: text/plain; charset=utf-8; name*="a b.pdf"; name*0*="x"\r\n\r\nhello\r\n--XX--\r\n'
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    assert [(a.filename, a.data) for a in email.attachments] == [("a b.pdf", b"hello")]


def test_an_encoded_word_whose_base64_does_not_decode_is_kept_as_written() -> None:
    # The stdlib raises HeaderParseError here; it crashed the message, which went to Error after
    # three passes as processing-failed instead of being logged.
    raw = (
        b"From: =?utf-8?b?A?= <rita@acme.example>\r\nTo: Carl <carl@globex.example>\r\n"
        b"Subject: Quote =?utf-8?b?A?=\r\nMessage-ID: <broken-word@acme.example>\r\n\r\nHello\r\n"
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    assert email.subject == "Quote =?utf-8?b?A?="
    assert email.sender is not None and email.sender.address == "rita@acme.example"


def test_a_header_of_deeply_nested_comments_does_not_crash_the_message() -> None:
    # The stdlib recurses once per nested "(": RecursionError crashed the message.
    nested = "(" * 1000 + "x" + ")" * 1000
    raw = (
        b"From: Rita <rita@acme.example>\r\nTo: Carl <carl@globex.example>\r\n"
        + f"Cc: {nested} <dan@globex.example>\r\n".encode()
        + b"Subject: Quote\r\nMessage-ID: <nested@acme.example>\r\n\r\nHello\r\n"
    )
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    assert [a.address for a in email.cc] == ["dan@globex.example"]


def delivery_status(blocks: int) -> bytes:
    block = b"Final-Recipient: rfc822; r@example.com\r\nAction: failed\r\n\r\n"
    return (
        b"From: mailer-daemon@b.example\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; b.example\r\n\r\n"
        + block * blocks
        + b"--r--\r\n"
    )


def test_the_blocks_of_a_delivery_status_count_toward_the_part_limit() -> None:
    # The stdlib makes a part of each block of fields: 10 MB of them made 1.4 million parts in the
    # tree the forward reader reads (14 s of CPU, 640 MB).
    problem = check_structure(delivery_status(1000), Limits())
    assert problem is not None and "more than 1000 MIME parts" in problem.detail
    assert check_structure(delivery_status(900), Limits()) is None
    assert isinstance(parse(delivery_status(2), Limits()), Email)


class _Searched(bytes):
    """Bytes that remember how far into them a search for a blank line reached."""

    furthest = 0

    def find(self, sub: object, start: object = None, end: object = None) -> int:  # type: ignore[override]
        assert isinstance(end, int)
        _Searched.furthest = max(_Searched.furthest, end)
        return super().find(sub, start, end)  # type: ignore[arg-type]


def test_a_header_section_is_searched_for_only_as_far_as_one_may_reach() -> None:
    # An LF message with a long header and no CRLF blank line: the CRLF one was looked for through
    # the whole part, once per level of nesting (48 levels of 70 KB headers over 180 MB: 9 s).
    part = _Searched(b"X-Pad: " + b"a" * 70_000 + b"\n\n" + b"x" * 3_000_000)
    assert split_header(part, 0, len(part)) == (70_008, 70_009)
    assert _Searched.furthest <= Limits().max_header_bytes + 4
