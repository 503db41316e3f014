"""SPEC §9 threading when the reply is logged before the email it answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import FWD, REP, World, attached_forward, make_world, message

from emaillog import admin, views
from emaillog.devmail import ImapAccount
from emaillog.store import migrations, schema, threads
from emaillog.store.db import open_database
from emaillog.store.models import LoggedEmail, SchemaVersion


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def _carls_email(sender: str = "Carl Customer <carl@globex.example>", subject: str = "Seats") -> EmailMessage:
    """Carl's email to Rita as her client attaches it to a forward, with its real headers."""
    inner = EmailMessage()
    inner["From"] = sender
    inner["To"] = "Rita Rep <rita@acme.example>"
    inner["Subject"] = subject
    inner["Date"] = "Fri, 20 Nov 2026 09:15:42 +0100"
    inner["Message-ID"] = "<carl-1@globex.example>"
    inner.set_content("What would 50 seats cost us?\n")
    return inner


_ANSWER = {"In-Reply-To": "<carl-1@globex.example>", "References": "<carl-1@globex.example>"}


def test_an_answer_logged_before_the_email_it_answers_is_linked_when_that_arrives(world: World) -> None:
    # Rita BCCs her answer to Carl, then later forwards Carl's email itself as an attachment.
    world.deliver(message(message_id="<answer-1@acme.example>", subject="Re: Seats", headers=_ANSWER))
    world.run_pass()
    [answer] = views.emails(world.store)
    assert answer["thread_parent"] is None  # nothing to link to yet
    world.deliver(attached_forward(_carls_email(), sender=REP))
    assert world.run_pass().outcomes == {"logged": 1}
    answer, carls = views.emails(world.store)
    assert carls["message_id"] == "<carl-1@globex.example>" and carls["thread_parent"] is None
    assert answer["thread_parent"] == carls["id"]


def test_answers_stored_across_passes_are_all_linked_and_the_parent_keeps_its_own(world: World) -> None:
    # Two answers of Rita's logged in two passes, then Carl's email, itself an answer to Rita's offer
    # logged first: each answer is linked to Carl's, and Carl's stays linked to the offer.
    world.deliver(message(message_id="<offer@acme.example>", subject="Offer"))
    world.run_pass()
    world.deliver(message(message_id="<answer-1@acme.example>", subject="Re: Seats", headers=_ANSWER))
    world.run_pass()
    world.deliver(message(message_id="<answer-2@acme.example>", subject="Re: Seats", headers=_ANSWER))
    world.run_pass()
    carls = _carls_email()
    carls["In-Reply-To"] = "<offer@acme.example>"
    world.deliver(attached_forward(carls, sender=REP))
    world.run_pass()
    offer, first, second, carl = views.emails(world.store)
    assert carl["thread_parent"] == offer["id"]
    assert first["thread_parent"] == second["thread_parent"] == carl["id"]


def test_an_answer_is_linked_when_the_email_it_answers_gains_its_message_id(world: World) -> None:
    # Rita's answer first; then Sam forwards Carl's email inline (no Message-ID: known by its
    # fingerprint); then Rita forwards it as an attachment: the stored email takes its Message-ID
    # and, with it, the answer that was waiting for it.
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(message(message_id="<answer-1@acme.example>", subject="Re: Seats", headers=_ANSWER))
    world.run_pass()
    block = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Carl Customer <carl@globex.example>\n"
        "Date: Fri, Nov 20, 2026 at 9:15 AM\nSubject: Seats\nTo: Rita Rep <rita@acme.example>\n\n"
        "What would 50 seats cost us?\n"
    )
    inline = message(
        sender="Sam <sam@acme.example>",
        to=[FWD],
        subject="Fwd: Seats",
        body=block,
        message_id="<fwd-sam@acme.example>",
        delivered_to=FWD,
        date=datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    )
    world.deliver(inline)
    world.run_pass()
    answer, carls = views.emails(world.store)
    assert (carls["message_id"], answer["thread_parent"]) == (None, None)
    world.deliver(attached_forward(_carls_email(), sender=REP))
    world.run_pass()
    answer, carls = views.emails(world.store)
    assert carls["message_id"] == "<carl-1@globex.example>"
    assert answer["thread_parent"] == carls["id"]


