"""Notices through a real SMTP server on loopback: who gets one, who never does, and the outbox."""

from __future__ import annotations

import contextlib
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from peewee import OperationalError
from smtp_sink import SmtpSink
from support import (
    FWD,
    World,
    deliver,
    forwarded_as_attachment,
    hold_recording_until_the_main_thread_moves_on,
    make_world,
    message,
    smime_encrypted,
    two_mailboxes_of_one_account,
)

from emaillog import admin, views
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.notices import plan
from emaillog.poll import Pass
from emaillog.settings import Settings
from emaillog.store import open_store, outbox, store_for
from emaillog.store.models import Ledger, Outbox

REP = "rita@acme.example"


def notice_settings(sink: SmtpSink) -> dict[str, str]:
    """Notices on, sent through ``sink``."""
    return {
        "EMAILLOG_SMTP_HOST": sink.host,
        "EMAILLOG_SMTP_PORT": str(sink.port),
        "EMAILLOG_SMTP_SECURITY": "none",
        "EMAILLOG_NOTICE_FROM": "mailer-daemon@acme.example",
        "EMAILLOG_HOSTNAME": "crm.acme.example",
    }


def notices_world(
    tmp_path: Path, database_url: str, account: ImapAccount, sink: SmtpSink, **env: str
) -> World:
    w = make_world(tmp_path, database_url, account, **notice_settings(sink), **env)
    admin.add_user(w.store, w.settings, REP, "Rita Rep", active=True, may_log=True)
    return w


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink) -> World:
    return notices_world(tmp_path, database_url, imap_account, smtp_sink)


def received(sink: SmtpSink) -> list[tuple[str, tuple[str, ...], EmailMessage]]:
    return [
        (m.mail_from, m.rcpt_tos, message_from_bytes(m.raw, policy=policy.default))  # type: ignore[misc]
        for m in sink.messages
    ]


def report_status(notice: EmailMessage) -> str:
    status = next(p for p in notice.walk() if p.get_content_type() == "message/delivery-status")
    return status.as_string()


def test_rejection_notice_is_an_rfc3464_report_with_null_sender(world: World, smtp_sink: SmtpSink) -> None:
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    world.deliver(message(sender="gone@acme.example", message_id="<orig-1@acme.example>"))
    world.run_pass()
    [(mail_from, rcpts, notice)] = received(smtp_sink)
    assert mail_from == "" and rcpts == ("gone@acme.example",)
    assert notice.get_content_type() == "multipart/report"
    assert notice.get_param("report-type") == "delivery-status"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert (
        notice["In-Reply-To"] == "<orig-1@acme.example>" and notice["References"] == "<orig-1@acme.example>"
    )
    assert "5.7.1" in report_status(notice) and "sender-not-permitted" in report_status(notice)
    [row] = views.ledger(world.store)
    assert row["reason"] == "sender-not-permitted" and Outbox.get().status == "sent"


def test_notice_message_id_is_derived_from_the_ledger_key(world: World, smtp_sink: SmtpSink) -> None:
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    world.deliver(message(sender="gone@acme.example"))
    world.run_pass()
    [(_, _, notice)] = received(smtp_sink)
    from emaillog.notices.build import notice_message_id

    row = views.ledger(world.store)[0]
    key = f"default|{row['mailbox']}/{row['uidvalidity']}/{row['uid']}"
    assert notice["Message-ID"] == notice_message_id(key, "sender-not-permitted", "crm.acme.example")


def test_forward_not_recognised_gets_advice(world: World, smtp_sink: SmtpSink) -> None:
    world.deliver(message(delivered_to=FWD, subject="Fwd: hello", body="see below, nothing here"))
    world.run_pass()
    [(_, rcpts, notice)] = received(smtp_sink)
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert rcpts == (REP,) and "attachment" in text.lower()
    assert views.ledger(world.store)[0]["reason"] == "forward-not-recognised"


