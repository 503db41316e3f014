"""Planning a notice from a real parse and decision (SPEC §11): what the rep is told, and who is told."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from support import BCC, FWD, NOTICES_ON, crm_with_rep, forwarded_as_attachment, message

from emaillog import admin
from emaillog.limits import Limits
from emaillog.message import parse
from emaillog.notices.plan import NoticePlanner, NoticeVerdict
from emaillog.rules import decide
from emaillog.rules.attribution import attribute
from emaillog.settings import Settings
from emaillog.store import Store

Crm = tuple[Store, Settings]


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    return crm_with_rep(tmp_path, **NOTICES_ON)


def plan(crm: Crm, raw: bytes) -> NoticeVerdict:
    store, settings = crm
    email = parse(raw, Limits())
    decision = decide(email, settings, store.lookup)
    # As the batch asks it: is the sender a CRM user?
    planner = NoticePlanner(
        settings, store.account_id, lambda key: attribute(key, store.lookup).user is not None
    )
    return planner.plan(email, raw, decision, "d|x/1/1")


def notice_of(verdict: NoticeVerdict) -> EmailMessage:
    assert verdict.notice is not None, verdict.why
    return message_from_bytes(verdict.notice.raw, policy=policy.default)  # type: ignore[return-value]


def text_and_status(notice: EmailMessage) -> tuple[str, str]:
    text = next(p for p in notice.walk() if p.get_content_type() == "text/plain")
    status = next(p for p in notice.walk() if p.get_content_type() == "message/delivery-status")
    return str(text.get_content()), status.as_string()  # type: ignore[attr-defined]


def test_a_forward_notice_names_the_forwarding_address_it_was_sent_to(crm: Crm) -> None:
    raw = message(to=(FWD,), delivered_to=FWD, subject="Fwd: hello", body="see below")
    text, status = text_and_status(notice_of(plan(crm, raw)))
    assert f"Sent to:  {FWD}" in text
    assert f"Final-Recipient: rfc822; {FWD}" in status


def test_a_bcc_notice_names_the_bcc_address(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    text, status = text_and_status(notice_of(plan(crm, message(sender="gone@acme.example"))))
    assert f"Sent to:  {BCC}" in text and f"send the email to {BCC} again" in text
    assert f"Final-Recipient: rfc822; {BCC}" in status


def test_a_refused_forward_is_to_be_sent_again_to_the_forwarding_address(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = message(sender="gone@acme.example", to=(FWD,), delivered_to=FWD, subject="Fwd: hello")
    text, _ = text_and_status(notice_of(plan(crm, raw)))
    assert f"Sent to:  {FWD}" in text and f"send the email to {FWD} again" in text


@pytest.mark.parametrize(
    ("field", "why"),
    [
        (b"Auto-Submitted : auto-replied", "suppressed-auto-submitted"),
        (b"List-Id\t: <sales.lists.example>", "suppressed-list-mail"),
        (b"Precedence : bulk", "suppressed-precedence"),
    ],
)
def test_robots_writing_obsolete_field_syntax_get_no_notice(crm: Crm, field: bytes, why: str) -> None:
    # RFC 5322 §4.5: blanks before the colon are still the field; it was dropped and answered.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = field + b"\n" + message(sender="gone@acme.example")
    assert plan(crm, raw).why == why


@pytest.mark.parametrize(
    "fields",
    [
        b"X-Auto-Response-Suppress: All",
        b"X-Auto-Response-Suppress: OOF, NDR, RN,\r\n NRN",  # folded where NDR is not the last word
        b"x-auto-response-suppress\t: =?us-ascii?Q?NDR?=",  # obsolete syntax, encoded
        b"X-Auto-Response-Suppress: OOF\r\nX-Auto-Response-Suppress: NDR",  # repeated
    ],
)
def test_a_sender_who_asked_for_no_delivery_reports_gets_no_notice(crm: Crm, fields: bytes) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = fields + b"\r\n" + message(sender="gone@acme.example")
    assert plan(crm, raw).why == "suppressed-response-suppress"


@pytest.mark.parametrize("value", [b"OOF, AutoReply", b"DR, OOF, AutoReply"])
def test_a_sender_who_asked_only_for_no_auto_replies_still_gets_the_notice(crm: Crm, value: bytes) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = b"X-Auto-Response-Suppress: " + value + b"\r\n" + message(sender="gone@acme.example")
    assert plan(crm, raw).why == "queued"


@pytest.mark.parametrize("to", [FWD, BCC])
def test_a_notice_forwarded_back_as_an_attachment_gets_no_second_notice(crm: Crm, to: str) -> None:
    # A rep who left (inactive) with a rule forwarding their mail to a logging address: the notice
    # about one refused message is forwarded back, refused, and a notice about it would be too.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    first = plan(crm, message(sender="gone@acme.example"))
    assert first.notice is not None
    assert plan(crm, forwarded_as_attachment("gone@acme.example", first.notice.raw, to)).why == (
        "suppressed-forwarded-notice"
    )


def test_a_notice_forwarded_back_inline_by_thunderbird_gets_no_second_notice(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    notice = notice_of(plan(crm, message(sender="gone@acme.example")))
    text, _ = text_and_status(notice)
    forward = message(
        sender="gone@acme.example",
        to=(FWD,),
        delivered_to=FWD,
        subject=f"Fwd: {notice['Subject']}",
        body=f"-------- Forwarded Message --------\nFrom: {notice['From']}\n\n{text}",
        headers={"X-Forwarded-Message-Id": notice["Message-ID"]},
        message_id="<fw-2@acme.example>",
    )
    assert plan(crm, forward).why == "suppressed-reply-to-notice"


def test_a_forward_quoting_a_notice_id_in_its_text_still_gets_a_notice(crm: Crm) -> None:
    # Only a Message-ID field names a notice: the same id in a sentence is not one.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    body = "Your notice <notice.0123456789abcdef0123456789abcdef@crm.acme.example> said no; why?"
    assert plan(crm, message(sender="gone@acme.example", body=body)).why == "queued"


@pytest.mark.parametrize(
    "field",
    [b"X-Loop: log@acme.example", b"X-Loop: crm-notices@acme.example (emaillog)"],
)
def test_mail_that_went_through_us_before_gets_no_notice(tmp_path: Path, field: bytes) -> None:
    store, settings = crm_with_rep(
        tmp_path, **{**NOTICES_ON, "EMAILLOG_NOTICE_FROM": "crm-notices@acme.example"}
    )
    admin.add_user(store, settings, "gone@acme.example", None, active=False, may_log=True)
    raw = field + b"\r\n" + message(sender="gone@acme.example")
    assert plan((store, settings), raw).why == "suppressed-loop"


def test_mail_that_went_through_another_mailbox_of_the_deployment_gets_no_notice(crm: Crm) -> None:
    # X-Loop naming a second team's logging address: that mailbox handled it (and may answer it).
    store, settings = crm
    fleet = dataclasses.replace(settings, fleet_logging_addresses=frozenset({"log@team-b.example"}))
    admin.add_user(store, settings, "gone@acme.example", None, active=False, may_log=True)
    raw = b"X-Loop: LOG@team-b.example\r\n" + message(sender="gone@acme.example")
    assert plan((store, fleet), raw).why == "suppressed-loop"


def test_a_notice_redirected_back_from_our_own_address_gets_no_notice(tmp_path: Path) -> None:
    # A redirect keeps the notice's From, which the company's relay signed, so it passes DMARC at
    # one of the company's domains. With a notice sender that is no mailer-daemon, and the marks a
    # forwarder may drop (Auto-Submitted, multipart/report) gone, only that From tells.
    env = {
        **NOTICES_ON,
        "EMAILLOG_NOTICE_FROM": "crm-notices@acme.example",
        "EMAILLOG_TRUSTED_AUTHSERV_IDS": "mx.acme.example",
    }
    store, settings = crm_with_rep(tmp_path, **env)
    passed = {"Authentication-Results": "mx.acme.example; dmarc=pass header.from=acme.example"}
    raw = message(sender="CRM <crm-notices@acme.example>", delivered_to=BCC, headers=passed)
    assert plan((store, settings), raw).why == "suppressed-notice-sender"


def test_a_malformed_forward_names_the_forwarding_address_it_was_delivered_to(crm: Crm) -> None:
    # No route is decided for a message that cannot be read; the delivery header still says where.
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(1001))
    raw = message(to=(FWD,), delivered_to=FWD).split(b"Content-Type:")[0]
    raw += b"Content-Type: multipart/mixed; boundary=p\r\n\r\n" + parts + b"--p--\r\n"
    text, status = text_and_status(notice_of(plan(crm, raw)))
    assert "more than 1000 MIME parts" in text
    assert f"Sent to:  {FWD}" in text and f"Final-Recipient: rfc822; {FWD}" in status


@pytest.mark.parametrize("path", [b"<> (bounce)", b"(null) <>", b" < > ", b"<MAILER-DAEMON> (x)"])
def test_a_null_return_path_with_comments_gets_no_notice(crm: Crm, path: bytes) -> None:
    # RFC 5322 §3.6.7: the path may carry comments and blanks around its angle brackets.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = b"Return-Path: " + path + b"\n" + message(sender="gone@acme.example")
    assert plan(crm, raw).why == "suppressed-null-sender"


def test_a_subject_that_reads_like_an_encoded_word_reaches_the_rep_as_written(crm: Crm) -> None:
    # The rep wrote the subject "=?utf-8?q?Hi?=", which their client had to encode to send it.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    written = "=?utf-8?q?Hi?="
    raw = message(sender="gone@acme.example", subject="SUBJECT").replace(
        b"Subject: SUBJECT", b"Subject: =?utf-8?q?=3D=3Futf-8=3Fq=3FHi=3F=3D?="
    )
    notice = notice_of(plan(crm, raw))
    text, _ = text_and_status(notice)
    assert notice["Subject"] == f"Not logged: {written}"
    assert f"  Subject:  {written}" in text.splitlines()


def arrival_date(notice: EmailMessage) -> datetime:
    _, status = text_and_status(notice)
    found = re.search(r"^Arrival-Date: (.+)$", status, re.M)
    assert found is not None, status
    return parsedate_to_datetime(found[1])


def test_arrival_date_is_when_the_mailbox_server_received_the_message(crm: Crm) -> None:
    # RFC 3464 §2.2.5: when the message arrived, which the topmost Received field (the mailbox
    # server's own) records; an earlier hop's is further down.
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    raw = (
        b"Received: from mx.acme.example by imap.acme.example with LMTP id 7;\r\n"
        b"\tFri, 20 Nov 2026 10:31:07 +0100 (CET)\r\n"
        b"Received: from rita-laptop by mx.acme.example; Fri, 20 Nov 2026 09:30:59 +0000\r\n"
    ) + message(sender="gone@acme.example")
    notice = notice_of(plan(crm, raw))
    assert arrival_date(notice) == datetime(2026, 11, 20, 9, 31, 7, tzinfo=UTC)
    text, _ = text_and_status(notice)
    assert "  Received: Fri, 20 Nov 2026 10:31:07 +0100" in text.splitlines()


@pytest.mark.parametrize(
    "received",
    [
        b"",  # appended by an IMAP client: no Received field at all
        b"Received: by imap.acme.example; not a date\r\n",
        b"Received: by imap.acme.example; Sat, 20 Nov 2066 10:31:07 +0000\r\n",  # a clock far ahead
    ],
)
def test_without_a_usable_received_date_the_arrival_is_when_it_was_read(crm: Crm, received: bytes) -> None:
    admin.add_user(crm[0], crm[1], "gone@acme.example", None, active=False, may_log=True)
    before = datetime.now(UTC).replace(microsecond=0)
    notice = notice_of(plan(crm, received + message(sender="gone@acme.example")))
    assert before <= arrival_date(notice) <= datetime.now(UTC)
