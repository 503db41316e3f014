"""Delivery-failure notices (SPEC §11): golden files per reason, hostile input, and the send policy.

The golden files in ``tests/data/notices/<reason>.ref`` are whole notices, serialised with a fixed
boundary and LF line endings (like Postfix's ``src/bounce/*.ref``). After an intended change, rewrite
them with ``UPDATE_GOLDEN=1 pytest tests/unit/test_notices.py`` and review the diff.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage, Message, MIMEPart
from email.policy import compat32, default
from pathlib import Path

import pytest

from emaillog.addresses import Address
from emaillog.limits import Limits
from emaillog.message import Email
from emaillog.message import parse as parse_email
from emaillog.notices import REASONS, NoticeFacts, NoticeRequest, build_notice, notice_allowed, reason_for
from emaillog.notices.build import notice_message_id
from emaillog.senderauth import AuthVerdict

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "notices"
REPO = Path(__file__).resolve().parents[2]
BOUNDARY = "=_golden_boundary_="
NOW = datetime(2026, 11, 28, 9, 5, 0, tzinfo=UTC)
ARRIVAL = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)

ORIGINAL = (
    b"Return-Path: <rep@acme.com>\r\n"
    b"From: Rita Rep <rep@acme.com>\r\n"
    b"To: Carla Customer <carla@customer.example>\r\n"
    b"Bcc: log@acme.com\r\n"
    b"Subject: Quote for 40 seats\r\n"
    b"Date: Sat, 28 Nov 2026 08:59:30 +0000\r\n"
    b"Message-ID: <quote-40@mail.acme.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hi Carla,\r\n\r\nhere is the quote: 40 seats at 12 \xe2\x82\xac.\r\n\r\nRita\r\n"
)

DETAILS: dict[str, dict[str, object]] = {
    "attachment-too-large": {
        "attachments": [("site-survey.mov", 73_400_320), ("drawings.zip", 55_574_528)],
        "limit": 50 * 1024 * 1024,
    },
    "body-too-large": {"body_size": 3_250_000, "limit": 2 * 1024 * 1024},
    "malformed": {"detail": "MIME parts are nested deeper than 50 levels"},
    "never-log": {"original_sender": "press@rival.example"},
    "no-recipients": {"recipients": {"ben@acme.com": "internal", "press@rival.example": "never-log"}},
    "processing-failed": {"attempts": 3},
    "forward-not-recognised-encrypted": {"variant": "encrypted", "encryption": "S/MIME"},
}
HEADER_SECTION = ORIGINAL.index(b"\r\n\r\n") + 4
# Reasons whose golden notice carries only the original's headers (the "large original" branch).
HEADERS_ONLY = {"body-too-large", "malformed"}
NOTIFYING = sorted(code for code, reason in REASONS.items() if reason.notifies)
# Every notice text (template, golden file): each notifying reason's own and its variants'.
TEXTS = sorted([*NOTIFYING, *(f"{code}-{v}" for code in NOTIFYING for v in REASONS[code].variants)])


def request(reason: str = "sender-not-a-user", **changes: object) -> NoticeRequest:
    base = NoticeRequest(
        reason=reason,
        recipient=Address("Rita Rep", "rep@acme.com"),
        notice_from=Address("CRM email logging", "crm-noreply@acme.com"),
        logging_address="log@acme.com",
        original_raw=ORIGINAL,
        original_message_id="<quote-40@mail.acme.com>",
        original_subject="Quote for 40 seats",
        ledger_key="acme|INBOX|1700000000|42",
        hostname="crm.acme.com",
        arrival=ARRIVAL,
        now=NOW,
        details=DETAILS.get(reason, {}),
        small_original_limit=HEADER_SECTION if reason in HEADERS_ONLY else 64 * 1024,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def text_request(text: str) -> NoticeRequest:
    """The request for one of TEXTS: a variant is its reason with the variant's details."""
    reason = next(code for code in NOTIFYING if text == code or text.startswith(f"{code}-"))
    return request(reason, details=DETAILS.get(text, {}))