def test_an_encrypted_forward_gets_a_notice_that_names_the_encryption(
    world: World, smtp_sink: SmtpSink
) -> None:
    world.deliver(smime_encrypted(sender=f"Rita Rep <{REP}>", delivered_to=FWD, subject="FW: Contract terms"))
    world.run_pass()
    [(_, rcpts, notice)] = received(smtp_sink)
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert rcpts == (REP,)
    assert "encrypted (S/MIME)" in text and "cannot decrypt" in text and "encryption switched off" in text
    assert "x-emaillog; forward-not-recognised" in report_status(notice)
    [row] = views.ledger(world.store)
    assert (row["reason"], row["folder"]) == ("forward-not-recognised", "Error")


def test_body_too_large_is_rejected_with_notice(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    w = notices_world(tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_MAX_BODY_MB="1")
    w.deliver(message(body="x" * (1024 * 1024 + 10)))
    w.run_pass()
    assert views.ledger(w.store)[0]["reason"] == "body-too-large" and views.emails(w.store) == []
    [(_, _, notice)] = received(smtp_sink)
    assert "5.3.4" in report_status(notice)
    assert w.folder_counts()["Error"] == 1


def test_attachment_too_large_is_left_out_logged_and_named(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    w = notices_world(tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_MAX_ATTACHMENT_MB="1")
    w.deliver(message(attachments=[("small.pdf", b"s" * 1000), ("huge.zip", b"h" * (1024 * 1024 + 1))]))
    w.run_pass()
    [email] = views.emails(w.store)
    assert [(a["filename"], a["logged"]) for a in email["attachments"]] == [
        ("small.pdf", True),
        ("huge.zip", False),
    ]
    assert w.folder_counts()["Processed"] == 1
    [(_, _, notice)] = received(smtp_sink)
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "huge.zip" in text and "small.pdf" not in text
    stored = list((w.settings.attachments_dir).rglob("*"))
    assert sum(1 for p in stored if p.is_file()) == 1


def test_unauthenticated_is_rejected_without_notice(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    w = notices_world(
        tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_TRUSTED_AUTHSERV_IDS="mx.acme.example"
    )
    spoofed = {
        "Authentication-Results": "mx.acme.example; dkim=none; spf=fail smtp.mailfrom=acme.example; "
        "dmarc=fail header.from=acme.example"
    }
    passed = {"Authentication-Results": "mx.acme.example; dmarc=pass header.from=acme.example"}
    w.deliver(message(headers=spoofed), message(headers=passed, message_id="<ok@acme.example>"))
    w.run_pass()
    assert [(r["outcome"], r["reason"]) for r in views.ledger(w.store)] == [
        ("rejected", "unauthenticated"),
        ("logged", None),
    ]
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"List-Id": "<sales.lists.acme.example>"},
        {"Precedence": "bulk"},
        {"Return-Path": "<>"},
        # MS-OXCMAIL 2.1.3.2.20: the sender asked for no (non-)delivery reports, which a notice is.
        {"X-Auto-Response-Suppress": "OOF, NDR"},
    ],
)
def test_never_answers_robots_lists_or_bounces(
    world: World, smtp_sink: SmtpSink, headers: dict[str, str]
) -> None:
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    world.deliver(message(sender="gone@acme.example", headers=headers))
    world.run_pass()
    assert views.ledger(world.store)[0]["reason"] == "sender-not-permitted"
    assert smtp_sink.messages == []


def test_never_answers_mailer_daemon_or_strangers(world: World, smtp_sink: SmtpSink) -> None:
    world.deliver(
        message(sender="MAILER-DAEMON@mx.elsewhere.example"),
        message(sender="stranger@elsewhere.example", message_id="<2@x>"),
        message(sender="log@acme.example", message_id="<3@x>"),
    )
    world.run_pass()
    assert [r["reason"] for r in views.ledger(world.store)] == ["sender-not-a-user"] * 3
    assert smtp_sink.messages == []


