"""Planning a notice from a real parse and decision (SPEC §11): what the rep is told, and who is told."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import BCC, FWD, NOTICES_ON, crm_with_rep, message

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