def serialise(message: EmailMessage) -> bytes:
    message.set_boundary(BOUNDARY)
    return message.as_bytes().replace(b"\r\n", b"\n")


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, _class=EmailMessage, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(message: Message) -> list[MIMEPart]:
    payload = message.get_payload()
    assert isinstance(payload, list) and all(isinstance(p, MIMEPart) for p in payload)
    return [p for p in payload if isinstance(p, MIMEPart)]


def text_of(message: Message) -> str:
    content = parts(message)[0].get_content()
    assert isinstance(content, str)
    return content


# --- golden files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", TEXTS)
def test_notice_matches_golden_file(text: str) -> None:
    produced = serialise(build_notice(text_request(text)))
    golden = GOLDEN / f"{text}.ref"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(produced)
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
    assert produced == golden.read_bytes()


def test_every_golden_file_belongs_to_a_reason() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.ref")) == TEXTS


# --- structure (RFC 3464 / RFC 6522) ----------------------------------------------------------------


@pytest.mark.parametrize("reason", NOTIFYING)
def test_notice_is_a_delivery_status_report(reason: str) -> None:
    notice = parse(build_notice(request(reason)).as_bytes())
    assert notice.get_content_type() == "multipart/report"
    assert notice.get_param("report-type") == "delivery-status"
    text, status, original = parts(notice)
    assert text.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = parts(status)
    assert per_message["Reporting-MTA"] == "dns; crm.acme.com"
    assert per_message["Arrival-Date"] == "Sat, 28 Nov 2026 09:00:00 +0000"
    assert per_recipient["Final-Recipient"] == "rfc822; log@acme.com"
    assert per_recipient["Action"] == REASONS[reason].action
    assert per_recipient["Status"] == REASONS[reason].status
    assert per_recipient["Diagnostic-Code"] == f"x-emaillog; {reason}"
    expected = "text/rfc822-headers" if reason in HEADERS_ONLY else "message/rfc822"
    assert original.get_content_type() == expected


def test_an_internationalised_logging_address_is_reported_in_a_labels() -> None:
    # RFC 3464 §2.3.2: Final-Recipient is an addr-spec, in which an encoded word is not allowed
    # (RFC 2047 §5); the ASCII spelling of the domain is its A-labels.
    data = build_notice(request(logging_address="log@b\u00fccher.example")).as_bytes()
    _, status, _ = parts(parse(data))
    _, per_recipient = parts(status)
    assert per_recipient["Final-Recipient"] == "rfc822; log@xn--bcher-kva.example"
    assert b"=?" not in data.split(b"message/delivery-status", 1)[1].split(b"\r\n--", 1)[0]


@pytest.mark.parametrize("reason", ["malformed", "processing-failed"])
def test_without_a_message_id_the_rep_is_told_what_to_quote_instead(reason: str) -> None:
    text = text_of(parse(build_notice(request(reason, original_message_id=None)).as_bytes()))
    assert "  Message-ID: (none: quote the subject and the time received above)" in text.splitlines()


def test_notice_headers() -> None:
    notice = build_notice(request())
    assert str(notice["From"]) == "CRM email logging <crm-noreply@acme.com>"
    assert str(notice["To"]) == "Rita Rep <rep@acme.com>"
    assert str(notice["Subject"]) == "Not logged: Quote for 40 seats"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["In-Reply-To"] == "<quote-40@mail.acme.com>"
    assert notice["References"] == "<quote-40@mail.acme.com>"
    assert notice["Date"] == "Sat, 28 Nov 2026 09:05:00 +0000"


def test_forward_not_recognised_lists_clients_and_suggests_forward_as_attachment() -> None:
    text = text_of(build_notice(request("forward-not-recognised")))
    assert "as an attachment" in text
    for client in ("Gmail", "Outlook", "Apple Mail", "Thunderbird", "Yahoo Mail", "Samsung Mail"):
        assert client in text


def test_an_encrypted_forward_is_explained_as_encrypted_under_its_own_reason() -> None:
    notice = build_notice(text_request("forward-not-recognised-encrypted"))
    text = text_of(notice)
    assert "encrypted (S/MIME)" in text and "cannot decrypt" in text
    assert "encryption switched off" in text and "BCC the logging address" in text
    # The reason, its status and its subject are forward-not-recognised's: only the text differs.
    assert "x-emaillog; forward-not-recognised" in notice.as_string()
    assert str(notice["Subject"]).startswith("Not logged:")