def test_two_emails_naming_each_other_in_two_passes_make_no_loop(world: World) -> None:
    # Forged, or a broken mailer: A answers B, B answers A. A is logged first and stays unlinked; B,
    # logged later, is linked to A; A is then not linked to B, which would close a loop.
    world.deliver(message(message_id="<a@acme.example>", headers={"In-Reply-To": "<b@acme.example>"}))
    world.run_pass()
    world.deliver(message(message_id="<b@acme.example>", headers={"In-Reply-To": "<a@acme.example>"}))
    world.run_pass()
    a, b = views.emails(world.store)
    assert (a["thread_parent"], b["thread_parent"]) == (None, a["id"])


def test_a_loop_through_two_emails_of_one_batch_is_not_closed(world: World) -> None:
    # Stored: X1 answers <n1>, X2 answers <n2>. Then in one batch N1 (answering X2) and N2
    # (answering X1). Linking X1 under N1 is fine alone and so is X2 under N2, but both close
    # X1 -> N1 -> X2 -> N2 -> X1: the second link is not made.
    world.deliver(
        message(message_id="<x1@acme.example>", headers={"In-Reply-To": "<n1@acme.example>"}),
        message(message_id="<x2@acme.example>", headers={"In-Reply-To": "<n2@acme.example>"}),
    )
    world.run_pass()
    world.deliver(
        message(message_id="<n1@acme.example>", headers={"In-Reply-To": "<x2@acme.example>"}),
        message(message_id="<n2@acme.example>", headers={"In-Reply-To": "<x1@acme.example>"}),
    )
    world.run_pass()
    x1, x2, n1, n2 = views.emails(world.store)
    assert (n1["thread_parent"], n2["thread_parent"]) == (x2["id"], x1["id"])
    assert (x1["thread_parent"], x2["thread_parent"]) == (n1["id"], None)


def test_an_email_reusing_a_logged_message_id_adopts_no_answer(world: World) -> None:
    # An answer left unlinked though Carl's email is logged (an emaillog before this linking logged
    # both): Eve's email under Carl's Message-ID, logged now, is not the email it answers.
    world.deliver(message(message_id="<answer-1@acme.example>", subject="Re: Seats", headers=_ANSWER))
    world.run_pass()
    world.deliver(attached_forward(_carls_email(), sender=REP))
    world.run_pass()
    LoggedEmail.update(thread_parent=None).execute()
    world.deliver(attached_forward(_carls_email("Eve <eve@evil.example>", "Cheap seats"), sender=REP))
    world.run_pass()
    answer, carls, eves = views.emails(world.store)
    assert carls["from"] == "carl@globex.example"
    assert eves["from"] == "eve@evil.example" and eves["message_id"] == "<carl-1@globex.example>"
    assert answer["thread_parent"] is None


def test_the_replies_an_email_adopts_are_found_by_an_index_on_account_and_in_reply_to(tmp_path: Path) -> None:
    # Issue 6 item 5: the lookup's cost must not grow with the account's history. On a database
    # upgraded from version 1, as on a new one, SQLite searches the v15 index.
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}", migrate=False)
    migrations.MIGRATIONS[0](db)
    SchemaVersion.create(version=1)
    schema.upgrade(db)
    sql = threads._REPLIES_BY_IN_REPLY_TO.format(values="?, ?")
    plan = " ".join(row[-1] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", (1, "a", "b")).fetchall())
    assert "INDEX logged_email_account_id_in_reply_to (account_id=? AND in_reply_to=?)" in plan
    db.close()
