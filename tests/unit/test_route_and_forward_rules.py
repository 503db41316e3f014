"""SPEC §3 route detection and §5/§9 forward records, through decide() against a real (SQLite) CRM."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from support import BCC, FWD, attached_forward, crm_with_rep, make_settings, message

from emaillog import admin
from emaillog.forwards import zone_written
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.rules import Decision, EmailPlan, decide
from emaillog.rules.identity import identity
from emaillog.rules.route import detect_route, is_subaddress
from emaillog.settings import Settings, SettingsError
from emaillog.store import Store, open_store

DATA = Path(__file__).resolve().parent.parent / "data" / "forwards"
REP = "rep@ourco.example"
REP_FROM = b"From: Rep Smith <rep@ourco.example>"

Crm = tuple[Store, Settings]


def fixture(name: str, delivered_to: str | None = FWD, sender: str | None = None) -> bytes:
    """A fixture as the mailbox receives it: the server's Delivered-To on top, the rep as sender."""
    raw = (DATA / name).read_bytes()
    if sender is not None:
        raw = raw.replace(REP_FROM, f"From: {sender}".encode(), 1)
    return (f"Delivered-To: {delivered_to}\r\n".encode() + raw) if delivered_to else raw


def inline_forward(
    original_from: str = "Carl Customer <carl@globex.example>",
    to: str = "Rep Smith <rep@ourco.example>",
    cc: str | None = None,
    subject: str = "Re: Proposal",
    body: str = "Looks good, let's sign.",
    note: str = "FYI",
    sender: str = "Rep Smith <rep@ourco.example>",
    message_id: str = "<fwd-1@ourco.example>",
    delivered_to: str | None = FWD,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """A Gmail-style inline forward."""
    block = (
        f"{note}\n\n---------- Forwarded message ---------\nFrom: {original_from}\n"
        f"Date: Fri, Nov 20, 2026 at 9:15 AM\nSubject: {subject}\nTo: {to}\n"
    )
    if cc:
        block += f"Cc: {cc}\n"
    return message(
        sender=sender,
        to=[FWD],
        subject=f"Fwd: {subject}",
        body=block + f"\n\n{body}\n",
        message_id=message_id,
        delivered_to=delivered_to,
        attachments=attachments,
    )


def original_message(
    sender: str = "Carl Customer <carl@globex.example>",
    to: str = "rep@ourco.example",
    cc: str | None = None,
    subject: str = "Re: Proposal",
    message_id: str = "<orig-1@globex.example>",
    files: tuple[tuple[str, bytes], ...] = (),
) -> EmailMessage:
    inner = EmailMessage()
    inner["From"] = sender
    inner["To"] = to
    if cc:
        inner["Cc"] = cc
    inner["Subject"] = subject
    inner["Date"] = "Fri, 20 Nov 2026 09:15:42 +0100"
    inner["Message-ID"] = message_id
    inner.set_content("Looks good, let's sign.\n")
    for filename, data in files:
        inner.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return inner


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    return crm_with_rep(tmp_path, REP, "Rep Smith")


def run(crm: Crm, raw: bytes) -> Decision:
    return decide(parse(raw, Limits()), crm[1], crm[0].lookup)


def route_of(settings: Settings, raw: bytes) -> tuple[str, dict[str, Any]]:
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    route, entry = detect_route(email, settings)
    assert entry.rule == "route" and entry.reason == route
    return route, dict(entry.data)


def only_plan(decision: Decision) -> EmailPlan:
    assert (decision.outcome, decision.reason) == ("logged", None), decision.trace
    [plan] = decision.plans
    return plan


def keys(plan: EmailPlan) -> list[str]:
    return [c.key for c in plan.contacts]


# §3: the route ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "X-Delivered-To", "X-Rcpt-To"]
)
def test_a_delivery_header_naming_the_forwarding_address_means_forward(tmp_path: Path, header: str) -> None:
    raw = f"{header}: <{FWD}>\r\n".encode() + fixture("samsung_mail_en.eml", delivered_to=None)
    assert route_of(make_settings(tmp_path), raw) == (
        "forward",
        {"evidence": f"{header} names the forwarding address", "header": header, "address": FWD},
    )


def test_a_delivery_header_naming_the_bcc_address_means_bcc_even_when_the_body_is_a_forward(
    tmp_path: Path,
) -> None:
    # A rep forwarding a customer's mail to a colleague, with the BCC address on the Bcc line.
    raw = fixture("samsung_mail_en.eml", delivered_to=BCC)
    route, data = route_of(make_settings(tmp_path), raw)
    assert (route, data["header"], data["address"]) == ("bcc", "Delivered-To", BCC)