def test_a_forward_with_no_recipients_says_where_it_went_and_what_to_bcc() -> None:
    # A rep who forwarded their own sent email: it reached the forwarding address, and the advice is
    # to BCC the BCC address next time, not the forwarding address.
    notice = build_notice(
        request("no-recipients", logging_address="log+fwd@acme.com", bcc_address="log@acme.com")
    )
    text = text_of(notice)
    assert "Sent to:  log+fwd@acme.com" in text
    assert "log@acme.com on the Bcc line" in text and "log+fwd@acme.com on the Bcc line" not in text


def test_an_unknown_notice_variant_is_a_bug() -> None:
    with pytest.raises(ValueError, match="variant"):
        request("forward-not-recognised", details={"variant": "sealed"})
    with pytest.raises(ValueError, match="variant"):
        request("malformed", details={"variant": "encrypted"})


def test_left_out_attachments_are_named_with_size_and_limit() -> None:
    notice = build_notice(request("attachment-too-large"))
    text = text_of(notice)
    assert "site-survey.mov (70 MB)" in text
    assert "drawings.zip (53 MB)" in text
    assert "larger than 50 MB" in text
    assert str(notice["Subject"]).startswith("Logged without some attachments:")


def test_hostile_attachment_names_stay_on_their_line() -> None:
    details = {"attachments": [("a.pdf\r\n\r\nClick http://evil.example", 99)], "limit": 10}
    text = text_of(build_notice(request("attachment-too-large", details=details)))
    assert "  - a.pdf Click http://evil.example (99 bytes)" in text


def test_bidirectional_overrides_cannot_disguise_an_attachment_name() -> None:
    # Shown with its override, "invoice\u202efdp.exe" reads "invoiceexe.pdf" (Trojan Source).
    details = {"attachments": [("invoice\u202efdp.exe", 99), ("\u2067report\u2069.pdf", 9)], "limit": 10}
    text = text_of(build_notice(request("attachment-too-large", details=details)))
    assert "  - invoice fdp.exe (99 bytes)" in text and "  - report .pdf (9 bytes)" in text
    assert not any("\u202a" <= c <= "\u202e" or "\u2066" <= c <= "\u2069" for c in text)


# --- hostile subject and Message-ID -------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?q?x=0D=0ABcc:_victim@example.com?=",
        "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
        "x\r\nBcc: victim@example.com",
        "x\nBcc: victim@example.com",
        "x\u2028Bcc: victim@example.com",
        "=?utf-8?q?x=0ABcc:_victim@example.com?= " + "=?utf-8?q?=C3=A9?=" * 80,
    ],
)
def test_encoded_newline_in_subject_never_creates_a_header(subject: str) -> None:
    data = build_notice(request(original_subject=subject)).as_bytes()
    notice = parse(data)
    assert "Bcc" not in notice
    assert len(notice.keys()) == len(set(notice.keys())) == 11
    assert "\n" not in str(notice["Subject"]) and "\r" not in str(notice["Subject"])
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\r\n"))


def test_empty_subject_says_so() -> None:
    assert str(build_notice(request(original_subject=None))["Subject"]) == "Not logged: (no subject)"


def test_long_subject_is_shortened() -> None:
    assert len(str(build_notice(request(original_subject="x" * 5000))["Subject"])) < 200


def test_display_names_with_newlines_are_flattened() -> None:
    notice = build_notice(request(recipient=Address("Rita\r\nBcc: x@evil.example", "rep@acme.com")))
    assert "Bcc" not in parse(notice.as_bytes())


def sender_of(from_header: str) -> Address:
    """The sender as the daemon reads it from a From header: its encoded words decoded once."""
    email = parse_email(f"From: {from_header}\r\nSubject: x\r\n\r\nbody\r\n".encode(), Limits())
    assert isinstance(email, Email) and email.sender is not None
    return email.sender


def written(data: bytes, field: str) -> str:
    """A header of a serialised notice as its bytes say, unfolded and never decoded."""
    value = message_from_bytes(data, policy=compat32)[field]
    return " ".join(str(value).split())


