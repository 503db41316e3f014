"""The live servers themselves work: each test here proves one piece of the harness."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from imapclient import IMAPClient
from peewee import IntegerField, Model
from pg import PgCluster
from playhouse.db_url import connect
from smtp_sink import SmtpSink

from emaillog.devmail import DevDovecot, ImapAccount

MESSAGE = b"From: Ann <ann@example.org>\r\nTo: log@example.com\r\nSubject: hello\r\n\r\nBody.\r\n"


@contextmanager
def logged_in(account: ImapAccount) -> Iterator[IMAPClient]:
    client = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    client.login(account.user, account.password)
    try:
        yield client
    finally:
        client.logout()


def test_move_and_uidplus_are_advertised_after_login(imap_account: ImapAccount) -> None:
    with logged_in(imap_account) as client:
        capabilities = client.capabilities()
    assert b"MOVE" in capabilities
    assert b"UIDPLUS" in capabilities


def test_append_then_move_keeps_the_message(imap_account: ImapAccount) -> None:
    with logged_in(imap_account) as client:
        client.create_folder("Logged")
        client.append("INBOX", MESSAGE)
        client.select_folder("INBOX")
        uids = client.search("ALL")
        client.move(uids, "Logged")
        assert client.search("ALL") == []
        client.select_folder("Logged", readonly=True)
        moved = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
    assert [data[b"BODY[]"] for data in moved.values()] == [MESSAGE]


def test_idle_hears_an_append_from_another_connection(imap_account: ImapAccount) -> None:
    with logged_in(imap_account) as watcher, logged_in(imap_account) as writer:
        watcher.select_folder("INBOX")
        watcher.idle()
        try:
            writer.append("INBOX", MESSAGE)
            responses = watcher.idle_check(timeout=10)
        finally:
            watcher.idle_done()
    assert (1, b"EXISTS") in responses


def test_each_test_gets_an_empty_mailbox(imap_account: ImapAccount) -> None:
    with logged_in(imap_account) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_seeded_maildir_is_visible_in_order(dovecot: DevDovecot, imap_account: ImapAccount) -> None:
    subjects = [f"seed {n}" for n in range(50)]
    dovecot.seed_maildir(
        imap_account.user, "Backlog", [f"Subject: {s}\r\n\r\nx\r\n".encode() for s in subjects]
    )
    with logged_in(imap_account) as client:
        client.select_folder("Backlog", readonly=True)
        fetched = client.fetch("1:*", ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    seen = [
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip() for data in fetched.values()
    ]
    assert seen == subjects


def test_postgres_database_can_be_created_used_and_dropped(postgres: PgCluster) -> None:
    url = postgres.create_database("harness_check")
    db = connect(url)
    try:
        assert db.execute_sql("SELECT 1").fetchone() == (1,)
    finally:
        db.close()
    postgres.drop_database("harness_check")
    with pytest.raises(Exception, match="harness_check"):
        connect(url).connect()


class Counter(Model):
    value = IntegerField()


def test_database_url_works_on_every_backend(database_url: str) -> None:
    db = connect(database_url)
    with db.bind_ctx([Counter]):
        db.create_tables([Counter])
        Counter.create(value=41)
        assert Counter.select().count() == 1
    db.close()


def test_smtp_sink_records_the_null_sender_and_recipients(smtp_sink: SmtpSink) -> None:
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("", ["ann@example.org", "bob@example.org"], MESSAGE)
    [received] = smtp_sink.wait_for(1, timeout=10)
    assert received.mail_from == ""
    assert received.rcpt_tos == ("ann@example.org", "bob@example.org")
    assert received.raw.startswith(b"From: Ann <ann@example.org>")


def test_smtp_sink_comes_back_on_the_same_port(smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5)
    smtp_sink.start()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.sendmail("ann@example.org", ["bob@example.org"], MESSAGE)
    assert smtp_sink.wait_for(1)[0].mail_from == "ann@example.org"


def test_dovecot_restart_keeps_port_and_mail(dovecot: DevDovecot, imap_account: ImapAccount) -> None:
    with logged_in(imap_account) as client:
        client.append("INBOX", MESSAGE)
    dovecot.restart()
    with logged_in(imap_account) as client:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