def test_a_forward_to_an_alias_of_the_mailbox_is_a_forward(tmp_path: Path) -> None:
    # Google Workspace: forward@ is an alias of the log@ mailbox; Delivered-To names log@ whichever
    # address the mail was sent to. A BCC'd email never shows a logging address in To/Cc.
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS="forward@acme.example")
    store = open_store(settings)
    admin.add_user(store, settings, REP, "Rep Smith", active=True, may_log=True)
    raw = inline_forward(delivered_to=BCC).replace(FWD.encode(), b"forward@acme.example")
    route, data = route_of(settings, raw)
    assert (route, data["header"], data["address"]) == ("forward", "Delivered-To", "forward@acme.example")
    assert "alias" in data["evidence"]
    plan = only_plan(run((store, settings), raw))
    assert (plan.direction, plan.sender and plan.sender.address) == ("incoming", "carl@globex.example")
    # Otherwise the delivery header stands.
    assert route_of(settings, message(to=[BCC], delivered_to="forward@acme.example"))[0] == "forward"
    assert route_of(settings, message(to=["carl@globex.example"], delivered_to=BCC))[0] == "bcc"


def test_plus_address_and_its_stripped_form_both_named_the_forwarding_address_wins(tmp_path: Path) -> None:
    # Postfix: X-Original-To keeps log+fwd@, the final Delivered-To has the extension stripped.
    raw = f"Delivered-To: {BCC}\r\nX-Original-To: {FWD}\r\n".encode() + fixture(
        "samsung_mail_en.eml", delivered_to=None
    )
    route, data = route_of(make_settings(tmp_path), raw)
    assert (route, data["header"], data["address"]) == ("forward", "X-Original-To", FWD)
    assert "sub-address" in data["evidence"]


def test_a_bcc_address_that_is_a_sub_address_of_the_forwarding_address_wins_when_both_are_named(
    tmp_path: Path,
) -> None:
    # The other way round from the usual pair: log+bcc@ is what was sent to, log@ its stripped form.
    settings = make_settings(
        tmp_path, EMAILLOG_BCC_ADDRESS="log+bcc@acme.example", EMAILLOG_FORWARD_ADDRESS="log@acme.example"
    )
    raw = b"Delivered-To: log@acme.example\r\nX-Original-To: log+bcc@acme.example\r\n" + inline_forward(
        delivered_to=None
    )
    route, data = route_of(settings, raw)
    assert (route, data["header"], data["address"]) == ("bcc", "X-Original-To", "log+bcc@acme.example")
    assert "sub-address" in data["evidence"]


@pytest.mark.parametrize(
    ("configured", "delivered"),
    [
        ("LOG+FWD@ACME.EXAMPLE", FWD),  # configured in capitals, written by the server in lower case
        (FWD, "LOG+FWD@Acme.Example."),  # and the other way round, with the root's dot
    ],
)
def test_logging_addresses_compare_as_addresses_do(tmp_path: Path, configured: str, delivered: str) -> None:
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS=configured)
    assert route_of(settings, inline_forward(delivered_to=delivered))[0] == "forward"
    # A local part in other letters is another address when local parts are case-sensitive.
    strict = make_settings(tmp_path, EMAILLOG_CASE_SENSITIVE_LOCAL_PART="yes")
    raw = inline_forward(delivered_to="LOG+FWD@acme.example", sender="rita@acme.example")
    raw = raw.replace(f"To: {FWD}".encode(), b"To: x@y.example")
    assert route_of(strict, raw)[1]["structure"] == "inline-text"


@pytest.mark.parametrize(("top", "route"), [("fwd@acme.example", "forward"), (BCC, "bcc")])
def test_unrelated_addresses_both_named_the_top_most_delivery_header_wins(
    tmp_path: Path, top: str, route: str
) -> None:
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS="fwd@acme.example")
    other = BCC if top != BCC else "fwd@acme.example"
    raw = f"Delivered-To: {top}\r\nDelivered-To: {other}\r\n".encode() + message(delivered_to=None)
    found, data = route_of(settings, raw)
    assert (found, data["address"]) == (route, top) and "top-most" in data["evidence"]


def test_other_delivery_addresses_are_not_evidence_the_forwarding_address_in_to_is(tmp_path: Path) -> None:
    raw = message(to=["Log <LOG+FWD@ACME.EXAMPLE>"], delivered_to="mailbox-owner@acme.example")
    assert route_of(make_settings(tmp_path), raw) == (
        "forward",
        {"evidence": "the forwarding address is in To/Cc", "address": FWD},
    )


def test_the_bcc_address_in_cc_means_bcc_even_for_a_forwarded_body(tmp_path: Path) -> None:
    visible = f"To: carl@globex.example\nCc: {BCC}".encode()
    raw = inline_forward(delivered_to=None).replace(f"To: {FWD}".encode(), visible, 1)
    assert route_of(make_settings(tmp_path), raw)[0] == "bcc"