INJECTION = "=?utf-8?q?Rita=0D=0ABcc=3A_victim=40example.com?="  # decoded: "Rita" CR LF "Bcc: victim@…"


def test_a_display_name_that_reads_as_an_encoded_word_never_creates_a_header() -> None:
    # Encoded twice by the sender: decoded once, the name is the text of an encoded word.
    sender = sender_of(f"=?utf-8?b?{base64.b64encode(INJECTION.encode()).decode()}?= <rep@acme.com>")
    assert sender.name == INJECTION
    data = build_notice(request(recipient=sender)).as_bytes()
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\r\n"))
    # A reader decodes the name once, as the sender's client did, and shows the same text.
    assert str(make_header(decode_header(written(data, "To")))) == f"{INJECTION} <rep@acme.com>"


def test_a_local_part_that_reads_as_an_encoded_word_is_written_as_it_is() -> None:
    sender = sender_of(f"<{INJECTION}@acme.com>")
    data = build_notice(request(recipient=sender)).as_bytes()
    assert b"\r\nBcc:" not in data.split(b"\r\n\r\n", 1)[0]
    assert written(data, "To") == f"<{INJECTION}@acme.com>"  # an addr-spec is never decoded


@pytest.mark.parametrize(
    "message_id", ["not a message id", "<a b@c>", "<x@y>\r\nBcc: v@example.com", "<" + "a" * 600 + "@x>", ""]
)
def test_hostile_original_message_id_is_left_out(message_id: str) -> None:
    notice = parse(build_notice(request(original_message_id=message_id)).as_bytes())
    assert "In-Reply-To" not in notice and "References" not in notice and "Bcc" not in notice


def test_long_original_message_id_is_never_encoded() -> None:
    long_id = "<" + "a" * 300 + "@mail.acme.com>"
    data = build_notice(request(original_message_id=long_id)).as_bytes()
    assert b"In-Reply-To: " + long_id.encode() + b"\r\n" in data


def test_message_id_without_brackets_is_accepted() -> None:
    assert build_notice(request(original_message_id="abc@acme.com"))["In-Reply-To"] == "<abc@acme.com>"


# --- Message-ID of the notice -------------------------------------------------------------------------


def test_message_id_is_stable_for_the_same_ledger_key_and_reason() -> None:
    first = build_notice(request())["Message-ID"]
    again = build_notice(request(now=datetime(2026, 12, 1, tzinfo=UTC)))["Message-ID"]
    assert first == again
    assert first == notice_message_id("acme|INBOX|1700000000|42", "sender-not-a-user", "crm.acme.com")
    assert str(first).startswith("<notice.") and str(first).endswith("@crm.acme.com>")


def test_message_id_differs_per_ledger_key_and_per_reason() -> None:
    ids = {
        build_notice(request())["Message-ID"],
        build_notice(request(ledger_key="acme|INBOX|1700000000|43"))["Message-ID"],
        build_notice(request("malformed"))["Message-ID"],
    }
    assert len(ids) == 3


# --- the original: whole when small, headers when large ---------------------------------------------


def original_of(notice: EmailMessage) -> Message:
    return parts(parse(notice.as_bytes()))[2]


def test_small_original_is_attached_whole_byte_for_byte() -> None:
    data = build_notice(request(small_original_limit=len(ORIGINAL))).as_bytes()
    assert ORIGINAL in data
    assert original_of(build_notice(request())).get_content_type() == "message/rfc822"


def test_original_one_byte_over_the_limit_gets_headers_only() -> None:
    original = original_of(build_notice(request(small_original_limit=len(ORIGINAL) - 1)))
    assert original.get_content_type() == "text/rfc822-headers"
    text = original.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert b"Subject: Quote for 40 seats" in text and b"Hi Carla" not in text


