"""Forwarded replies logged end to end through a real Dovecot, on SQLite and on PostgreSQL (SPEC §5, §9).

Every client fixture in tests/data/forwards is delivered as the server would deliver it to the
forwarding address, from the rep; the customer's record must then show the original reply.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from support import FWD, PICTURE, World, attached_forward, forward_with_a_picture, make_world, message

from emaillog import admin, views
from emaillog.devmail import ImapAccount
from emaillog.store.files import attachment_path
from emaillog.store.models import LoggedEmail

DATA = Path(__file__).resolve().parent.parent / "data" / "forwards"
REP = "rep@ourco.example"


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    w = make_world(tmp_path, database_url, imap_account)
    admin.add_user(w.store, w.settings, REP, "Rep Smith", active=True, may_log=True)
    return w


def fixture(name: str, sender: str | None = None) -> bytes:
    raw = (DATA / name).read_bytes()
    if sender is not None:
        raw = raw.replace(b"From: Rep Smith <rep@ourco.example>", f"From: {sender}".encode(), 1)
    return f"Delivered-To: {FWD}\r\n".encode() + raw


def inline_forward(
    original_from: str = "Carl Customer <carl@globex.example>",
    cc: str | None = None,
    note: str = "FYI",
    sender: str = "Rep Smith <rep@ourco.example>",
    message_id: str = "<fwd-1@ourco.example>",
) -> bytes:
    block = (
        f"{note}\n\n---------- Forwarded message ---------\nFrom: {original_from}\n"
        "Date: Fri, Nov 20, 2026 at 9:15 AM\nSubject: Re: Proposal\nTo: Rep Smith <rep@ourco.example>\n"
    )
    if cc:
        block += f"Cc: {cc}\n"
    return message(
        sender=sender,
        to=[FWD],
        subject="Fwd: Re: Proposal",
        message_id=message_id,
        body=block + "\n\nLooks good, let's sign.\n",
        delivered_to=FWD,
    )


def forwarded_as_attachment(inner: EmailMessage, note: str = "Please log.") -> bytes:
    return attached_forward(inner, note=note, sender=REP, subject="FW: " + str(inner["Subject"]))


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


J_P1 = datetime(2021, 1, 25, 16, 23, tzinfo=tz(1))
# fixture: (original sender, company, original subject, original date, the forwarder's note)
CLIENTS = {
    "samsung_mail_en.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Quote for 40 licences",
        J_P1,
        "FYI\n\nSent from my Galaxy",
    ),
    "gmail_android_de.eml": ("john.doe@acme.com", "acme.com", "Angebot für 40 Lizenzen", J_P1, None),
    "gmail_ios_fr.eml": ("john.doe@acme.com", "acme.com", "Devis pour 40 licences", J_P1, "Voir ci-dessous."),
    "gmail_web_html_with_attachment_en.eml": (
        "gina@globex.example",
        "globex.example",
        "Specification",
        J_P1,
        "Specs from Globex.",
    ),
    "gmail_pl_iso8859_2.eml": ("jan.kowalski@firma.pl", "firma.pl", "Oferta", J_P1, None),
    "apple_mail_iphone_es.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Presupuesto",
        J_P1,
        "Mira esto\n\nEnviado desde mi iPhone",
    ),
    "apple_mail_ipad_ja_iso2022jp.eml": (
        "taro.yamada@acme.co.jp",
        "acme.co.jp",
        "見積もり",
        datetime(2021, 1, 25, 16, 23, tzinfo=tz(9)),
        "iPadから送信",
    ),
    "windows_live_mail_en.eml": ("john.doe@acme.com", "acme.com", "Quote for 40 licences", J_P1, None),
    "outlook_html_only_base64_pl.eml": (
        "jan.kowalski@firma.pl",
        "firma.pl",
        "Oferta na 40 licencji",
        J_P1,
        "Proszę zalogować.",
    ),
    "outlook_desktop_html_divrplyfwdmsg_en.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Quote for 40 licences",
        J_P1,
        "See below",
    ),
    "outlook_2016_html_bordered_de.eml": (
        "heinz.mueller@kunde.de",
        "kunde.de",
        "Angebot",
        J_P1,
        "Bitte erfassen.",
    ),
    "outlook_base64_text_ru_cp1251.eml": (
        "ivan.petrov@firma.ru",
        "firma.ru",
        "Счёт на 40 лицензий",
        J_P1,
        "Для CRM",
    ),
    "outlook_forward_as_attachment.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Quote for 40 licences",
        J_P1,
        "Please log this one.",
    ),
    "outlook_attachment_with_files.eml": (
        "carla@initech.example",
        "initech.example",
        "RE: Signed order",
        datetime(2021, 1, 26, 9, 12, 33, tzinfo=tz(1)),
        "Log it with the files, please.",
    ),
    "thunderbird_forward_as_attachment.eml": ("francois@client.fr", "client.fr", "Devis", J_P1, None),
    "thunderbird_quoted_printable_fr.eml": (
        "francois.dupont@client.fr",
        "client.fr",
        "Devis pour 40 licences — révisé",
        J_P1,
        None,
    ),
    "nested_forward_gmail_en.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Fwd: Quote for 40 licences",
        J_P1,
        "Top one is the latest.",
    ),
}


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_each_client_forward_lands_in_processed_on_the_customers_record(world: World, name: str) -> None:
    sender, company, subject, date, note = CLIENTS[name]
    world.deliver(fixture(name))
    assert world.run_pass().outcomes == {"logged": 1}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}
    [email] = views.emails(world.store)
    assert (email["route"], email["direction"], email["owner"]) == ("forward", "incoming", REP)
    assert (email["from"], email["subject"]) == (sender, subject)
    assert email["date"] == date.astimezone(UTC).isoformat()
    assert email["note"] == note
    # The customer who wrote is the only contact made; the original's To/Cc are not created.
    assert email["contacts"] == [sender] and email["companies"] == [company]
    [contact] = views.contacts(world.store)
    assert (contact["addresses"], contact["company"]) == ([sender], company)
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["route"], row["owner"]) == ("logged", "forward", REP)
    assert row["folder"] == "Processed"


# Outlook desktop's plain-text block in Spanish and in Brazilian Portuguese: the date label is two
# words ("Enviado el:", "Enviada em:"), and the separator above it says nothing of a forward.
OUTLOOK_BLOCKS = {
    "es": (
        "-----Mensaje original-----\nDe: Carl Cliente [mailto:carl@globex.example]\n"
        "Enviado el: viernes, 20 de noviembre de 2026 3:15 p. m.\nPara: Rep Smith <rep@ourco.example>\n"
        "CC: Dana <dana@initech.example>\nAsunto: RE: Oferta\n"
    ),
    "pt-BR": (
        "-----Mensagem original-----\nDe: Carl Cliente <carl@globex.example>\n"
        "Enviada em: sexta-feira, 20 de novembro de 2026 15:15\nPara: Rep Smith <rep@ourco.example>\n"
        "Cc: Dana <dana@initech.example>\nAssunto: RE: Oferta\n"
    ),
}


@pytest.mark.parametrize("language", sorted(OUTLOOK_BLOCKS))
def test_an_outlook_forward_in_spanish_or_brazilian_portuguese_is_logged(world: World, language: str) -> None:
    body = f"Para el CRM.\n\n{OUTLOOK_BLOCKS[language]}\nFechamos o acordo.\n"
    world.deliver(message(sender=REP, to=[FWD], subject="RV: RE: Oferta", body=body, delivered_to=FWD))
    assert world.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(world.store)
    assert (email["direction"], email["from"], email["subject"]) == (
        "incoming",
        "carl@globex.example",
        "RE: Oferta",
    )
    assert email["cc"] == ["dana@initech.example"] and email["contacts"] == ["carl@globex.example"]
    # Written without a zone: read in the forward's own (+00:00 here).
    assert email["date"] == datetime(2026, 11, 20, 15, 15, tzinfo=UTC).isoformat()
    assert email["note"] == "Para el CRM."


# Outlook desktop's separator line in Polish and in Turkish (its "İ" casefolds to "i" and a dot).
OUTLOOK_SEPARATED = {
    "pl": (
        "-----Wiadomość oryginalna-----\nOd: Carl Klient <carl@globex.example>\n"
        "Wysłano: piątek, 20 listopada 2026 09:15\nDo: Rep Smith <rep@ourco.example>\nTemat: RE: Oferta\n"
    ),
    "tr": (
        "-----Özgün İleti-----\nKimden: Carl Müşteri <carl@globex.example>\n"
        "Gönderildi: 20 Kasım 2026 Cuma 09:15\nKime: Rep Smith <rep@ourco.example>\nKonu: RE: Teklif\n"
    ),
}


@pytest.mark.parametrize("language", sorted(OUTLOOK_SEPARATED))
def test_outlooks_separator_line_is_not_part_of_the_note(world: World, language: str) -> None:
    body = f"Do CRM.\n\n{OUTLOOK_SEPARATED[language]}\nDeal agreed.\n"
    world.deliver(message(sender=REP, to=[FWD], subject="FW: RE: Oferta", body=body, delivered_to=FWD))
    assert world.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(world.store)
    assert (email["from"], email["note"]) == ("carl@globex.example", "Do CRM.")


def test_the_note_is_not_in_the_stored_body(world: World) -> None:
    world.deliver(fixture("samsung_mail_en.eml"))
    world.run_pass()
    [row] = LoggedEmail.select()
    assert row.note == "FYI\n\nSent from my Galaxy"
    assert row.text_body.startswith("Hello Bessie,") and "Galaxy" not in row.text_body


def test_attachments_of_attached_and_inline_originals(world: World) -> None:
    world.deliver(
        fixture("outlook_attachment_with_files.eml"), fixture("gmail_web_html_with_attachment_en.eml")
    )
    world.run_pass()
    attached, inline = views.emails(world.store)
    assert [(a["filename"], a["logged"]) for a in attached["attachments"]] == [
        ("order.pdf", True),
        ("logo.png", True),
    ]
    assert [(a["filename"], a["logged"]) for a in inline["attachments"]] == [("spec.pdf", True)]
    for a in attached["attachments"] + inline["attachments"]:
        assert attachment_path(world.settings.attachments_dir, a["sha256"]).stat().st_size == a["size"]


def test_several_attached_messages_are_each_logged(world: World) -> None:
    world.deliver(fixture("two_attached_messages.eml"))
    assert world.run_pass().outcomes == {"logged": 1}
    first, second = views.emails(world.store)
    assert (first["subject"], first["from"]) == ("First", "john.doe@acme.com")
    assert (second["subject"], second["from"]) == ("Second", "jane.roe@globex.example")
    assert sorted(a for c in views.contacts(world.store) for a in c["addresses"]) == [
        "jane.roe@globex.example",
        "john.doe@acme.com",
    ]


def test_a_nested_forward_logs_only_the_top_most_message(world: World) -> None:
    world.deliver(fixture("nested_forward_gmail_en.eml"))
    world.run_pass()
    [email] = views.emails(world.store)
    assert email["from"] == "john.doe@acme.com"
    assert [c["addresses"] for c in views.contacts(world.store)] == [["john.doe@acme.com"]]


def test_ccd_recipients_are_not_created_existing_ones_are_associated(world: World) -> None:
    admin.ensure_contact(world.store, world.settings, "dana@initech.example", "Dana")
    world.deliver(inline_forward(cc="Dana <dana@initech.example>, Fred <fred@hooli.example>"))
    world.run_pass()
    [email] = views.emails(world.store)
    assert email["contacts"] == ["carl@globex.example", "dana@initech.example"]
    assert email["cc"] == ["dana@initech.example", "fred@hooli.example"]
    assert sorted(a for c in views.contacts(world.store) for a in c["addresses"]) == [
        "carl@globex.example",
        "dana@initech.example",
    ]


def test_a_ccd_person_made_a_contact_earlier_in_the_same_pass_is_associated(world: World) -> None:
    # The rep BCCs Dana (new: she becomes a contact), then forwards Carl's reply that Cc's Dana.
    # Both reach one batch, whose lookup was read before Dana was a contact.
    world.deliver(
        message(sender=REP, to=["Dana <dana@initech.example>"], message_id="<intro-1@ourco.example>"),
        inline_forward(cc="Dana <dana@initech.example>, Fred <fred@hooli.example>"),
    )
    assert world.run_pass().outcomes == {"logged": 2}
    intro, reply = views.emails(world.store)
    assert intro["contacts"] == ["dana@initech.example"]
    # Fred, Cc'd but nobody's contact, is still not created (SPEC §5).
    assert reply["contacts"] == ["carl@globex.example", "dana@initech.example"]
    assert reply["companies"] == ["globex.example", "initech.example"]
    assert sorted(a for c in views.contacts(world.store) for a in c["addresses"]) == [
        "carl@globex.example",
        "dana@initech.example",
    ]


def test_a_rep_forwarding_their_own_sent_email_is_outgoing(world: World) -> None:
    inner = EmailMessage()
    inner["From"] = "Rep Smith <rep@ourco.example>"
    inner["To"] = "Carl <carl@globex.example>"
    inner["Cc"] = "Dana <dana@initech.example>, colin@acme.example"
    inner["Subject"] = "Proposal"
    inner["Date"] = "Thu, 19 Nov 2026 15:00:00 +0000"
    inner["Message-ID"] = "<sent-9@ourco.example>"
    inner.set_content("Here is our proposal.\n")
    world.deliver(forwarded_as_attachment(inner))
    world.run_pass()
    [email] = views.emails(world.store)
    assert (email["direction"], email["owner"], email["from"]) == ("outgoing", REP, REP)
    assert email["contacts"] == ["carl@globex.example", "dana@initech.example"]


def test_the_same_inline_original_forwarded_twice_is_one_email(world: World) -> None:
    admin.add_user(world.store, world.settings, "sam@acme.example", "Sam", True, True)
    world.deliver(inline_forward())
    world.run_pass()
    world.deliver(inline_forward(sender="sam@acme.example", note="me too", message_id="<fwd-2@acme.example>"))
    world.run_pass()
    [email] = views.emails(world.store)
    assert email["owner"] == REP
    rows = views.ledger(world.store)
    assert [(r["outcome"], r["reason"]) for r in rows] == [("logged", None), ("logged", "duplicate")]
    assert rows[0]["email_id"] == rows[1]["email_id"] == email["id"]
    assert world.folder_counts()["Processed"] == 2


def test_a_bccd_email_later_forwarded_as_attachment_is_one_email(world: World) -> None:
    sent = message(
        sender="Rep Smith <rep@ourco.example>",
        to=["Carl <carl@globex.example>"],
        message_id="<sent-1@ourco.example>",
        subject="Proposal",
    )
    world.deliver(sent)
    world.run_pass()
    inner, headers = EmailMessage(), message_from_bytes(sent)
    for name in ("From", "To", "Subject", "Date", "Message-ID"):
        inner[name] = str(headers[name])
    inner.set_content("Hello, here is our proposal.\n")
    world.deliver(forwarded_as_attachment(inner))
    world.run_pass()
    [email] = views.emails(world.store)
    assert (email["route"], email["message_id"]) == ("bcc", "<sent-1@ourco.example>")
    assert [r["reason"] for r in views.ledger(world.store)] == [None, "duplicate"]


def test_never_log_original_sender_is_skipped_into_processed(world: World) -> None:
    admin.add_never_log(world.store, world.settings, "globex.example")
    world.deliver(inline_forward())
    assert world.run_pass().outcomes == {"skipped": 1}
    assert views.emails(world.store) == [] and views.contacts(world.store) == []
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("skipped", "never-log", "Processed")


def test_an_unrecognised_forward_goes_to_error(world: World) -> None:
    world.deliver(fixture("not_forward_plain_note.eml"))
    assert world.run_pass().outcomes == {"rejected": 1}
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("rejected", "forward-not-recognised", "Error")
    assert world.folder_counts() == {"INBOX": 0, "Processed": 0, "Error": 1}
    assert views.emails(world.store) == []


def test_a_forward_from_a_non_user_goes_to_error(world: World) -> None:
    world.deliver(fixture("samsung_mail_en.eml", sender="Stranger <stranger@elsewhere.example>"))
    world.run_pass()
    [row] = views.ledger(world.store)
    assert (row["outcome"], row["reason"], row["folder"]) == ("rejected", "sender-not-a-user", "Error")
    assert views.emails(world.store) == [] and views.contacts(world.store) == []


def test_an_attached_originals_picture_is_stored_with_its_content_id(world: World) -> None:
    # The original's HTML shows its logo by cid:logo@globex: the logged email keeps both.
    world.deliver(forward_with_a_picture())  # from Rita, the support world's rep
    assert world.run_pass().outcomes == {"logged": 1}
    [listed] = views.emails(world.store)
    email = views.email_detail(world.store, listed["id"])
    assert email is not None and (email["direction"], email["from"]) == ("incoming", "carl@globex.example")
    assert 'src="cid:logo@globex"' in email["html_body"]
    [logo] = email["attachments"]
    assert (logo["filename"], logo["content_id"]) == ("logo.png", "logo@globex")
    assert Path(logo["path"]).read_bytes() == PICTURE
