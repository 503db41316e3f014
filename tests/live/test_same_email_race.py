"""Two mailboxes of one account recording the same email, or the same new contact, at the same moment.

A rep BCCs both logging addresses of the account, or two reps forward the same customer reply to
two mailboxes: the mailboxes are worked by two threads (or two processes), each batch in its own
transaction. Both look the email up, find nothing, and insert it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from threading import Barrier

import pytest
from support import BCC, REP, deliver, message, two_mailboxes_of_one_account

from emaillog import admin, views
from emaillog.devmail import DevDovecot
from emaillog.imapmailbox import ImapMailbox
from emaillog.poll import Pass
from emaillog.settings import Settings
from emaillog.store import open_store, store_for
from emaillog.store.batchwriter import _BatchWriter
from emaillog.store.models import Company, Contact, ContactAddress, Ledger, LoggedEmail
from emaillog.store.recorder import Recorder, Result


@pytest.fixture
def boxes(tmp_path: Path, database_url: str, dovecot: DevDovecot) -> tuple[Settings, Settings]:
    """Two mailboxes of the account acme, each with its own login and BCC address."""
    sales, support = two_mailboxes_of_one_account(tmp_path, database_url, dovecot)
    assert sales.account == support.account == "acme"
    admin.add_user(open_store(sales), sales, REP, "Rita Rep", True, True)
    return sales, support


@pytest.fixture
def side_by_side(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two mailboxes' first batches start recording together, and each, once it has looked up
    what is stored, waits for the other to have done the same: both find nothing and both write.
    Where only one batch of an account is let in at a time, the other cannot get there: the
    wait gives up (soon: both were ready to record) and the batch goes on."""
    arrived, looked_up = threading.Barrier(2, timeout=10.0), threading.Barrier(2, timeout=0.5)
    record = Recorder.record
    load_existing: Callable[[_BatchWriter], None] = _BatchWriter._load_existing
    first: dict[tuple[Barrier, int], bool] = {}

    def once(barrier: Barrier) -> None:
        """Meet the other thread at ``barrier``, on this thread's first batch only."""
        if first.setdefault((barrier, threading.get_ident()), True):
            first[barrier, threading.get_ident()] = False
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

    def record_together(recorder: Recorder, results: Sequence[Result]) -> None:
        once(arrived)
        record(recorder, results)

    def load_then_wait(writer: _BatchWriter) -> None:
        load_existing(writer)
        once(looked_up)

    monkeypatch.setattr(Recorder, "record", record_together)
    monkeypatch.setattr(_BatchWriter, "_load_existing", load_then_wait)
    yield