def test_default_small_limit_is_64_kb() -> None:
    line = b"x" * 98 + b"\r\n"
    body = line * ((64 * 1024 - len(ORIGINAL)) // len(line))
    fits = dataclasses.replace(request(), original_raw=ORIGINAL + body)
    over = dataclasses.replace(request(), original_raw=ORIGINAL + body + line)
    assert len(fits.original_raw) <= 64 * 1024 < len(over.original_raw)
    assert original_of(build_notice(fits)).get_content_type() == "message/rfc822"
    assert original_of(build_notice(over)).get_content_type() == "text/rfc822-headers"


def test_header_only_original_is_cut_at_the_limit_on_a_line_end() -> None:
    raw = b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"v" * 40) for i in range(5000)) + b"\r\nbody"
    original = original_of(build_notice(request(original_raw=raw, small_original_limit=1000)))
    text = original.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert len(text) <= 1000 and text.endswith(b"\n") and text.startswith(b"X-Filler-0000")


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: nul\r\n\r\nbody\x00here\r\n",
        b"Subject: long line\r\n\r\n" + b"x" * 1200 + b"\r\n",
        b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
        + b"".join(
            b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(900)
        ),
    ],
    ids=["nul", "long-line", "deep-nesting"],
)
def test_originals_that_cannot_travel_whole_get_headers_only(raw: bytes) -> None:
    notice = build_notice(request(original_raw=raw))
    data = notice.as_bytes()
    assert original_of(notice).get_content_type() == "text/rfc822-headers"
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_hostile_header_bytes_in_headers_only_copy_are_cleaned() -> None:
    raw = b"Subject: a\x00b\x1bc " + b"z" * 2000 + b"\r\nX-8bit: \xff\xfe\r\n\r\nbody"
    data = build_notice(request(original_raw=raw, small_original_limit=10)).as_bytes()
    assert b"\x00" not in data and b"\x1b" not in data
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


# --- request validation ---------------------------------------------------------------------------------


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown notice reason"):
        request("no-such-reason")


def test_unauthenticated_never_gets_a_notice() -> None:
    with pytest.raises(ValueError, match="never gets a notice"):
        build_notice(request("unauthenticated"))


@pytest.mark.parametrize("hostname", ["", "bad host", "crm.acme.com>\r\nBcc: x", "-x.example"])
def test_bad_hostname_is_refused(hostname: str) -> None:
    with pytest.raises(ValueError, match="hostname"):
        request(hostname=hostname)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        request(now=datetime(2026, 11, 28, 9, 5))


# --- reasons table and templates -------------------------------------------------------------------------


def test_reason_table_codes() -> None:
    expected = {
        "sender-not-a-user": ("5.7.1", "failed"),
        "sender-not-permitted": ("5.7.1", "failed"),
        "forward-not-recognised": ("5.6.0", "failed"),
        "body-too-large": ("5.3.4", "failed"),
        "attachment-too-large": ("2.6.4", "delivered"),
        "malformed": ("5.6.0", "failed"),
        "never-log": ("5.7.1", "failed"),
        "no-recipients": ("5.1.0", "failed"),
        "processing-failed": ("5.3.0", "failed"),
        "unauthenticated": ("5.7.26", "failed"),
    }
    assert {code: (r.status, r.action) for code, r in REASONS.items()} == expected
    assert reason_for("processing-failed").transient_status == "4.3.0"
    assert not reason_for("unauthenticated").notifies


def test_admin_templates_match_the_packaged_defaults() -> None:
    admin = REPO / "config" / "notices"
    packaged = REPO / "emaillog" / "defaults" / "notices"
    names = sorted(f"{text}.txt" for text in TEXTS)
    assert sorted(p.name for p in admin.glob("*.txt")) == names
    for name in names:
        assert (admin / name).read_bytes() == (packaged / name).read_bytes(), name


def test_templates_dir_overrides_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "malformed.txt").write_text("Custom: $subject ($detail)\n", encoding="utf-8")
    custom = build_notice(request("malformed", templates_dir=tmp_path))
    fallback = build_notice(request("never-log", templates_dir=tmp_path))
    assert text_of(custom) == "Custom: Quote for 40 seats (MIME parts are nested deeper than 50 levels)\n"
    assert "never-log list" in text_of(fallback)


def test_templates_render_every_placeholder() -> None:
    for text in TEXTS:
        assert "$" not in text_of(build_notice(text_request(text))), text


# --- policy: when a notice is never sent (SPEC §11) -------------------------------------------------------