@pytest.mark.parametrize("delivered_to", [None, "mailbox@acme.example"])
def test_a_logging_address_on_the_bcc_line_decides_when_nothing_before_it_does(
    tmp_path: Path, delivered_to: str | None
) -> None:
    # Exchange writes no Delivered-To and keeps a Bcc recipient on its own copy's Bcc line: a rep
    # forwarding a customer's reply to a colleague with the BCC address on Bcc sent a BCC'd email.
    settings = make_settings(tmp_path)
    forward = inline_forward(delivered_to=delivered_to)
    bccd = forward.replace(f"To: {FWD}".encode(), f"To: boss@acme.example\nBcc: {BCC}".encode(), 1)
    assert route_of(settings, bccd) == (
        "bcc",
        {"evidence": "the BCC address is on the Bcc line", "address": BCC},
    )
    sent_to_fwd = forward.replace(f"To: {FWD}".encode(), f"To: boss@acme.example\nBcc: {FWD}".encode(), 1)
    assert route_of(settings, sent_to_fwd)[0] == "forward"
    # Both on the Bcc line, or To/Cc naming one: not the Bcc line's evidence.
    both = forward.replace(f"To: {FWD}".encode(), f"To: boss@acme.example\nBcc: {BCC}, {FWD}".encode(), 1)
    assert route_of(settings, both)[1]["structure"] == "inline-text"
    in_to = forward.replace(f"To: {FWD}".encode(), f"To: {FWD}\nBcc: {BCC}".encode(), 1)
    assert route_of(settings, in_to)[1] == {"evidence": "the forwarding address is in To/Cc", "address": FWD}


def test_with_no_evidence_at_all_the_structure_decides(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    raw = fixture("outlook_forward_as_attachment.eml", delivered_to=None).replace(
        b"To: log@crm.ourco.example", b"To: someone@ourco.example"
    )
    route, data = route_of(settings, raw)
    assert (route, data["structure"]) == ("forward", "attached-message")
    assert data["evidence"].startswith("no delivery header, To/Cc or Bcc line names one logging address")
    assert route_of(settings, message(to=["carl@globex.example"], delivered_to=None)) == (
        "bcc",
        {
            "evidence": "no delivery header, To/Cc or Bcc line names one logging address; no attached "
            "message and no forwarded-message header block",
            "structure": None,
        },
    )


@pytest.mark.parametrize(
    ("name", "structure"),
    [
        ("outlook_forward_as_attachment.eml", "attached-message"),
        ("thunderbird_forward_as_attachment.eml", "attached-message"),
        ("samsung_mail_en.eml", "inline-text"),
        ("gmail_android_de.eml", "inline-text"),
        ("outlook_html_only_base64_pl.eml", "inline-html"),
        ("outlook_2016_html_bordered_de.eml", "inline-html"),
    ],
)
def test_same_address_for_both_the_structure_decides_forward(
    tmp_path: Path, name: str, structure: str
) -> None:
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS=BCC)
    route, data = route_of(settings, fixture(name, delivered_to=BCC))
    assert (route, data["structure"]) == ("forward", structure)
    assert data["evidence"].startswith("the BCC and forwarding addresses are the same; the message holds")


@pytest.mark.parametrize(
    "name", ["not_forward_reply.eml", "not_forward_plain_note.eml", "not_forward_outlook_reply.eml"]
)
def test_same_address_for_both_no_forward_structure_means_bcc(tmp_path: Path, name: str) -> None:
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS=BCC)
    route, data = route_of(settings, fixture(name, delivered_to=BCC))
    assert (route, data["structure"]) == ("bcc", None)
    assert route_of(settings, message())[0] == "bcc"


def test_the_route_and_its_evidence_are_in_the_decision_trace(crm: Crm) -> None:
    decision = run(crm, fixture("samsung_mail_en.eml"))
    entry = next(e for e in decision.trace if e.rule == "route")
    assert (decision.route, entry.reason, entry.data["header"]) == ("forward", "forward", "Delivered-To")
    found = next(e for e in decision.trace if e.rule == "forwards")
    assert found.data["found"] == [
        {
            "source": "inline-text",
            "client": "samsung-mail",
            "sender": "john.doe@acme.com",
            "sender_name": "John Doe",
            "date": "2021-01-25T16:23:00+01:00",
            "date_text": "25/01/2021 16:23 (GMT+01:00)",
        }
    ]


def test_sub_addresses() -> None:
    assert is_subaddress("log+fwd@acme.example", "log@acme.example")
    assert is_subaddress("log-fwd@acme.example", "log@acme.example")
    assert not is_subaddress("logfwd@acme.example", "log@acme.example")
    assert not is_subaddress("log+fwd@other.example", "log@acme.example")
    assert not is_subaddress("log@acme.example", "log@acme.example")


# §5: the records -------------------------------------------------------------------------------------