def both_passes(*mailboxes: Settings) -> list[BaseException]:
    """One pass of each mailbox, each on its own thread as a fleet runs them; what they raised."""
    failures: list[BaseException] = []
    db = open_store(mailboxes[0]).db  # one database for the process, a store per mailbox (fleet.py)

    def one(settings: Settings) -> None:
        assert settings.imap is not None
        mailbox = ImapMailbox(settings.imap)
        try:
            Pass(settings, mailbox, store_for(db, settings)).run()
        except BaseException as exc:
            failures.append(exc)
        finally:
            mailbox.close()

    threads = [threading.Thread(target=one, args=(s,)) for s in mailboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return failures


def ledger(settings: Settings) -> list[tuple[str, str, str | None]]:
    rows = Ledger.select().order_by(Ledger.mailbox)
    return [(r.mailbox, r.outcome, r.reason) for r in rows]


def test_the_same_email_in_two_mailboxes_at_once_is_one_email_and_a_duplicate(
    boxes: tuple[Settings, Settings], side_by_side: None
) -> None:
    sales, support = boxes
    raw = message(to=["Carl Customer <carl@globex.example>"], message_id="<both@acme.example>")
    deliver(sales, raw.replace(b"Delivered-To: " + BCC.encode(), b"Delivered-To: sales@acme.example"))
    deliver(support, raw.replace(b"Delivered-To: " + BCC.encode(), b"Delivered-To: support@acme.example"))
    failures = both_passes(sales, support)
    assert failures == []
    store = open_store(sales)
    emails = views.emails(store)
    assert [e["message_id"] for e in emails] == ["<both@acme.example>"]
    assert emails[0]["contacts"] == ["carl@globex.example"]
    [email] = emails
    assert sorted((r.outcome, r.reason or "", r.email_id) for r in Ledger.select()) == [
        ("logged", "", email["id"]),
        ("logged", "duplicate", email["id"]),
    ]
    assert {(r.attempts, r.failures, r.disposed) for r in Ledger.select()} == {(1, 0, True)}
    assert Contact.select().count() == ContactAddress.select().count() == 1
    assert Company.select().count() == 1
    assert LoggedEmail.select().count() == 1


def test_a_new_contact_in_two_emails_of_two_mailboxes_at_once_is_one_contact_of_both(
    boxes: tuple[Settings, Settings], side_by_side: None
) -> None:
    sales, support = boxes
    carl = "Carl Customer <carl@globex.example>"
    deliver(sales, message(to=[carl], message_id="<one@acme.example>", delivered_to="sales@acme.example"))
    deliver(support, message(to=[carl], message_id="<two@acme.example>", delivered_to="support@acme.example"))
    assert both_passes(sales, support) == []
    emails = views.emails(open_store(sales))
    assert sorted(e["message_id"] for e in emails) == ["<one@acme.example>", "<two@acme.example>"]
    assert [(e["contacts"], e["companies"]) for e in emails] == [
        (["carl@globex.example"], ["globex.example"])
    ] * 2
    assert Contact.select().count() == ContactAddress.select().count() == Company.select().count() == 1
    assert {(r.outcome, r.reason, r.attempts) for r in Ledger.select()} == {("logged", None, 1)}


def test_an_email_bccd_to_one_mailbox_and_forwarded_inline_to_the_other_at_once_is_one_email(
    boxes: tuple[Settings, Settings], side_by_side: None
) -> None:
    """SPEC §9: the inline copy has no Message-ID of the original; the two copies are one email by
    their fingerprint, which no unique index guards."""
    sales, support = boxes
    admin.ensure_contact(open_store(sales), sales, "carl@globex.example", "Carl")  # no contact to race for
    body = "Hello Carl,\nwhat would 50 seats cost you?\nRita"
    deliver(
        sales,
        message(
            to=["Carl <carl@globex.example>"],
            subject="Seats",
            body=body,
            message_id="<seats@acme.example>",
            delivered_to="sales@acme.example",
        ),
    )
    forward = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Rita Rep <rita@acme.example>\n"
        "Date: Fri, Nov 20, 2026 at 10:30 AM\nSubject: Seats\nTo: Carl <carl@globex.example>\n\n"
        f"{body}\n"
    )
    deliver(
        support,
        message(
            subject="Fwd: Seats",
            body=forward,
            message_id="<fwd@acme.example>",
            delivered_to="support+fwd@acme.example",
        ),
    )
    assert both_passes(sales, support) == []
    [email] = views.emails(open_store(sales))
    assert email["message_id"] == "<seats@acme.example>"
    assert sorted((r.outcome, r.reason or "") for r in Ledger.select()) == [
        ("logged", ""),
        ("logged", "duplicate"),
    ]


# PostgreSQL only: on SQLite the admin's insert waits for the batch's commit (one writer at a time).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_contact_an_admin_adds_while_a_batch_makes_it_is_one_contact(
    boxes: tuple[Settings, Settings],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An admin command (``deals add`` makes its contacts), or a process of an earlier version, does
    not wait for the account's batches: the contact it adds after the batch looked for it breaks a
    unique index, and the batch is recorded again, finding it."""
    sales, _ = boxes
    deliver(sales, message(message_id="<one@acme.example>", delivered_to="sales@acme.example"))
    load_existing: Callable[[_BatchWriter], None] = _BatchWriter._load_existing
    added: list[int] = []

    def load_then_add(writer: _BatchWriter) -> None:
        load_existing(writer)
        if not added:  # the batch's first lookup found no carl: the admin adds him now
            admin_store = store_for(writer.r.db, sales)
            add = threading.Thread(
                target=lambda: added.append(admin.ensure_contact(admin_store, sales, "carl@globex.example"))
            )
            add.start()
            add.join(timeout=10)
            assert added

    monkeypatch.setattr(_BatchWriter, "_load_existing", load_then_add)
    caplog.set_level(logging.INFO, logger="emaillog")
    assert both_passes(sales) == []
    [email] = views.emails(open_store(sales))
    assert (email["contacts"], email["companies"]) == (["carl@globex.example"], ["globex.example"])
    assert [c.id for c in Contact.select()] == added
    assert Company.select().count() == 1
    assert [(r.outcome, r.attempts) for r in Ledger.select()] == [("logged", 1)]
    # Said, not warned about: nothing for the admin to do.
    [redone] = [r for r in caplog.records if "recorded again" in r.getMessage()]
    assert redone.levelno == logging.INFO and "contact_address" in redone.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