PASSED = AuthVerdict(True, "dmarc-pass")
FAILED = AuthVerdict(False, "dmarc-fail")


def facts(**changes: object) -> NoticeFacts:
    base = NoticeFacts(
        reason="sender-not-permitted",
        recipient=Address("Rita Rep", "rep@acme.com"),
        envelope_sender="rep@acme.com",
        from_address=Address("Rita Rep", "rep@acme.com"),
        headers=(("From", "Rita Rep <rep@acme.com>"), ("Auto-Submitted", "no")),
        sender_is_user=True,
        authentication=PASSED,
        logging_addresses=("log@acme.com", "log+fwd@acme.com"),
        own_domains=("acme.com",),
        sent_today=0,
        notice_sender="crm-notices@acme.com",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_ordinary_notice_is_allowed() -> None:
    assert notice_allowed(facts()).allowed
    assert notice_allowed(facts(authentication=None)).allowed


A_STRANGER = Address(None, "someone@elsewhere.example")
# The Message-ID of one of our notices (build.notice_message_id), which an auto-reply answers.
NOTICE_ID = "notice.0123456789abcdef0123456789abcdef@crm.acme.com"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"reason": "unauthenticated"}, "suppressed-silent-reason"),
        ({"recipient": None}, "suppressed-no-recipient"),
        ({"envelope_sender": ""}, "suppressed-null-sender"),
        ({"envelope_sender": "<>"}, "suppressed-null-sender"),
        ({"envelope_sender": "MAILER-DAEMON@mx.acme.com"}, "suppressed-null-sender"),
        ({"envelope_sender": "<postmaster@acme.com>"}, "suppressed-null-sender"),
        ({"from_address": None}, "suppressed-daemon-sender"),
        ({"from_address": Address(None, "Mailer-Daemon@acme.com")}, "suppressed-daemon-sender"),
        ({"from_address": Address(None, "postmaster@acme.com")}, "suppressed-daemon-sender"),
        ({"recipient": Address(None, "MAILER-DAEMON@acme.com")}, "suppressed-daemon-sender"),
        ({"headers": (("Auto-Submitted", "auto-replied"),)}, "suppressed-auto-submitted"),
        ({"headers": (("auto-submitted", "Auto-Generated (vacation)"),)}, "suppressed-auto-submitted"),
        (
            {"headers": (("Auto-Submitted", "auto-notified; owner-email=x@y.example"),)},
            "suppressed-auto-submitted",
        ),
        ({"headers": (("X-Autoreply", "yes"),)}, "suppressed-auto-submitted"),
        ({"headers": (("x-autorespond", "vacation"),)}, "suppressed-auto-submitted"),
        ({"headers": (("List-Id", "Sales <sales.acme.com>"),)}, "suppressed-list-mail"),
        ({"headers": (("List-Unsubscribe", "<mailto:leave@list.example>"),)}, "suppressed-list-mail"),
        ({"headers": (("Precedence", "bulk"),)}, "suppressed-precedence"),
        ({"headers": (("Precedence", " List "),)}, "suppressed-precedence"),
        ({"headers": (("Precedence", "junk"),)}, "suppressed-precedence"),
        ({"headers": (("Precedence", "Bulk (newsletter)"),)}, "suppressed-precedence"),
        ({"headers": (("Precedence", '"bulk"'),)}, "suppressed-precedence"),
        # Vacation responders that write neither Auto-Submitted nor X-Autoreply (RFC 3834 §3.1.8).
        ({"headers": (("Precedence", "auto_reply"),)}, "suppressed-precedence"),
        # Exchange marks what its inbox rules send (rule replies, forwards, redirects) with this.
        (
            {"headers": (("X-MS-Exchange-Inbox-Rules-Loop", "rep@acme.com"),)},
            "suppressed-auto-submitted",
        ),
        # A report (RFC 6522): a bounce or read receipt, whoever is named in its From.
        (
            {"headers": (("Content-Type", 'Multipart/Report; report-type="delivery-status"; boundary=r'),)},
            "suppressed-report",
        ),
        ({"headers": (("In-Reply-To", f"<{NOTICE_ID}>"),)}, "suppressed-reply-to-notice"),
        ({"headers": (("References", f"<a@b.example>\r\n <{NOTICE_ID}>"),)}, "suppressed-reply-to-notice"),
        ({"headers": (("List-Post", "<mailto:sales@lists.example>"),)}, "suppressed-list-mail"),
        ({"headers": (("List-Help", "<mailto:sales-request@lists.example>"),)}, "suppressed-list-mail"),
        ({"headers": (("list-archive", "<https://lists.example/sales>"),)}, "suppressed-list-mail"),
        # Marks of vacation responders and other robots that write no Auto-Submitted.
        ({"headers": (("X-AutoReply-From", "rep@acme.com"),)}, "suppressed-auto-submitted"),
        ({"headers": (("X-Mail-Autoreply", "yes"),)}, "suppressed-auto-submitted"),
        ({"headers": (("X-Autogenerated", "Reply"),)}, "suppressed-auto-submitted"),
        ({"headers": (("Precedence", "auto-reply"),)}, "suppressed-precedence"),
        ({"headers": (("X-Precedence", "bulk"),)}, "suppressed-precedence"),
        # Exim's bounces name the failed addresses here; only an MTA's report writes it.
        ({"headers": (("X-Failed-Recipients", "carl@globex.example"),)}, "suppressed-report"),
        # ezmlm and SmartList (vger.kernel.org) name their lists so, beside or instead of List-Id.
        (
            {"headers": (("Mailing-List", "contact sales-help@lists.example; run by ezmlm"),)},
            "suppressed-list-mail",
        ),
        ({"headers": (("X-Mailing-List", "<sales@lists.example>"),)}, "suppressed-list-mail"),
        # A notice forwarded back by Thunderbird (a filter that forwards the rep's mail to us).
        ({"headers": (("X-Forwarded-Message-Id", f"<{NOTICE_ID}>"),)}, "suppressed-reply-to-notice"),
        # procmail, sieve and list servers name who handled the message in X-Loop: we did.
        ({"headers": (("X-Loop", "log@acme.com"),)}, "suppressed-loop"),
        ({"headers": (("X-Loop", "Notices <CRM-Notices@acme.com> (emaillog)"),)}, "suppressed-loop"),
        (
            {"headers": (("X-Loop", "someone@else.example"), ("X-Loop", "log+fwd@acme.com"))},
            "suppressed-loop",
        ),
        # One of our notices, redirected back with its From, or a message to the notice sender.
        ({"from_address": Address(None, "crm-notices@ACME.com")}, "suppressed-notice-sender"),
        ({"recipient": Address(None, "crm-notices@acme.com")}, "suppressed-notice-sender"),
        ({"carries_notice": True}, "suppressed-forwarded-notice"),
        ({"recipient": Address(None, "LOG@acme.com")}, "suppressed-logging-address"),
        ({"from_address": Address(None, "log+fwd@ACME.com")}, "suppressed-logging-address"),
        ({"authentication": FAILED}, "suppressed-unauthenticated"),
        ({"sender_is_user": False, "authentication": None}, "suppressed-not-a-user"),
        (
            {"sender_is_user": False, "recipient": A_STRANGER, "from_address": A_STRANGER},
            "suppressed-not-a-user",
        ),
        ({"sent_today": 10}, "suppressed-daily-limit"),
        ({"sent_today": 3, "daily_limit": 3}, "suppressed-daily-limit"),
    ],
)
def test_each_suppression_rule(changes: dict[str, object], reason: str) -> None:
    verdict = notice_allowed(facts(**changes))
    assert not verdict.allowed and verdict.reason == reason