def test_at_most_the_daily_limit_per_recipient(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    w = notices_world(tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_NOTICE_DAILY_LIMIT="3")
    admin.add_user(w.store, w.settings, "gone@acme.example", None, active=False, may_log=True)
    w.deliver(*[message(sender="gone@acme.example", message_id=f"<{n}@x>") for n in range(5)])
    w.run_pass()
    assert len(smtp_sink.messages) == 3
    assert len(views.ledger(w.store)) == 5


def test_the_daily_limit_holds_across_batches_recorded_meanwhile(
    tmp_path: Path,
    database_url: str,
    imap_account: ImapAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of one: each is recorded on the recording thread while the next is fetched. Deciding
    # one must wait for the notices the one before it queued, or the limit is counted short.
    w = notices_world(
        tmp_path,
        database_url,
        imap_account,
        smtp_sink,
        EMAILLOG_NOTICE_DAILY_LIMIT="3",
        EMAILLOG_BATCH_SIZE="1",
    )
    admin.add_user(w.store, w.settings, "gone@acme.example", None, active=False, may_log=True)
    hold_recording_until_the_main_thread_moves_on(monkeypatch)
    w.deliver(*[message(sender="gone@acme.example", message_id=f"<{n}@x>") for n in range(5)])
    w.run_pass()
    assert len(smtp_sink.messages) == 3
    assert w.folder_counts() == {"INBOX": 0, "Processed": 0, "Error": 5}


def test_the_daily_limit_holds_for_two_mailboxes_of_one_account_at_once(
    tmp_path: Path,
    database_url: str,
    dovecot: DevDovecot,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two mailboxes of one account (SPEC §14) each refuse three messages of one rep at the same time.
    # Each pass counted the rep's notices before the other's were recorded: limit 3 queued 6.
    boxes = two_mailboxes_of_one_account(
        tmp_path, database_url, dovecot, **notice_settings(smtp_sink), EMAILLOG_NOTICE_DAILY_LIMIT="3"
    )
    db = open_store(boxes[0]).db  # one database for both mailboxes' threads, as in a fleet
    admin.add_user(store_for(db, boxes[0]), boxes[0], "gone@acme.example", None, False, True)
    for box in boxes:
        gone = [message(sender="gone@acme.example", message_id=f"<{box.mailbox_name}{n}@x>") for n in "abc"]
        deliver(box, *gone)
    # Each count waits for the other pass's: both decide before either records.
    both_counted = threading.Barrier(2)

    def counted_together(account_id: int, recipient: str) -> int:
        count = outbox.sent_today(account_id, recipient)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_counted.wait(timeout=10)
        return count

    monkeypatch.setattr(plan, "sent_today", counted_together)

    def one_pass(box: Settings) -> None:
        mailbox = ImapMailbox(box.imap)  # type: ignore[arg-type]
        try:
            Pass(box, mailbox, store_for(db, box)).run()
        finally:
            mailbox.close()

    passes = [threading.Thread(target=one_pass, args=(box,)) for box in boxes]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    assert Outbox.select().count() == 3
    assert len(smtp_sink.messages) == 3
    traces = [row.trace_json for row in Ledger.select()]
    assert len(traces) == 6
    assert sum("suppressed-daily-limit" in trace for trace in traces) == 3


def test_outbox_waits_while_the_relay_is_down(
    world: World, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    smtp_sink.stop()
    world.deliver(message(sender="gone@acme.example"))
    world.run_pass()
    # Logging went on: the message is recorded and disposed although no notice could go out.
    assert world.folder_counts()["Error"] == 1
    row = Outbox.get()
    assert (row.status, row.attempts) == ("pending", 1) and row.last_error
    smtp_sink.start()
    Outbox.update(next_attempt_at=row.created_at).execute()  # the backoff has elapsed
    world.run_pass()
    assert len(smtp_sink.messages) == 1 and Outbox.get().status == "sent"


def test_never_log_forward_is_skipped_with_notice(world: World, smtp_sink: SmtpSink) -> None:
    admin.add_never_log(world.store, world.settings, "globex.example")
    body = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Carl <carl@globex.example>\n"
        "Date: Mon, 23 Nov 2026 at 09:15\nSubject: Pricing\nTo: Rita <rita@acme.example>\n\nHow much?\n"
    )
    world.deliver(message(delivered_to=FWD, subject="Fwd: Pricing", body=body))
    world.run_pass()
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("skipped", "never-log", "Processed")
    assert len(smtp_sink.messages) == 1


def test_processing_failed_after_three_attempts_gets_a_notice(
    world: World, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr("emaillog.batch.decide", crash)
    world.deliver(message())
    for _ in range(3):
        world.run_pass()
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["attempts"]) == ("rejected", "processing-failed", 3)
    assert world.folder_counts()["Error"] == 1
    assert len(smtp_sink.messages) == 1


def test_the_database_lost_while_deciding_is_not_held_against_the_message(
    world: World, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(*args: object, **kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    world.deliver(message())
    with monkeypatch.context() as m:
        m.setattr("emaillog.batch.decide", database_gone)
        for _ in range(3):
            with pytest.raises(OperationalError):
                world.run_pass()
    assert world.folder_counts() == {"INBOX": 1, "Processed": 0, "Error": 0}
    assert world.run_pass().outcomes == {"logged": 1}
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["attempts"]) == ("logged", 1)
    assert smtp_sink.messages == []


def test_malformed_message_from_a_rep_gets_a_notice(world: World, smtp_sink: SmtpSink) -> None:
    level = b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n'
    nested = b"".join(level % (n, n) for n in range(60))
    raw = (
        b"From: rita@acme.example\r\nTo: carl@globex.example\r\nSubject: Deep\r\n"
        b"Message-ID: <deep@acme.example>\r\nDelivered-To: log@acme.example\r\n"
        + nested
        + b"Content-Type: text/plain\r\n\r\nx\r\n"
    )
    world.deliver(raw)
    world.run_pass()
    [row] = views.ledger(world.store)
    assert (row["reason"], row["folder"]) == ("malformed", "Error") and "nested" in row["detail"]
    [(mail_from, rcpts, notice)] = received(smtp_sink)
    assert mail_from == "" and rcpts == (REP,) and "5.6.0" in report_status(notice)


def test_non_user_at_a_company_domain_and_authenticated_gets_a_notice(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    w = notices_world(
        tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_TRUSTED_AUTHSERV_IDS="mx.acme.example"
    )
    passed = {"Authentication-Results": "mx.acme.example; dmarc=pass header.from=acme.example"}
    w.deliver(message(sender="newhire@acme.example", headers=passed))
    w.run_pass()
    assert views.ledger(w.store)[0]["reason"] == "sender-not-a-user"
    [(_, rcpts, notice)] = received(smtp_sink)
    assert rcpts == ("newhire@acme.example",) and "5.7.1" in report_status(notice)


def utf8_message(sender: str, message_id: str) -> bytes:
    """A message whose From is written in UTF-8 as it is (RFC 6532), as the stdlib would not write it."""
    return (
        f"Delivered-To: log@acme.example\r\nFrom: {sender}\r\nTo: carl@globex.example\r\n"
        f"Subject: hello\r\nDate: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    ).encode()


def test_a_notice_the_relay_cannot_take_never_blocks_the_others(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    # A rep whose address has a non-ASCII local part, behind a relay without SMTPUTF8: smtplib cannot
    # even encode the RCPT command. That notice fails; the pass and the notices behind it go on.
    with SmtpSink(smtputf8=False) as sink:
        w = notices_world(tmp_path, database_url, imap_account, sink)
        admin.add_user(w.store, w.settings, "jörg@acme.example", None, active=False, may_log=True)
        admin.add_user(w.store, w.settings, "gone@acme.example", None, active=False, may_log=True)
        w.deliver(
            utf8_message("Jörg <jörg@acme.example>", "<1@x>"),
            message(sender="gone@acme.example", message_id="<2@x>"),
        )
        w.run_pass()
        assert [m.rcpt_tos for m in sink.messages] == [("gone@acme.example",)]
        assert sorted((r.recipient, r.status) for r in Outbox.select()) == [
            ("gone@acme.example", "sent"),
            ("jörg@acme.example", "failed"),
        ]


def test_an_internationalised_domain_travels_as_a_labels(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    with SmtpSink(smtputf8=False) as sink:
        w = notices_world(tmp_path, database_url, imap_account, sink)
        admin.add_user(w.store, w.settings, "gone@bücher.example", None, active=False, may_log=True)
        w.deliver(utf8_message("gone@bücher.example", "<1@x>"))
        w.run_pass()
        [received_one] = sink.messages
        assert received_one.rcpt_tos == ("gone@xn--bcher-kva.example",)
        notice = message_from_bytes(received_one.raw, policy=policy.default)
        assert [a.addr_spec for a in notice["To"].addresses] == ["gone@xn--bcher-kva.example"]


def test_a_notice_carrying_8bit_bytes_declares_them(world: World, smtp_sink: SmtpSink) -> None:
    # A small original is attached as it arrived; with UTF-8 in it, the notice is 8-bit data, which
    # RFC 6152 lets a client send only as BODY=8BITMIME.
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    raw = utf8_message("gone@acme.example", "<1@x>").replace(b"Subject: hello", "Subject: Grüße".encode())
    world.deliver(raw, message(sender="gone@acme.example", message_id="<2@x>"))
    world.run_pass()
    sent = {m.raw.isascii(): "BODY=8BITMIME" in m.mail_options for m in smtp_sink.wait_for(2)}
    assert sent == {False: True, True: False}


def test_the_daily_limit_counts_a_domain_however_it_is_spelled(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    # The CRM holds the Unicode domain, the From its A-labels (as mail normally carries it).
    w = notices_world(tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_NOTICE_DAILY_LIMIT="3")
    admin.add_user(w.store, w.settings, "gone@bücher.example", None, active=False, may_log=True)
    for n in range(2):
        w.deliver(
            *[message(sender="gone@xn--bcher-kva.example", message_id=f"<{n}.{i}@x>") for i in range(3)]
        )
        w.run_pass()
    assert len(smtp_sink.messages) == 3


def test_two_senders_of_one_account_send_each_notice_once(
    world: World, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two mailboxes may share an account (SPEC §14): their passes both deliver the account's outbox.
    # The second sender read the due notices before the first one sent them.
    from emaillog.notices import mailer
    from emaillog.store.outbox import due

    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    smtp_sink.stop()
    world.deliver(*[message(sender="gone@acme.example", message_id=f"<{n}@x>") for n in range(3)])
    world.run_pass()
    smtp_sink.start()
    Outbox.update(next_attempt_at=Outbox.created_at).execute()  # the backoff has elapsed
    read_by_the_other_sender = due(world.store.account_id)
    assert len(read_by_the_other_sender) == 3
    smtp = world.settings.notices.smtp  # type: ignore[union-attr]
    mailer.deliver_due(world.store.account_id, smtp)
    monkeypatch.setattr(mailer, "due", lambda account_id, limit=100: read_by_the_other_sender)
    mailer.deliver_due(world.store.account_id, smtp)
    assert len(smtp_sink.messages) == 3
    assert [r.status for r in Outbox.select()] == ["sent"] * 3


def test_the_per_message_log_line_escapes_control_characters_from_the_message_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # SPEC §13: one line per message. ESC from a Message-ID would drive the terminal that shows the
    # log, and journalctl shows a line holding control characters as "[blob data]".
    raw = message(message_id=None).replace(b"\n\n", b"\nMessage-ID: <a\x1b[2Jb@x>\n\n", 1)
    world.deliver(raw)
    with caplog.at_level("INFO", logger="emaillog.pass"):
        world.run_pass()
    [line] = [r.getMessage() for r in caplog.records if "outcome=" in r.getMessage()]
    assert line.isprintable() and "message_id=<a\\x1b[2Jb@x>" in line


def test_a_skipped_email_gets_a_notice_only_when_configured(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    internal_only = message(
        to=["Bob <bob@acme.example>", "log@acme.example"], message_id="<internal@acme.example>"
    )
    quiet = notices_world(tmp_path / "quiet", database_url, imap_account, smtp_sink)
    quiet.deliver(internal_only)
    quiet.run_pass()
    assert [(r["outcome"], r["reason"]) for r in views.ledger(quiet.store)] == [("skipped", "no-recipients")]
    assert received(smtp_sink) == []
    told = notices_world(
        tmp_path / "told", database_url, imap_account, smtp_sink, EMAILLOG_NOTICE_ON_SKIPPED="yes"
    )
    told.deliver(internal_only)
    told.run_pass()
    [(mail_from, rcpts, notice)] = received(smtp_sink)
    assert (mail_from, rcpts) == ("", (REP,))
    assert "5.1.0" in report_status(notice) and "no-recipients" in report_status(notice)
    text = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "  - bob@acme.example (" in text and "  - log@acme.example (" in text
    # Skipped is not an error: both copies (one mailbox, two CRMs) went to Processed.
    assert told.folder_counts() == {"INBOX": 0, "Processed": 2, "Error": 0}


# How auto-replies mark themselves, if at all: each the only mark on a reply to a notice. The last
# says nothing of being automatic; only its In-Reply-To names the notice it answers.
AUTO_REPLY_MARKS = [
    {"Auto-Submitted": "auto-generated"},
    {"X-Autoreply": "yes"},
    {"X-Autorespond": "I am away"},
    {"Precedence": "auto_reply"},
    {"X-MS-Exchange-Inbox-Rules-Loop": "gone@acme.example"},
    {},
]


@pytest.mark.parametrize("marks", AUTO_REPLY_MARKS)
def test_an_auto_reply_to_a_notice_gets_no_second_notice(
    world: World, smtp_sink: SmtpSink, marks: dict[str, str]
) -> None:
    # A rep who left (inactive) has a vacation reply on; it answers our notice, and the notice's
    # sender delivers into the logging mailbox. Refused again, it must be refused silently: a notice
    # to it would be answered in turn, a loop only the daily limit would end, ten notices later.
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    world.deliver(message(sender="gone@acme.example"))
    world.run_pass()
    [(_, _, notice)] = received(smtp_sink)
    threading = {} if marks else {"In-Reply-To": notice["Message-ID"], "References": notice["Message-ID"]}
    world.deliver(
        message(
            sender="gone@acme.example",
            to=["mailer-daemon@acme.example"],
            subject=f"Automatic reply: {notice['Subject']}",
            body="I have left Acme. Please write to sales@acme.example.",
            message_id="<away-1@acme.example>",
            headers={**marks, **threading},
        )
    )
    world.run_pass()
    assert [r["reason"] for r in views.ledger(world.store)] == ["sender-not-permitted"] * 2
    assert len(smtp_sink.messages) == 1


def test_a_notice_forwarded_back_as_an_attachment_gets_no_second_notice(
    world: World, smtp_sink: SmtpSink
) -> None:
    # A rep who left (inactive) with a rule forwarding every email to the BCC address as an
    # attachment: the notice comes back wrapped in a new message with none of its marks on top.
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    world.deliver(message(sender="gone@acme.example"))
    world.run_pass()
    [first] = smtp_sink.messages
    world.deliver(forwarded_as_attachment("gone@acme.example", first.raw, to=world.settings.bcc_address))
    world.run_pass()
    assert [r["reason"] for r in views.ledger(world.store)] == ["sender-not-permitted"] * 2
    assert len(smtp_sink.messages) == 1


def delivery_report(sender: str, headers: bytes = b"") -> bytes:
    """A bounce of one of our notices as Exchange writes it: a report from its system mailbox."""
    return (
        headers + b"Delivered-To: log@acme.example\r\nFrom: " + sender.encode() + b"\r\n"
        b"To: log@acme.example\r\nSubject: Undeliverable: Not logged: Proposal\r\n"
        b"Message-ID: <ndr-1@acme.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nDelivery has failed to these recipients.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n"
        b"Final-Recipient: rfc822; gone@acme.example\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
        b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: mailer-daemon@acme.example\r\n"
        b"Message-ID: <notice.0123456789abcdef0123456789abcdef@crm.acme.example>\r\n\r\n--r--\r\n"
    )


def test_a_bounce_from_an_own_domain_system_mailbox_gets_no_notice(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, smtp_sink: SmtpSink
) -> None:
    # No Return-Path (the server that stored it wrote none), a From that is no daemon by name, at the
    # company's domain, and authenticated: every other rule lets a notice go to the bounce's sender.
    w = notices_world(
        tmp_path, database_url, imap_account, smtp_sink, EMAILLOG_TRUSTED_AUTHSERV_IDS="mx.acme.example"
    )
    passed = b"Authentication-Results: mx.acme.example; dmarc=pass header.from=acme.example\r\n"
    w.deliver(
        delivery_report(
            "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@acme.example>", passed
        )
    )
    w.run_pass()
    [row] = views.ledger(w.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("rejected", "sender-not-a-user", "Error")
    assert smtp_sink.messages == []
