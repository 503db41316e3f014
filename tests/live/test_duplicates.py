"""SPEC §9 across identities, and schema upgrades that apply themselves."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from html import escape as html_escape
from pathlib import Path

import pytest
from support import FWD, REP, World, attached_forward, make_world, message

from emaillog import admin, views
from emaillog.addresses import Address
from emaillog.devmail import ImapAccount
from emaillog.rules.identity import fingerprint_with_links
from emaillog.store import migrations, schema
from emaillog.store.db import open_database
from emaillog.store.models import ALL_MODELS, LoggedEmail, SchemaVersion


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def test_bccd_email_later_forwarded_inline_is_one_email(world: World) -> None:
    # Carl wrote to Rita; Rita BCC'd her reply… here: Carl's email reached the log by BCC from a
    # colleague's copy (Message-ID known), then Rita forwarded it inline (no Message-ID).
    admin.add_user(world.store, world.settings, "sam@acme.example", None, True, True)
    body = "Hello Rita,\nwhat would 50 seats cost us?\nCarl"
    world.deliver(
        message(
            sender="sam@acme.example",
            to=["Carl <carl@globex.example>"],
            subject="Seats",
            body=body,
            message_id="<seats-1@acme.example>",
        )
    )
    world.run_pass()
    forward = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Sam <sam@acme.example>\n"
        "Date: Fri, Nov 20, 2026 at 10:30 AM\nSubject: Seats\nTo: Carl <carl@globex.example>\n\n"
        "Hello Rita,\nwhat would 50 seats  cost us?\nCarl\n"
    )
    world.deliver(
        message(delivered_to=FWD, subject="Fwd: Seats", body=forward, message_id="<fwd-9@acme.example>")
    )
    world.run_pass()
    [email] = views.emails(world.store)
    assert email["message_id"] == "<seats-1@acme.example>"
    assert [(r["outcome"], r["reason"]) for r in views.ledger(world.store)] == [
        ("logged", None),
        ("logged", "duplicate"),
    ]


def _customer_reply(
    sender: str = "Carl Customer <carl@globex.example>",
    subject: str = "Re: Proposal",
    body: str = "Looks good, let's sign.\n",
    date: str = "Fri, 20 Nov 2026 09:15:42 +0100",
) -> EmailMessage:
    """A customer's reply as a rep's client attaches it to a forward, with its real headers."""
    inner = EmailMessage()
    inner["From"] = sender
    inner["To"] = "Rita Rep <rita@acme.example>"
    inner["Subject"] = subject
    inner["Date"] = date
    inner["Message-ID"] = "<reply-1@globex.example>"
    inner.set_content(body)
    return inner


def _inline_forward_of_the_reply(
    sender: str,
    body: str = "Looks good, let's sign.\n",
    original: tuple[str, str] = ("Carl Customer <carl@globex.example>", "Rita Rep <rita@acme.example>"),
) -> bytes:
    """The same reply (or ``original``'s email: author, recipient) forwarded inline by Gmail (no
    Message-ID), from a rep at +0100."""
    block = (
        f"FYI\n\n---------- Forwarded message ---------\nFrom: {original[0]}\n"
        f"Date: Fri, Nov 20, 2026 at 9:15 AM\nSubject: Re: Proposal\nTo: {original[1]}\n"
    )
    return message(
        sender=sender,
        to=[FWD],
        subject="Fwd: Re: Proposal",
        body=block + "\n" + body,
        message_id="<fwd-sam@acme.example>",
        delivered_to=FWD,
        date=datetime(2026, 11, 20, 10, 0, tzinfo=timezone(timedelta(hours=1))),
    )


def test_a_reply_forwarded_inline_and_as_attachment_in_one_pass_is_one_email(world: World) -> None:
    # Two reps forward the same customer reply at about the same time: Sam inline (known by its
    # fingerprint), Rita as an attachment (known by its Message-ID). Both reach one batch.
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(
        _inline_forward_of_the_reply("Sam <sam@acme.example>"),
        attached_forward(_customer_reply(), sender=REP),
    )
    assert world.run_pass().outcomes == {"logged": 2}
    [email] = views.emails(world.store)
    # The copy with the real headers is the one kept: replies to it are threaded by its Message-ID.
    assert (email["message_id"], email["from"]) == ("<reply-1@globex.example>", "carl@globex.example")
    ledger = [(r["email_id"], r["reason"]) for r in views.ledger(world.store)]
    # The inline copy came first but the attached one was written: the inline one is the duplicate.
    assert ledger == [(email["id"], "duplicate"), (email["id"], None)]


def test_a_reply_logged_from_an_inline_forward_gains_the_message_id_of_its_attached_copy(
    world: World,
) -> None:
    # Sam forwards Carl's reply inline (no Message-ID known); Rita later forwards it as an
    # attachment, real headers and all; then Rita answers Carl. The answer threads to the reply.
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(_inline_forward_of_the_reply("Sam <sam@acme.example>"))
    world.run_pass()
    world.deliver(attached_forward(_customer_reply(), sender=REP))
    world.run_pass()
    answer = {"In-Reply-To": "<reply-1@globex.example>", "References": "<reply-1@globex.example>"}
    world.deliver(message(message_id="<answer-1@acme.example>", subject="Re: Proposal", headers=answer))
    world.run_pass()
    reply, rita_answer = views.emails(world.store)
    assert (reply["from"], reply["message_id"]) == ("carl@globex.example", "<reply-1@globex.example>")
    assert rita_answer["thread_parent"] == reply["id"]
    ledger = [(r["email_id"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [(reply["id"], None), (reply["id"], "duplicate"), (rita_answer["id"], None)]
    # Known by its Message-ID now: a stranger's email under it is an email of its own (sameness).
    world.deliver(attached_forward(_customer_reply(**_REUSED_ID["stranger"]), sender=REP))
    world.run_pass()
    assert [e["from"] for e in views.emails(world.store)][2] == "eve@evil.example"


@pytest.mark.parametrize("eves_known_by", ["message-id", "fingerprint"])
def test_an_inline_copy_does_not_take_a_message_id_another_logged_email_holds(
    world: World, eves_known_by: str
) -> None:
    # Eve's email was logged first under the Message-ID Carl's reply carries: it is Eve's. Carl's
    # reply, logged from Sam's inline forward, stays without it when its attached copy comes.
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(attached_forward(_customer_reply(**_REUSED_ID["stranger"]), sender=REP))
    world.run_pass()
    if eves_known_by == "fingerprint":
        # Holding the Message-ID under another identity (as an email that reused one is stored):
        # the attached copy is then not found by its identity, only by its fingerprint.
        LoggedEmail.update(identity=LoggedEmail.fingerprint).execute()
    world.deliver(_inline_forward_of_the_reply("Sam <sam@acme.example>"))
    world.run_pass()
    world.deliver(attached_forward(_customer_reply(), sender=REP))
    world.run_pass()
    eves, carls = views.emails(world.store)
    assert (eves["from"], eves["message_id"]) == ("eve@evil.example", "<reply-1@globex.example>")
    assert (carls["from"], carls["message_id"]) == ("carl@globex.example", None)
    ledger = [(r["email_id"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [(eves["id"], None), (carls["id"], None), (carls["id"], "duplicate")]


# Carl's reply with a link, as two reps' clients forward it inline: Gmail writes the link's target
# into its text ("sign here <https://…>"), Outlook desktop sends HTML only, whose text has none.
_SIGN = "https://sign.globex.example/d/8841?u=rita"
_CARL, _RITA = "Carl Customer <carl@globex.example>", "Rita Rep <rita@acme.example>"
# Gmail's text of the reply (its lines wrapped): what a BCC'd copy of it holds as well.
_GMAIL_TEXT = f"Looks good. Please sign here\n<{_SIGN}> before Friday.\n\nCarl\n"


def _outlook_html_only_forward(sender: str, mid: str, original: tuple[str, str] = (_CARL, _RITA)) -> bytes:
    author, to = (html_escape(name, quote=False) for name in original)
    html = (
        '<html><body><p>FYI</p><div id="divRplyFwdMsg" dir="ltr"><hr><font face="Calibri">'
        f"<b>From:</b> {author}<br><b>Sent:</b> Friday, November 20, 2026 9:15 AM<br>"
        f"<b>To:</b> {to}<br><b>Subject:</b> Re: Proposal</font></div>"
        f'<div><p>Looks good. Please <a href="{_SIGN}">sign here</a> before Friday.</p>'
        "<p>Carl</p></div></body></html>"
    )
    # support.message's headers; its text body replaced by the HTML (Outlook sends no text part).
    msg = message_from_bytes(
        message(
            sender=sender,
            to=[FWD],
            subject="FW: Re: Proposal",
            message_id=mid,
            delivered_to=FWD,
            date=datetime(2026, 11, 20, 11, 0, tzinfo=timezone(timedelta(hours=1))),
        ),
        policy=default,
    )
    assert isinstance(msg, EmailMessage)
    msg.set_content(html, subtype="html")
    return bytes(msg)


def test_a_reply_forwarded_inline_from_two_clients_in_two_passes_is_one_email(world: World) -> None:
    # Sam forwards Carl's reply from Gmail, Rita the same reply later from Outlook: the link's
    # target in Gmail's text made another fingerprint, and the reply was logged twice.
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(_inline_forward_of_the_reply("Sam <sam@acme.example>", _GMAIL_TEXT))
    world.run_pass()
    world.deliver(_outlook_html_only_forward(REP, "<fwd-outlook@acme.example>"))
    world.run_pass()
    [email] = views.emails(world.store)
    assert (email["from"], email["subject"]) == ("carl@globex.example", "Re: Proposal")
    # The text logged is the email's as the first copy read it: only its identity leaves links out.
    assert _SIGN in LoggedEmail.get_by_id(email["id"]).text_body
    ledger = [(r["email_id"], r["outcome"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [(email["id"], "logged", None), (email["id"], "logged", "duplicate")]


def _as_a_version_before_schema_v10_stored_it(world: World) -> None:
    """The logged emails' fingerprints (and an inline forward's identity) as a version before
    schema v10 made them, link targets counted, and the database at schema version 9."""
    for email in LoggedEmail.select():
        sender = Address(None, email.from_address)
        old = fingerprint_with_links(sender, email.date.replace(tzinfo=UTC), email.subject, email.text_body)
        assert old != email.fingerprint  # else the test would upgrade nothing
        identity = old if email.identity.startswith("fp:") else email.identity
        LoggedEmail.update(fingerprint=old, identity=identity).where(LoggedEmail.id == email.id).execute()
    SchemaVersion.delete().where(SchemaVersion.version > 9).execute()
    assert schema.current_version(world.store.db) == 9


@pytest.mark.parametrize("before", ["bcc", "inline forward"])
def test_an_email_logged_before_the_v10_upgrade_is_one_with_a_copy_forwarded_after_it(
    world: World, before: str
) -> None:
    # Rita's email reached the log by BCC, or Sam forwarded it inline from Gmail, before the upgrade;
    # after it Sam forwards it inline from Outlook (HTML only, no link target in its text).
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    sam, original = "Sam <sam@acme.example>", (_RITA, _CARL)
    first = (
        message(
            subject="Re: Proposal",
            body=_GMAIL_TEXT,
            message_id="<sent-1@acme.example>",
            date=datetime(2026, 11, 20, 8, 15, tzinfo=UTC),
        )
        if before == "bcc"
        else _inline_forward_of_the_reply(sam, _GMAIL_TEXT, original)
    )
    world.deliver(first)
    world.run_pass()
    _as_a_version_before_schema_v10_stored_it(world)
    assert schema.upgrade(world.store.db) == schema.CURRENT_VERSION
    world.deliver(_outlook_html_only_forward(sam, "<fwd-outlook@acme.example>", original))
    world.run_pass()
    [email] = views.emails(world.store)
    assert (email["from"], email["subject"]) == ("rita@acme.example", "Re: Proposal")
    ledger = [(r["email_id"], r["outcome"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [(email["id"], "logged", None), (email["id"], "logged", "duplicate")]


def test_the_second_copy_of_an_email_in_one_pass_is_the_duplicate(world: World) -> None:
    # A message moved back to the intake folder while its copy still waits there: one pass reads both.
    world.deliver(message(), message())
    assert world.run_pass().outcomes == {"logged": 2}
    [email] = views.emails(world.store)
    ledger = [(r["email_id"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [(email["id"], None), (email["id"], "duplicate")]


def test_the_file_of_a_duplicate_is_not_stored(world: World) -> None:
    """A copy of a logged email is recorded as a duplicate, and its attachment row is the first copy's:
    a file only the copy carried (a mailer that sends again under one Message-ID) was written to the
    attachments dir all the same, named by no row, for good: one more on every such delivery."""
    first, again, later = (os.urandom(100_000) for _ in range(3))
    world.deliver(message(attachments=[("a.bin", first)]), message(attachments=[("a.bin", again)]))
    assert world.run_pass().outcomes == {"logged": 2}
    world.deliver(message(attachments=[("a.bin", later)]))
    assert world.run_pass().outcomes == {"logged": 1}

    [email] = views.emails(world.store)
    assert [a["sha256"] for a in email["attachments"]] == [hashlib.sha256(first).hexdigest()]
    stored = [p.name for p in world.settings.attachments_dir.rglob("*") if p.is_file()]
    assert stored == [hashlib.sha256(first).hexdigest()]


# A stranger's email under the Message-ID of Carl's reply, and a broken mailer of Carl's that gives
# a later email of his the same Message-ID: neither is Carl's reply.
_REUSED_ID = {
    "stranger": {"sender": "Eve <eve@evil.example>", "subject": "Cheap seats", "body": "Buy mine.\n"},
    "same sender, a day later": {"date": "Sat, 21 Nov 2026 14:02:10 +0100", "body": "One more thing.\n"},
}


@pytest.mark.parametrize("one_pass", [False, True], ids=["two passes", "one pass"])
@pytest.mark.parametrize("other", _REUSED_ID.values(), ids=_REUSED_ID.keys())
def test_another_email_under_a_logged_message_id_is_logged_on_its_own(
    world: World, other: dict[str, str], one_pass: bool
) -> None:
    carls = attached_forward(_customer_reply(), sender=REP)
    others = attached_forward(_customer_reply(**other), sender=REP)
    world.deliver(carls)
    if not one_pass:
        world.run_pass()
    world.deliver(others)
    world.run_pass()
    # Delivered again, each is a duplicate of its own email.
    world.deliver(others, carls)
    world.run_pass()
    first, second = views.emails(world.store)
    assert (first["subject"], first["date"]) == ("Re: Proposal", "2026-11-20T08:15:42+00:00")
    assert first["contacts"] == ["carl@globex.example"]
    expected = _customer_reply(**other)
    sender = expected["From"].addresses[0].addr_spec
    assert (second["subject"], second["from"]) == (expected["Subject"], sender)
    assert second["date"] == expected["Date"].datetime.astimezone(UTC).isoformat()
    assert second["message_id"] == "<reply-1@globex.example>"
    ledger = [(r["email_id"], r["reason"]) for r in views.ledger(world.store)]
    assert ledger == [
        (first["id"], None),
        (second["id"], None),
        (second["id"], "duplicate"),
        (first["id"], "duplicate"),
    ]


def test_a_reply_is_threaded_to_the_first_email_logged_under_its_message_id(world: World) -> None:
    # Eve's email reused the Message-ID of Carl's logged reply: Rita's answers to Carl, in the
    # same pass as Eve's email and in a later one, belong under Carl's email, not Eve's.
    world.deliver(attached_forward(_customer_reply(), sender=REP))
    world.run_pass()
    answer = {"In-Reply-To": "<reply-1@globex.example>", "References": "<reply-1@globex.example>"}
    world.deliver(
        attached_forward(_customer_reply(**_REUSED_ID["stranger"]), sender=REP),
        message(message_id="<answer-1@acme.example>", subject="Re: Proposal", headers=answer),
    )
    world.run_pass()
    world.deliver(message(message_id="<answer-2@acme.example>", subject="Re: Proposal", headers=answer))
    world.run_pass()
    carls, eves, first_answer, second_answer = views.emails(world.store)
    assert eves["subject"] == "Cheap seats"
    assert first_answer["thread_parent"] == second_answer["thread_parent"] == carls["id"]


def test_two_emails_with_different_message_ids_are_never_merged(world: World) -> None:
    world.deliver(message(message_id="<one@acme.example>"), message(message_id="<two@acme.example>"))
    world.run_pass()
    assert len(views.emails(world.store)) == 2


def test_a_version_1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = open_database(url, migrate=False)
    migrations.MIGRATIONS[0](db)
    SchemaVersion.create(version=1)
    columns = {c.name for c in db.get_columns(LoggedEmail._meta.table_name)}
    assert "fingerprint" not in columns and schema.current_version(db) == 1
    assert schema.upgrade(db) == schema.CURRENT_VERSION == schema.current_version(db)
    assert "fingerprint" in {c.name for c in db.get_columns(LoggedEmail._meta.table_name)}
    assert db.table_exists("outbox")


def _email_index_columns(db: object) -> set[tuple[str, ...]]:
    return {tuple(index.columns) for index in db.get_indexes(LoggedEmail._meta.table_name)}  # type: ignore[attr-defined]


def test_email_lookups_have_an_index_on_account_and_column(tmp_path: Path) -> None:
    # With an index on the account and another on the fingerprint, SQLite's planner chose the
    # account's and read every email the account ever logged, once per batch.
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = open_database(url, migrate=False)
    migrations.MIGRATIONS[0](db)
    SchemaVersion.create(version=1)
    schema.upgrade(db)
    upgraded = _email_index_columns(db)
    assert {("account_id", "fingerprint"), ("account_id", "message_id")} <= upgraded
    assert ("fingerprint",) not in upgraded and ("message_id",) not in upgraded
    for column in ("fingerprint", "message_id"):
        [plan] = db.execute_sql(
            f"EXPLAIN QUERY PLAN SELECT id FROM logged_email WHERE account_id = 1 AND {column} IN ('a', 'b')"
        ).fetchall()
        assert f"logged_email_account_id_{column}" in plan[-1]


def test_a_new_database_has_the_same_email_indexes_as_an_upgraded_one(world: World) -> None:
    indexes = _email_index_columns(world.store.db)
    wanted = {("account_id", "fingerprint"), ("account_id", "message_id"), ("account_id", "identity")}
    assert wanted <= indexes
    assert ("fingerprint",) not in indexes and ("message_id",) not in indexes


def _all_indexes(db: object) -> set[tuple[str, tuple[str, ...], bool]]:
    return {
        (model._meta.table_name, tuple(index.columns), bool(index.unique))
        for model in ALL_MODELS
        for index in db.get_indexes(model._meta.table_name)  # type: ignore[attr-defined]
        if index.name != "ledger_undisposed"  # partial: made by v4 alone, not declared on the model
    }


def test_the_upgraded_schema_has_the_indexes_the_models_declare(tmp_path: Path) -> None:
    """Migrations and models agree: no index the models dropped survives an upgrade, none is missing."""
    upgraded = open_database(f"sqlite:///{tmp_path / 'upgraded.sqlite3'}", migrate=False)
    migrations.MIGRATIONS[0](upgraded)
    SchemaVersion.create(version=1)
    assert ("email_contact", ("email_id",), False) in _all_indexes(upgraded)  # version 1 had it
    schema.upgrade(upgraded)
    found = _all_indexes(upgraded)
    upgraded.close()
    declared = open_database(f"sqlite:///{tmp_path / 'declared.sqlite3'}", migrate=False)
    declared.create_tables(ALL_MODELS)
    assert found == _all_indexes(declared)
    declared.close()