@pytest.mark.parametrize(
    "changes",
    [
        {"envelope_sender": None},
        {"headers": (("Auto-Submitted", "No"), ("Precedence", "first-class"))},
        {"headers": (("Auto-Submitted", "no (a person wrote this)"),)},
        {"headers": (("Content-Type", "multipart/mixed; boundary=report"),)},
        {"headers": (("In-Reply-To", "<notice.proposal@acme.com>"), ("References", "<notice.1@acme.com>"))},
        {"headers": (("X-Loop", "rep@acme.com"), ("X-Loop", "not an address"), ("X-Loop", "xlog@acme.com"))},
        {"headers": (("X-Forwarded-Message-Id", "<proposal@acme.com>"),)},
        {"headers": (("X-Mailing-List-Name", "sales"), ("X-Failed", "no"))},
        {"sender_is_user": False, "recipient": Address(None, "new.rep@eu.acme.com")},
        {"sent_today": 9},
    ],
)
def test_near_misses_are_still_allowed(changes: dict[str, object]) -> None:
    assert notice_allowed(facts(**changes)).allowed


# MS-OXCMAIL 2.1.3.2.20: X-Auto-Response-Suppress lists what automatic answers the sender wants none
# of, "NDR" being non-delivery reports, "All" everything; comma-separated, in any order. A notice
# that the email was not logged is a non-delivery report (RFC 3464), so those two stop it; "DR"
# (delivery reports), the others (read receipts, OOF, other auto-replies) and "None" do not. The
# value is a stranger's: folded, encoded, repeated, junk.
@pytest.mark.parametrize(
    "values",
    [
        ("All",),
        ("NDR",),
        ("RN, NRN, OOF, AutoReply, NDR",),
        ("all",),
        ("  nDr  ",),
        ("OOF,NDR",),
        ("OOF;NDR",),
        ("OOF NDR",),
        ("OOF,\r\n NDR",),  # folded
        ("OOF,\r\n\tNDR",),
        ('"All"',),
        ("=?us-ascii?Q?All?=",),  # RFC 2047, though nobody needs to encode it
        ("=?utf-8?B?T09GLCBORFI=?=",),  # "OOF, NDR"
        ("None, All",),  # contradictory: the refusal wins
        ("OOF", "NDR"),  # repeated: each field counts
        ("garbage;;; ,, NDR ,,",),
        ("NDR (no bounces please)",),
    ],
)
def test_x_auto_response_suppress_of_delivery_reports_stops_the_notice(values: tuple[str, ...]) -> None:
    headers = tuple(("X-Auto-Response-Suppress", value) for value in values)
    verdict = notice_allowed(facts(headers=headers))
    assert (verdict.allowed, verdict.reason) == (False, "suppressed-response-suppress")