def tz(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


JAN_25 = datetime(2021, 1, 25, 16, 23)
J_P1 = JAN_25.replace(tzinfo=tz(1))
# fixture: (original sender, its company, original subject, original date)
FIXTURES = {
    "samsung_mail_en.eml": ("john.doe@acme.com", "acme.com", "Quote for 40 licences", J_P1),
    "gmail_android_de.eml": ("john.doe@acme.com", "acme.com", "Angebot für 40 Lizenzen", J_P1),
    "gmail_ios_fr.eml": ("john.doe@acme.com", "acme.com", "Devis pour 40 licences", J_P1),
    "gmail_pl_iso8859_2.eml": ("jan.kowalski@firma.pl", "firma.pl", "Oferta", J_P1),
    "apple_mail_iphone_es.eml": ("john.doe@acme.com", "acme.com", "Presupuesto", J_P1),
    "apple_mail_ipad_ja_iso2022jp.eml": (
        "taro.yamada@acme.co.jp",
        "acme.co.jp",
        "見積もり",
        JAN_25.replace(tzinfo=tz(9)),
    ),
    "windows_live_mail_en.eml": ("john.doe@acme.com", "acme.com", "Quote for 40 licences", J_P1),
    "outlook_html_only_base64_pl.eml": ("jan.kowalski@firma.pl", "firma.pl", "Oferta na 40 licencji", J_P1),
    "outlook_desktop_html_divrplyfwdmsg_en.eml": (
        "john.doe@acme.com",
        "acme.com",
        "Quote for 40 licences",
        J_P1,
    ),
    "outlook_2016_html_bordered_de.eml": ("heinz.mueller@kunde.de", "kunde.de", "Angebot", J_P1),
    "outlook_base64_text_ru_cp1251.eml": ("ivan.petrov@firma.ru", "firma.ru", "Счёт на 40 лицензий", J_P1),
    "thunderbird_quoted_printable_fr.eml": (
        "francois.dupont@client.fr",
        "client.fr",
        "Devis pour 40 licences — révisé",
        J_P1,
    ),
    "nested_forward_gmail_en.eml": ("john.doe@acme.com", "acme.com", "Fwd: Quote for 40 licences", J_P1),
    "outlook_forward_as_attachment.eml": ("john.doe@acme.com", "acme.com", "Quote for 40 licences", J_P1),
    "thunderbird_forward_as_attachment.eml": ("francois@client.fr", "client.fr", "Devis", J_P1),
    "outlook_attachment_with_files.eml": (
        "carla@initech.example",
        "initech.example",
        "RE: Signed order",
        datetime(2021, 1, 26, 9, 12, 33, tzinfo=tz(1)),
    ),
    "gmail_web_html_with_attachment_en.eml": ("gina@globex.example", "globex.example", "Specification", J_P1),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_each_client_logs_the_original_on_the_senders_record(crm: Crm, name: str) -> None:
    sender, company, subject, date = FIXTURES[name]
    decision = run(crm, fixture(name))
    plan = only_plan(decision)
    assert (decision.route, plan.route, plan.direction) == ("forward", "forward", "incoming")
    assert decision.owner is not None and plan.owner_id == decision.owner.id and decision.owner.email == REP
    assert plan.sender is not None and plan.sender.address == sender
    assert (plan.subject, plan.date) == (subject, date)
    # Only the customer who wrote is created; the people on the original's To/Cc are not.
    assert [(c.key, c.contact_id, c.company_domain) for c in plan.contacts] == [(sender, None, company)]
    assert plan.text.strip() and plan.note != plan.text


def test_an_inline_date_without_a_zone_is_read_in_the_forwards_own_zone(crm: Crm) -> None:
    # Gmail wrote "Mon, Jan 25, 2021 at 4:23 PM" in the forwarder's local time, no zone; the
    # forward itself was stamped -0500 by the same client.
    raw = fixture("gmail_web_html_with_attachment_en.eml").replace(b"+0100", b"-0500", 1)
    assert only_plan(run(crm, raw)).date == datetime(2021, 1, 25, 16, 23, tzinfo=tz(-5))
    # A written zone is kept (Samsung's "(GMT+01:00)"); an attached original has its real Date.
    samsung = fixture("samsung_mail_en.eml").replace(b"+0100", b"-0500", 1)
    assert only_plan(run(crm, samsung)).date == datetime(2021, 1, 25, 16, 23, tzinfo=tz(1))
    attached = fixture("outlook_attachment_with_files.eml").replace(b"+0100", b"-0500", 1)
    assert only_plan(run(crm, attached)).date == datetime(2021, 1, 26, 9, 12, 33, tzinfo=tz(1))


def test_an_inline_date_without_a_zone_is_read_in_the_forwarders_time_zone_across_daylight_saving(
    tmp_path: Path,
) -> None:
    # Gmail wrote a July date in Berlin summer time (+0200) with no zone; the forward is from
    # November (+0100). Apple Mail writes the same date with "CEST": both must be one email.
    settings = make_settings(tmp_path, EMAILLOG_TIME_ZONES="America/New_York, Europe/Berlin")
    store = open_store(settings)
    admin.add_user(store, settings, REP, "Rep Smith", active=True, may_log=True)
    november = datetime(2026, 11, 20, 9, 0, tzinfo=tz(1))
    gmail = "FYI\n\n---------- Forwarded message ---------\nDate: Wed, Jul 1, 2026 at 4:23 PM\n"
    apple = "FYI\n\nBegin forwarded message:\n\nDate: 1 July 2026 at 16:23:05 CEST\n"
    plans = []
    for block in (gmail, apple):
        text = block + "From: Carl <carl@globex.example>\nSubject: Re: Proposal\n\nLooks good.\n"
        raw = message(
            sender=REP, to=[FWD], subject="Fwd: Re: Proposal", body=text, delivered_to=FWD, date=november
        )
        plans.append(only_plan(run((store, settings), raw)))
    assert [p.date.astimezone(UTC).replace(second=0) for p in plans] == [
        datetime(2026, 7, 1, 14, 23, tzinfo=UTC)
    ] * 2
    assert plans[0].identity == plans[1].identity
    # A forwarder whose offset none of the zones has that day: the forward's own offset, as before.
    raw = message(
        sender=REP,
        to=[FWD],
        subject="Fwd: Re: Proposal",
        delivered_to=FWD,
        date=november.replace(tzinfo=tz(9)),
        body=gmail + "From: Carl <carl@globex.example>\nSubject: Re: Proposal\n\nLooks good.\n",
    )
    assert only_plan(run((store, settings), raw)).date == datetime(2026, 7, 1, 16, 23, tzinfo=tz(9))


def test_a_time_zone_that_does_not_exist_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        make_settings(tmp_path, EMAILLOG_TIME_ZONES="Europe/Berlin, Europe/Berln, ../../etc/passwd")
    assert raised.value.problems == [
        "EMAILLOG_TIME_ZONES: 'Europe/Berln' is not a time zone name (such as Europe/Berlin)",
        "EMAILLOG_TIME_ZONES: '../../etc/passwd' is not a time zone name (such as Europe/Berlin)",
    ]


def test_zone_written() -> None:
    assert zone_written("25/01/2021 16:23 (GMT+01:00)") and zone_written("Wed, 3 Nov 2021 15:51:30 +0100")
    assert zone_written("Monday, January 25, 2021 4:23 PM EST")
    assert not zone_written("Mon, Jan 25, 2021 at 4:23 PM") and not zone_written("Mo., 25. Jan. 2021, 16:23")
    assert not zone_written("Wed, 3 Nov 2021 15:51:30 -0000") and not zone_written(None)


def test_the_forwarders_note_is_kept_apart_from_the_body(crm: Crm) -> None:
    plan = only_plan(run(crm, fixture("samsung_mail_en.eml")))
    assert plan.note == "FYI\n\nSent from my Galaxy"
    assert plan.text.startswith("Hello Bessie,") and "FYI" not in plan.text and "Galaxy" not in plan.text
    plan = only_plan(run(crm, fixture("outlook_forward_as_attachment.eml")))
    assert plan.note == "Please log this one." and "Please log" not in plan.text


def test_the_original_html_excludes_the_note_and_header_block_and_is_made_safe(crm: Crm) -> None:
    plan = only_plan(run(crm, fixture("outlook_2016_html_bordered_de.eml")))
    assert plan.html is not None and "Guten Tag, anbei unser Angebot" in plan.html
    for leaked in ("Bitte erfassen", "Gesendet", "<script", "tracker.example"):
        assert leaked not in plan.html
    plan = only_plan(run(crm, fixture("gmail_web_html_with_attachment_en.eml")))
    assert plan.html is not None and "the specification is attached" in plan.html
    assert "Forwarded message" not in plan.html and "Specs from Globex" not in plan.html
    plan = only_plan(run(crm, fixture("outlook_desktop_html_divrplyfwdmsg_en.eml")))
    assert plan.html is not None and "Hello Bessie" in plan.html and "See below" not in plan.html


def test_html_beside_an_inline_forward_is_cut_in_bounded_time(crm: Crm) -> None:
    # Looking for the client's header block in the HTML read each "<div" to the next ">": 100 KB of
    # "<div " with none took a minute of CPU, 2 MB would take hours (SPEC §8: never exhaust CPU).
    forward = message_from_bytes(inline_forward(), policy=default)
    assert isinstance(forward, EmailMessage)
    forward.add_alternative("<div " * 20_000 + "Looks good, let's sign.", subtype="html")
    started = time.process_time()
    plan = only_plan(run(crm, bytes(forward)))
    assert time.process_time() - started < 2.0
    assert plan.text.startswith("Looks good") and plan.html is None  # no known block: kept as text


def test_original_sender_is_not_created_when_internal(crm: Crm) -> None:
    # A colleague who is not a user: company domain, never a contact; nothing else to log on.
    decision = run(crm, inline_forward(original_from="Colin <colin@acme.example>"))
    assert (decision.outcome, decision.reason) == ("skipped", "no-recipients")


def test_never_log_original_sender_is_skipped(crm: Crm) -> None:
    admin.add_never_log(crm[0], crm[1], "globex.example")
    admin.ensure_contact(crm[0], crm[1], "dana@initech.example")
    decision = run(crm, inline_forward(cc="dana@initech.example"))
    assert (decision.outcome, decision.reason, decision.folder_kind) == ("skipped", "never-log", "processed")
    assert decision.plans == ()


def test_a_never_log_sender_among_several_attached_messages_skips_only_that_one(crm: Crm) -> None:
    admin.add_never_log(crm[0], crm[1], "globex.example")
    plan = only_plan(run(crm, fixture("two_attached_messages.eml")))
    assert plan.subject == "First" and keys(plan) == ["john.doe@acme.com"]


def test_ccd_recipients_are_never_created_existing_ones_are_associated(crm: Crm) -> None:
    existing = admin.ensure_contact(crm[0], crm[1], "dana@initech.example", "Dana")
    plan = only_plan(
        run(
            crm,
            inline_forward(
                to="Rep Smith <rep@ourco.example>, Ed <ed@hooli.example>",
                cc="Dana <dana@initech.example>, Fred <fred@hooli.example>",
            ),
        )
    )
    assert [(c.key, c.contact_id) for c in plan.contacts] == [
        ("carl@globex.example", None),
        ("dana@initech.example", existing),
    ]


def test_a_rep_forwarding_their_own_sent_email_logs_it_outgoing_with_the_bcc_rules(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "sam@acme.example", "Sam", True, True)
    plan = only_plan(
        run(
            crm,
            inline_forward(
                original_from="Sam <sam@acme.example>",
                to="Carl <carl@globex.example>, colin@acme.example",
                cc="Dana <dana@initech.example>",
                subject="Proposal",
            ),
        )
    )
    assert (plan.direction, plan.sender and plan.sender.address) == ("outgoing", "sam@acme.example")
    assert plan.owner_id == run(crm, inline_forward()).owner.id  # type: ignore[union-attr]
    assert [(c.key, c.contact_id) for c in plan.contacts] == [
        ("carl@globex.example", None),
        ("dana@initech.example", None),
    ]


def test_the_owner_is_the_forwarder_not_the_original_sender(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "sam@acme.example", "Sam", True, True)
    decision = run(crm, inline_forward(sender="Sam <sam@acme.example>"))
    assert decision.owner is not None and decision.owner.email == "sam@acme.example"
    assert only_plan(decision).sender.address == "carl@globex.example"  # type: ignore[union-attr]


def test_several_attached_messages_are_each_logged(crm: Crm) -> None:
    decision = run(crm, fixture("two_attached_messages.eml"))
    first, second = decision.plans
    assert (first.subject, second.subject) == ("First", "Second")
    assert (keys(first), keys(second)) == (["john.doe@acme.com"], ["jane.roe@globex.example"])
    assert first.identity != second.identity
    assert first.note == second.note == "Both of these, please."


def test_an_attached_original_with_a_date_past_any_calendar_is_logged_without_its_date(crm: Crm) -> None:
    # The stdlib's date parser raises OverflowError for a year of 20 digits; read apart from the
    # top-level header's Date, the attached original's raised it out of the forward reader.
    raw = attached_forward(original_message())
    raw = raw.replace(b"Fri, 20 Nov 2026 09:15:42", b"Fri, 20 Nov 99999999999999999999 09:15:42")
    plan = only_plan(run(crm, raw))
    assert plan.sender is not None and plan.sender.address == "carl@globex.example"
    assert plan.message_id == "<orig-1@globex.example>" and plan.date is None


def test_a_nested_forward_logs_only_the_top_most_message(crm: Crm) -> None:
    plan = only_plan(run(crm, fixture("nested_forward_gmail_en.eml")))
    assert plan.sender is not None and plan.sender.address == "john.doe@acme.com"
    assert "From: Old Sender <old@legacy.example>" in plan.text
    assert keys(plan) == ["john.doe@acme.com"]


def test_the_same_inline_original_forwarded_twice_has_one_identity(crm: Crm) -> None:
    admin.add_user(crm[0], crm[1], "sam@acme.example", "Sam", True, True)
    first = only_plan(run(crm, inline_forward()))
    second = only_plan(
        run(
            crm,
            inline_forward(
                sender="sam@acme.example", note="Logging this too", message_id="<fwd-2@ourco.example>"
            ),
        )
    )
    assert first.message_id is None and first.identity.startswith("fp:")
    assert first.identity == second.identity
    other = only_plan(run(crm, inline_forward(body="Looks good, but not yet.")))
    assert other.identity != first.identity


def test_a_bccd_email_later_forwarded_as_attachment_has_the_same_identity(crm: Crm) -> None:
    bcc = only_plan(
        run(
            crm,
            message(
                sender="rep@ourco.example", to=["carl@globex.example"], message_id="<sent-1@ourco.example>"
            ),
        )
    )
    inner = original_message(
        sender="rep@ourco.example", to="carl@globex.example", message_id=" <sent-1@ourco.example> (Outlook)"
    )
    forwarded = only_plan(run(crm, attached_forward(inner)))
    assert forwarded.direction == "outgoing"
    assert bcc.identity == forwarded.identity == "mid:sent-1@ourco.example"
    assert forwarded.message_id == "<sent-1@ourco.example>"


def test_message_id_identity_ignores_comments_and_spacing() -> None:
    assert identity(" <a@b> (c)", None, None, "", "") == identity("<a@b>", None, None, "", "") == "mid:a@b"


def test_an_unrecognised_forward_is_rejected(crm: Crm) -> None:
    decision = run(crm, fixture("not_forward_plain_note.eml"))
    assert (decision.route, decision.outcome) == ("forward", "rejected")
    assert decision.reason == "forward-not-recognised"
    assert decision.folder_kind == "error"


def test_an_original_sender_without_an_address_is_not_recognised(crm: Crm) -> None:
    decision = run(crm, inline_forward(original_from="John Doe"))
    assert (decision.outcome, decision.reason) == ("rejected", "forward-not-recognised")
    found = next(e for e in decision.trace if e.rule == "forwards")
    assert (found.hit, found.data["found"][0]["sender"], found.data["found"][0]["sender_name"]) == (
        False,
        None,
        "John Doe",
    )


def test_a_forward_from_a_non_user_is_rejected(crm: Crm) -> None:
    decision = run(crm, fixture("samsung_mail_en.eml", sender="Stranger <stranger@elsewhere.example>"))
    assert (decision.route, decision.outcome, decision.reason) == ("forward", "rejected", "sender-not-a-user")


# Attachments -----------------------------------------------------------------------------------------


def test_an_attached_originals_own_files_are_logged_not_the_eml(crm: Crm) -> None:
    plan = only_plan(run(crm, fixture("outlook_attachment_with_files.eml")))
    assert [(a.filename, a.content_type) for a in plan.attachments] == [
        ("order.pdf", "application/pdf"),
        ("logo.png", "image/png"),
    ]
    assert plan.attachments[0].data.startswith(b"%PDF-1.4") and plan.left_out == ()


def test_an_inline_originals_files_are_the_forwards_attachments(crm: Crm) -> None:
    plan = only_plan(run(crm, fixture("gmail_web_html_with_attachment_en.eml")))
    assert [(a.filename, a.size) for a in plan.attachments] == [("spec.pdf", 1516)]


def test_each_attached_original_keeps_its_own_files_and_the_size_limit_applies(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, EMAILLOG_MAX_ATTACHMENT_MB="1")
    store = open_store(settings)
    admin.add_user(store, settings, REP, None, True, True)
    big = original_message(files=(("big.pdf", b"x" * (1024 * 1024 + 1)), ("../../small.pdf", b"y")))
    other = original_message(
        sender="dana@initech.example", message_id="<orig-2@initech.example>", files=(("other.pdf", b"z"),)
    )
    decision = decide(parse(attached_forward(big, other), Limits()), settings, store.lookup)
    first, second = decision.plans
    assert [a.filename for a in first.attachments] == ["small.pdf"]
    assert [a.filename for a in first.left_out] == ["big.pdf"]
    assert [a.filename for a in second.attachments] == ["other.pdf"] and second.left_out == ()


_REPLY_QUOTES = {
    "outlook": "-----Original Message-----\nFrom: Carl Customer <carl@globex.example>\n"
    "Sent: Thursday, November 19, 2026 4:23 PM\nTo: Rep Smith <rep@ourco.example>\nSubject: Meeting\n",
    "samsung": "-------- Original message --------\nFrom: Carl Customer <carl@globex.example>\n"
    "Date: 19/11/2026 16:23 (GMT+01:00)\nTo: rep@ourco.example\nSubject: Meeting\n",
    "outlook-de": "-----Ursprüngliche Nachricht-----\nVon: Carl Customer <carl@globex.example>\n"
    "Gesendet: Donnerstag, 19. November 2026 16:23\nAn: Rep Smith <rep@ourco.example>\nBetreff: Termin\n",
}


@pytest.mark.parametrize("client", sorted(_REPLY_QUOTES))
@pytest.mark.parametrize("delivered_to", [BCC, None])
def test_a_bccd_reply_quoting_the_original_message_is_not_taken_for_a_forward(
    tmp_path: Path, client: str, delivered_to: str | None
) -> None:
    # One address for both routes (or a server that names neither): the structure decides, and the
    # "original message" separator Outlook and Samsung Mail write above a reply's quote is no forward.
    settings = make_settings(tmp_path, EMAILLOG_FORWARD_ADDRESS=BCC)
    store = open_store(settings)
    admin.add_user(store, settings, REP, "Rep Smith", active=True, may_log=True)
    body = "Yes, Tuesday works.\n\n" + _REPLY_QUOTES[client] + "\nCan we meet Tuesday?\n"
    raw = message(
        sender=f"Rep Smith <{REP}>",
        to=["Carl Customer <carl@globex.example>"],
        subject="AW: Termin" if client.endswith("-de") else "RE: Meeting",
        body=body,
        delivered_to=delivered_to,
    )
    plan = only_plan(run((store, settings), raw))
    assert (plan.route, plan.direction, plan.sender and plan.sender.address) == ("bcc", "outgoing", REP)
    assert keys(plan) == ["carl@globex.example"]
    # Forwarded the same way (the subject says forward), it is still a forward.
    forwarded = raw.replace(b"Subject: RE: Meeting", b"Subject: FW: Meeting").replace(
        b"Subject: AW: Termin", b"Subject: WG: Termin"
    )
    assert route_of(settings, forwarded)[0] == "forward"


def test_an_inline_forward_of_an_email_that_carried_an_eml_logs_the_inline_original(crm: Crm) -> None:
    # Gmail and Outlook re-attach the original's files to an inline forward: an .eml the customer
    # had attached is one of them, not the forwarded reply, and its sender is no contact.
    carried = original_message(
        sender="Supplier <sales@supplier.example>", message_id="<old-quote@supplier.example>"
    )
    outer = message_from_bytes(inline_forward(), policy=default)
    assert isinstance(outer, EmailMessage)
    outer.add_attachment(carried, filename="Old quote.eml")
    plan = only_plan(run(crm, outer.as_bytes()))
    assert (plan.direction, plan.sender and plan.sender.address) == ("incoming", "carl@globex.example")
    assert keys(plan) == ["carl@globex.example"]


@pytest.mark.parametrize("written", ["nobr-1@globex.example", "<nobr-1@globex.example>"])
def test_a_message_id_without_angle_brackets_is_one_identity_on_every_path(crm: Crm, written: str) -> None:
    # Some gateways write the id bare. The BCC path took it for no id (a fingerprint identity) while
    # the forward-as-attachment path kept it: one email BCC'd, then forwarded, was logged twice.
    bccd = message(
        sender=REP, to=["Carl Customer <carl@globex.example>"], subject="Re: Proposal", message_id=None
    )
    bccd = bccd.replace(b"Subject:", f"Message-ID: {written}\r\nSubject:".encode(), 1)
    inner = original_message(sender=REP, to="Carl Customer <carl@globex.example>")
    inner.replace_header("Message-ID", written)
    assert only_plan(run(crm, bccd)).identity == only_plan(run(crm, attached_forward(inner))).identity
    assert only_plan(run(crm, bccd)).identity == "mid:nobr-1@globex.example"
    # A value with a space in it is no id on either path: the fingerprint decides.
    assert not only_plan(
        run(crm, bccd.replace(written.encode(), b"<sp 1@globex.example>"))
    ).identity.startswith("mid:")


# §5 sentences the tests above did not hold: who the original sender may be ----------------------------


def test_an_attached_original_that_itself_carried_an_attached_message_logs_one_email(crm: Crm) -> None:
    # §5 "a single reply is logged": the history inside the attached original (here an .eml the
    # customer attached) is one of its files, never a second logged email or a contact.
    original = original_message()
    original.add_attachment(
        original_message(sender="Old <old@legacy.example>", subject="Old", message_id="<old@legacy.example>"),
        filename="old.eml",
    )
    plan = only_plan(run(crm, attached_forward(original)))
    assert (plan.sender and plan.sender.address, keys(plan)) == (
        "carl@globex.example",
        ["carl@globex.example"],
    )
    assert [(a.filename, a.content_type) for a in plan.attachments] == [("old.eml", "message/rfc822")]


def test_an_original_sent_by_a_team_inbox_is_the_teams_outgoing_email(crm: Crm) -> None:
    # A team inbox is never a contact (§4), so its sent email forwarded is logged as a user's is.
    admin.add_team_inbox(crm[0], crm[1], "sales@ourco.example", REP, None)
    plan = only_plan(
        run(crm, inline_forward(original_from="Sales <sales@ourco.example>", to="carl@globex.example"))
    )
    assert (plan.direction, keys(plan)) == ("outgoing", ["carl@globex.example"])


def test_an_original_sent_by_a_logging_address_is_nobodys_record(crm: Crm) -> None:
    # Never a contact (§4); the Cc'd customer is not created either (§5), so nothing is logged.
    decision = run(crm, inline_forward(original_from="CRM <log@acme.example>", cc="carl@globex.example"))
    assert (decision.outcome, decision.reason, decision.plans) == ("skipped", "no-recipients", ())


def test_an_original_sender_at_a_subdomain_of_a_never_log_domain_is_skipped(crm: Crm) -> None:
    # §6: a listed domain covers its subdomains, for a forward's original sender as for a recipient.
    admin.add_never_log(crm[0], crm[1], "globex.example")
    decision = run(crm, inline_forward(original_from="Carl <carl@mail.globex.example>"))
    assert (decision.outcome, decision.reason) == ("skipped", "never-log")
    assert "carl@mail.globex.example" in (decision.detail or "")


@pytest.mark.parametrize(
    ("sender", "company"),
    [
        ("gina@gmail.com", None),
        ("gina@mail.globex.example", "globex.example"),
        ("gina@mail.acme.co.uk", "acme.co.uk"),
        ("anna@xn--bcher-kva.de", "bücher.de"),
    ],
)
def test_a_forwarded_originals_sender_gets_the_company_of_its_registrable_domain(
    crm: Crm, sender: str, company: str | None
) -> None:
    # §7 on the forward route: free mail gives none, a subdomain its registrable domain's, and an
    # IDNA domain the same company whichever way it is written.
    plan = only_plan(run(crm, inline_forward(original_from=f"Gina <{sender}>")))
    assert [c.company_domain for c in plan.contacts] == [company]
