"""A BCC'd email logged end to end through a real Dovecot, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import PICTURE, REP, World, make_world, message, smime_encrypted, with_picture

from emaillog import admin, views
from emaillog.devmail import ImapAccount
from emaillog.store.files import attachment_path
from emaillog.store.models import Ledger


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def emails(w: World) -> list[dict]:
    return views.emails(w.store)


def test_new_recipient_becomes_contact_with_company_and_message_is_processed(world: World) -> None:
    world.deliver(message(to=["Carl Customer <carl@mail.globex.co.uk>"]))
    report = world.run_pass()
    assert report.outcomes == {"logged": 1}
    [email] = emails(world)
    assert (email["route"], email["direction"], email["owner"]) == ("bcc", "outgoing", REP)
    assert email["contacts"] == ["carl@mail.globex.co.uk"] and email["companies"] == ["globex.co.uk"]
    [contact] = views.contacts(world.store)
    assert contact == {
        "id": contact["id"],
        "addresses": ["carl@mail.globex.co.uk"],
        "name": "Carl Customer",
        "company": "globex.co.uk",
    }
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["folder"], row["disposed"]) == ("logged", "Processed", True)


def test_to_and_cc_make_two_contacts(world: World) -> None:
    world.deliver(message(to=["carl@globex.example"], cc=["Dana <dana@initech.example>"]))
    world.run_pass()
    assert sorted(c["addresses"][0] for c in views.contacts(world.store)) == [
        "carl@globex.example",
        "dana@initech.example",
    ]
    assert emails(world)[0]["contacts"] == ["carl@globex.example", "dana@initech.example"]


def test_bcc_line_recipient_is_neither_created_nor_logged_on(world: World) -> None:
    admin.ensure_contact(world.store, world.settings, "existing@initech.example")
    world.deliver(message(to=["carl@globex.example"], bcc=["existing@initech.example", "new@hooli.example"]))
    world.run_pass()
    assert emails(world)[0]["contacts"] == ["carl@globex.example"]
    assert sorted(a for c in views.contacts(world.store) for a in c["addresses"]) == [
        "carl@globex.example",
        "existing@initech.example",
    ]


def test_internal_user_and_never_log_recipients_are_left_out(world: World) -> None:
    admin.add_user(world.store, world.settings, "other@partner.example", None, True, True)
    admin.add_never_log(world.store, world.settings, "secret.example")
    world.deliver(
        message(
            to=[
                "colleague@acme.example",
                "other@partner.example",
                "x@sub.secret.example",
                "carl@globex.example",
            ]
        )
    )
    world.run_pass()
    assert emails(world)[0]["contacts"] == ["carl@globex.example"]
    assert [c["addresses"] for c in views.contacts(world.store)] == [["carl@globex.example"]]


def test_only_internal_recipients_is_skipped_and_processed(world: World) -> None:
    admin.add_never_log(world.store, world.settings, "carl@globex.example")
    world.deliver(message(to=["colleague@acme.example", "carl@globex.example"]))
    report = world.run_pass()
    assert report.outcomes == {"skipped": 1} and emails(world) == []
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("skipped", "no-recipients", "Processed")
    assert world.folder_counts()["Processed"] == 1


def test_free_mail_recipient_gets_no_company(world: World) -> None:
    world.deliver(message(to=["someone@gmail.com"]))
    world.run_pass()
    assert views.contacts(world.store)[0]["company"] is None
    assert emails(world)[0]["companies"] == []


def test_five_most_recent_open_deals(world: World) -> None:
    for n in range(7):
        admin.add_deal(
            world.store,
            world.settings,
            f"deal {n}",
            ["carl@globex.example"],
            closed=n in (5, 6),
            created=datetime(2026, 1, 1 + n, tzinfo=UTC),
        )
    world.deliver(message(to=["carl@globex.example"]))
    world.run_pass()
    assert emails(world)[0]["deals"] == ["deal 4", "deal 3", "deal 2", "deal 1", "deal 0"]
    admin.add_deal(
        world.store,
        world.settings,
        "deal 7",
        ["carl@globex.example"],
        False,
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    world.deliver(message(to=["carl@globex.example"], message_id="<m2@acme.example>"))
    world.run_pass()
    assert emails(world)[1]["deals"] == ["deal 7", "deal 4", "deal 3", "deal 2", "deal 1"]


def test_sender_not_a_user_goes_to_error_with_reason(world: World) -> None:
    world.deliver(message(sender="stranger@elsewhere.example"))
    report = world.run_pass()
    assert report.outcomes == {"rejected": 1} and emails(world) == []
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("rejected", "sender-not-a-user", "Error")
    assert world.folder_counts() == {"INBOX": 0, "Processed": 0, "Error": 1}


def test_inactive_and_read_only_users_are_not_permitted(world: World) -> None:
    admin.add_user(world.store, world.settings, "gone@acme.example", None, active=False, may_log=True)
    admin.add_user(world.store, world.settings, "viewer@acme.example", None, active=True, may_log=False)
    world.deliver(
        message(sender="gone@acme.example"), message(sender="viewer@acme.example", message_id="<m2@x>")
    )
    world.run_pass()
    assert [(r["outcome"], r["reason"]) for r in views.ledger(world.store)] == [
        ("rejected", "sender-not-permitted")
    ] * 2


def test_a_shared_address_first_connected_by_a_deactivated_user_is_logged_for_an_active_one(
    world: World,
) -> None:
    # Gus connected the sales desk first, then left (deactivated: he owns logged email, so he
    # cannot be removed); Rita connected it later. Mail from the desk is Rita's, not refused.
    admin.add_user(world.store, world.settings, "gus@acme.example", None, active=True, may_log=True)
    admin.connect_address(world.store, world.settings, "gus@acme.example", "desk@acme.example", _day(1))
    admin.connect_address(world.store, world.settings, REP, "desk@acme.example", _day(5))
    admin.add_user(world.store, world.settings, "gus@acme.example", None, active=False, may_log=True)
    # Only Gus connected the old desk: mail from it is still refused, naming him.
    admin.connect_address(world.store, world.settings, "gus@acme.example", "olddesk@acme.example", _day(1))
    world.deliver(
        message(sender="Sales <desk@acme.example>"),
        message(sender="olddesk@acme.example", message_id="<m2@acme.example>"),
    )
    assert world.run_pass().outcomes == {"logged": 1, "rejected": 1}
    [email] = emails(world)
    assert (email["owner"], email["from"]) == (REP, "desk@acme.example")
    logged, refused = views.ledger(world.store)
    assert (refused["outcome"], refused["reason"]) == ("rejected", "sender-not-permitted")
    trace = json.loads(Ledger.get_by_id(logged["id"]).trace_json)
    attribution = next(e for e in trace if e["rule"] == "attribution")
    assert (attribution["reason"], attribution["data"]["passed_over"]) == ("connected", "gus@acme.example")


def _day(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def test_same_message_twice_is_one_email_and_two_ledger_rows(world: World) -> None:
    raw = message(to=["carl@globex.example"])
    world.deliver(raw)
    world.run_pass()
    # The same email (one Message-ID, one From and Date: Rita's) delivered again showing another
    # recipient: the later delivery adds associations. (Under another From it would be another
    # email that reused the Message-ID: see test_duplicates.)
    world.deliver(raw.replace(b"To: carl@globex.example", b"To: carl@globex.example, dora@hooli.example"))
    world.run_pass()
    [email] = emails(world)
    assert email["contacts"] == ["carl@globex.example", "dora@hooli.example"]
    rows = views.ledger(world.store)
    assert [(r["outcome"], r["reason"]) for r in rows] == [("logged", None), ("logged", "duplicate")]
    assert rows[0]["email_id"] == rows[1]["email_id"] == email["id"]
    assert world.folder_counts()["Processed"] == 2


def test_crash_between_commit_and_move_is_moved_next_pass_without_logging_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.deliver(message(to=["carl@globex.example"]))

    def crash(*args: object) -> None:
        raise ConnectionResetError("cut between the commit and the move")

    monkeypatch.setattr("emaillog.imapmailbox.ImapMailbox.move", crash)
    with pytest.raises(ConnectionResetError):
        world.run_pass()
    monkeypatch.undo()
    assert world.folder_counts()["INBOX"] == 1 and len(emails(world)) == 1
    report = world.run_pass()
    assert report.resumed == 1 and report.outcomes == {}
    assert len(emails(world)) == 1 and Ledger.select().count() == 1
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}


def test_seen_flag_set_by_a_person_does_not_hide_mail(world: World) -> None:
    world.deliver(message())
    client = world.client()
    client.select_folder("INBOX")
    client.add_flags(client.search(), [b"\\Seen"])
    client.logout()
    assert world.run_pass().outcomes == {"logged": 1}


def test_fetching_never_sets_seen(world: World) -> None:
    world.deliver(message(sender="stranger@elsewhere.example"))
    world.run_pass()
    client = world.client()
    client.select_folder("Error")
    flags = client.get_flags(client.search())
    client.logout()
    assert all(b"\\Seen" not in f for f in flags.values())


def test_dry_run_changes_nothing(world: World) -> None:
    world.deliver(message())
    report = world.run_pass(dry_run=True)
    assert [d.outcome for _, d in report.decisions] == ["logged"]
    assert emails(world) == [] and views.ledger(world.store) == []
    assert world.folder_counts()["INBOX"] == 1


def test_a_move_without_its_ledger_update_is_settled_next_pass(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.deliver(message(to=["carl@globex.example"]))

    def lost(*args: object) -> None:
        raise ConnectionResetError("the database went away right after the MOVE")

    monkeypatch.setattr("emaillog.poll.mark_disposed", lost)
    with pytest.raises(ConnectionResetError):
        world.run_pass()
    monkeypatch.undo()
    assert world.folder_counts()["Processed"] == 1 and views.ledger(world.store)[0]["disposed"] is False
    world.run_pass()
    [row] = views.ledger(world.store)
    assert row["disposed"] is True and len(emails(world)) == 1


def test_team_inboxes_and_logging_addresses_are_never_contacts(world: World) -> None:
    admin.add_team_inbox(world.store, world.settings, "sales@partner.example", REP, None)
    world.deliver(
        message(
            to=["sales@partner.example", "log@acme.example", "LOG+fwd@Acme.Example", "carl@globex.example"]
        )
    )
    world.run_pass()
    assert emails(world)[0]["contacts"] == ["carl@globex.example"]
    assert [c["addresses"] for c in views.contacts(world.store)] == [["carl@globex.example"]]


def test_replies_are_linked_into_threads(world: World) -> None:
    world.deliver(message(message_id="<first@acme.example>", subject="Offer"))
    world.run_pass()
    world.deliver(
        message(
            message_id="<second@acme.example>",
            subject="Re: Offer",
            headers={"In-Reply-To": "<first@acme.example>", "References": "<first@acme.example>"},
        ),
        message(
            message_id="<third@acme.example>",
            subject="Re: Offer",
            headers={"References": "<first@acme.example> <second@acme.example>"},
        ),
    )
    world.run_pass()
    first, second, third = emails(world)
    assert first["thread_parent"] is None
    assert second["thread_parent"] == first["id"] and third["thread_parent"] == second["id"]


def test_replies_that_answer_each_other_in_one_batch_make_no_loop(world: World) -> None:
    # Two emails each naming the other as the one they answer (forged, or a broken mailer): the
    # first is linked to the second, and the second is left a root instead of closing a loop that
    # anything walking up a thread would go round for ever.
    world.deliver(
        message(message_id="<a@acme.example>", headers={"In-Reply-To": "<b@acme.example>"}),
        message(message_id="<b@acme.example>", headers={"References": "<x@acme.example> <a@acme.example>"}),
        message(message_id="<c@acme.example>", headers={"In-Reply-To": "<c@acme.example>"}),
    )
    world.run_pass()
    a, b, c = emails(world)
    assert (a["thread_parent"], b["thread_parent"], c["thread_parent"]) == (b["id"], None, None)


def test_companies_are_not_created_when_switched_off(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_CREATE_COMPANIES="no")
    admin.add_company(w.store, "initech.example", "Initech")
    w.deliver(message(to=["carl@globex.example", "dana@initech.example"]))
    w.run_pass()
    by_address = {c["addresses"][0]: c["company"] for c in views.contacts(w.store)}
    assert by_address == {"carl@globex.example": None, "dana@initech.example": "initech.example"}


def test_a_contact_without_a_company_gets_the_one_its_domain_later_has(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    # SPEC §7: a contact's company is found by its domain. Made while companies were not created,
    # the contact has none; once the admin adds Globex, its next email is on Globex's record too,
    # and Globex is the contact's first, so primary, company.
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_CREATE_COMPANIES="no")
    w.deliver(message(to=["carl@globex.example"]))
    w.run_pass()
    admin.add_company(w.store, "globex.example", "Globex")
    admin.add_company(w.store, "initech.example", "Initech")
    w.deliver(message(to=["carl@globex.example"], message_id="<m2@acme.example>"))
    w.run_pass()
    first, second = views.emails(w.store)
    assert (first["companies"], second["companies"]) == ([], ["globex.example"])
    assert [c["company"] for c in views.contacts(w.store)] == ["globex.example"]


def test_a_processed_folder_that_exists_only_as_a_parent_is_made_usable(world: World) -> None:
    # A person filed old mail under Processed/2024 before the daemon ran: Processed is listed
    # \Noselect, and a MOVE into it fails with [TRYCREATE] on every pass.
    client = world.client()
    client.create_folder("Processed/2024")
    client.logout()
    world.deliver(message(to=["carl@globex.example"]))
    assert world.run_pass().outcomes == {"logged": 1}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}


def test_an_smime_encrypted_email_is_logged_saying_so_with_its_p7m_attached(world: World) -> None:
    raw = smime_encrypted(to="Carl Customer <carl@globex.example>")
    world.deliver(raw)
    report = world.run_pass()
    assert report.outcomes == {"logged": 1} and world.folder_counts()["Processed"] == 1
    [listed] = emails(world)
    assert (listed["subject"], listed["contacts"]) == ("Contract terms", ["carl@globex.example"])
    email = views.email_detail(world.store, listed["id"])
    assert email is not None
    assert email["text_body"] == (
        "This email was encrypted (S/MIME), so its content cannot be shown here; the encrypted part is "
        "attached as it arrived, for someone with the key to open."
    )
    [p7m] = email["attachments"]
    assert (p7m["filename"], p7m["content_type"], p7m["logged"]) == (
        "smime.p7m",
        "application/pkcs7-mime",
        True,
    )
    stored = attachment_path(world.settings.attachments_dir, p7m["sha256"]).read_bytes()
    assert stored == base64.b64decode(raw.split(b"\r\n\r\n", 1)[1])
    [row] = Ledger.select()
    [content] = [step for step in json.loads(row.trace_json) if step["rule"] == "content"]
    assert (content["reason"], content["data"]) == ("encrypted", {"kind": "S/MIME", "form": "enveloped-data"})


def test_an_inline_pictures_content_id_is_stored_beside_the_html_that_names_it(world: World) -> None:
    # A screenshot pasted into an HTML email: the CRM resolves src="cid:…" to the stored file.
    world.deliver(with_picture([b"<image001.png@01DA>"]))
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = emails(world)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None and 'src="cid:image001.png@01DA"' in email["html_body"]
    [picture] = email["attachments"]
    assert (picture["filename"], picture["content_type"], picture["content_id"]) == (
        "image001.png",
        "image/png",
        "image001.png@01DA",
    )
    assert Path(picture["path"]).read_bytes() == PICTURE