@pytest.mark.parametrize(
    "value",
    [
        "None",
        "",
        "OOF",
        "AutoReply",
        "RN, NRN",
        "OOF, AutoReply",
        "DR",  # delivery reports: not a refusal
        "DR, OOF, AutoReply",  # among the commonest values on ordinary mail
        "OOF, DR, RN, NRN",  # what Cornell's Exchange rule adds to list mail
        "NDRX, ADR, DRAW, Allow, Alle",  # near misses: only whole words count
        "(All)",  # a comment says nothing
        "-1",  # the property's number, which the header is never written as
        "\x00\x01\x7f",
        "=?utf-8?B?!!!?=",
    ],
)
def test_x_auto_response_suppress_of_anything_else_still_allows_the_notice(value: str) -> None:
    assert notice_allowed(facts(headers=(("x-auto-response-suppress", value),))).allowed


def test_x_auto_response_suppress_dr_stops_only_a_logged_with_loss_notice() -> None:
    # attachment-too-large: logged, its action "delivered" (RFC 3464 §2.3.3), a delivery report.
    logged = {"reason": "attachment-too-large"}
    for value in ("DR", "OOF, DR", "All"):
        verdict = notice_allowed(facts(**logged, headers=(("X-Auto-Response-Suppress", value),)))
        assert verdict.reason == "suppressed-response-suppress", value
    assert notice_allowed(facts(**logged, headers=(("X-Auto-Response-Suppress", "NDR"),))).allowed


def test_a_colleague_at_an_own_domain_needs_authentication() -> None:
    colleague = {"sender_is_user": False, "recipient": Address(None, "new.rep@acme.com")}
    assert notice_allowed(facts(**colleague, authentication=PASSED)).allowed
    assert notice_allowed(facts(**colleague, authentication=None)).reason == "suppressed-not-a-user"
    lookalike = {"sender_is_user": False, "recipient": Address(None, "rep@notacme.com")}
    assert notice_allowed(facts(**lookalike)).reason == "suppressed-not-a-user"
