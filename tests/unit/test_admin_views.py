"""The admin's views and removals, on SQLite and PostgreSQL, through `emaillog.cli.main`: users,
their addresses and team inboxes, companies, deals, one logged email and one contact in full.

A name the admin got wrong (a user, an address, an id) is one line and exit code 2; every list and
show has --json; text from the database stays on its own line in a terminal; each command sees
only the account of the mailbox it was given."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from support import (
    BCC,
    PICTURE,
    addresses_env,
    cli_env,
    log_message,
    message,
    offline_mailboxes_toml,
    with_picture,
)

from emaillog.cli import main
from emaillog.settings import load
from emaillog.store import open_store
from emaillog.store.models import LoggedEmail, NeverLog, User

REP = "rita@acme.example"
BIG = 1024 * 1024 + 10  # over EMAILLOG_MAX_ATTACHMENT_MB=1: left out, not stored


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    settings = {**addresses_env(database_url), "EMAILLOG_MAX_ATTACHMENT_MB": "1"}
    return cli_env(monkeypatch, tmp_path, settings)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = _cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def _ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _cli(capsys, *argv)
    assert (code, err) == (0, ""), argv
    return out


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line of a usage error (exit 2)."""
    code, out, err = _cli(capsys, *argv)
    assert code == 2, (argv, out, err)
    assert err.startswith("emaillog: ") and err.count("\n") == 1 and out == "", err
    return err


def _rich_message() -> bytes:
    """Text and HTML, a small attachment that is stored and a big one that is left out."""
    msg = EmailMessage()
    msg["Delivered-To"] = BCC
    msg["From"] = "Rita Rep <rita@acme.example>"
    msg["To"] = "Carl Customer <carl@globex.example>"
    msg["Cc"] = "dora@initech.example"
    msg["Subject"] = "Quote for 40 seats"
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 10, 30, tzinfo=UTC))
    msg["Message-ID"] = "<quote@acme.example>"
    msg["In-Reply-To"] = "<ask@globex.example>"
    msg.set_content("Hello Carl,\nhere is the quote.\n")
    msg.add_alternative('<p>Hello <b>Carl</b></p><script>alert("x")</script>', subtype="html")
    msg.add_attachment(b"%PDF-1.4 quote", maintype="application", subtype="pdf", filename="quote.pdf")
    msg.add_attachment(b"x" * BIG, maintype="application", subtype="zip", filename="big.zip")
    return bytes(msg)


# -- users ----------------------------------------------------------------------------------------


def test_users_list_shows_addresses_team_inboxes_and_emails(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ok(capsys, "users", "add", REP, "--name", "Rita Rep")
    _ok(capsys, "users", "add", "bob@acme.example", "--inactive", "--no-logging")
    _ok(capsys, "users", "alias", REP, "rr@acme.example")
    _ok(capsys, "users", "connect", REP, "rita@gmail.example", "--at", "2026-01-31T09:30:00Z")
    _ok(capsys, "team-inboxes", "add", "sales@acme.example", "--connected-by", REP)
    log_message(message())
    users = _json(capsys, "users", "list")
    assert users == [
        {
            "email": "bob@acme.example",
            "name": None,
            "active": False,
            "may_log": False,
            "aliases": [],
            "connected": [],
            "team_inboxes": [],
            "emails": 0,
        },
        {
            "email": REP,
            "name": "Rita Rep",
            "active": True,
            "may_log": True,
            "aliases": ["rr@acme.example"],
            "connected": [{"address": "rita@gmail.example", "connected_at": "2026-01-31T09:30:00+00:00"}],
            "team_inboxes": ["sales@acme.example"],
            "emails": 1,
        },
    ]
    lines = _ok(capsys, "users", "list").splitlines()
    assert lines[0].startswith("email=bob@acme.example  name=-  active=no  may_log=no  aliases=-")
    assert lines[1] == (
        f"email={REP}  name=Rita Rep  active=yes  may_log=yes  aliases=rr@acme.example  "
        "connected=rita@gmail.example (2026-01-31T09:30:00+00:00)  team_inboxes=sales@acme.example  emails=1"
    )


def test_disconnect_and_unalias_take_one_address_of_one_kind(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ok(capsys, "users", "add", REP)
    _ok(capsys, "users", "alias", REP, "rr@acme.example")
    _ok(capsys, "users", "connect", REP, "rita@gmail.example")
    # An alias is not a connected address, nor the other way round.
    assert "rr@acme.example is not a connected address of" in _usage_error(
        capsys, "users", "disconnect", REP, "rr@acme.example"
    )
    assert "is not an alias of" in _usage_error(capsys, "users", "unalias", REP, "rita@gmail.example")
    _ok(capsys, "users", "disconnect", REP, "Rita@Gmail.example")
    _ok(capsys, "users", "unalias", REP, "rr@acme.example")
    (rita,) = _json(capsys, "users", "list")
    assert (rita["aliases"], rita["connected"]) == ([], [])
    assert "is not an alias of" in _usage_error(capsys, "users", "unalias", REP, "rr@acme.example")
    assert "no user with the login email nobody@acme.example" in _usage_error(
        capsys, "users", "disconnect", "nobody@acme.example", "x@gmail.example"
    )
    assert "is not an email address" in _usage_error(capsys, "users", "unalias", REP, "not-an-address")


def test_a_user_who_owns_email_or_a_team_inbox_is_not_removed(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for user in (REP, "tom@acme.example", "ann@acme.example"):
        _ok(capsys, "users", "add", user)
    _ok(capsys, "users", "alias", "ann@acme.example", "anna@acme.example")
    _ok(capsys, "team-inboxes", "add", "sales@acme.example", "--connected-by", "tom@acme.example")
    log_message(message())
    err = _usage_error(capsys, "users", "remove", REP)
    assert "owns 1 logged email(s)" in err and f"users add {REP} --inactive" in err
    assert "sales@acme.example" in _usage_error(capsys, "users", "remove", "tom@acme.example")
    _ok(capsys, "users", "remove", "ann@acme.example")
    assert [u["email"] for u in _json(capsys, "users", "list")] == [REP, "tom@acme.example"]
    assert _json(capsys, "team-inboxes", "list")[0]["address"] == "sales@acme.example"
    assert "no user with the login email" in _usage_error(capsys, "users", "remove", "ann@acme.example")


# -- team inboxes, companies, deals ------------------------------------------------------------------


def test_team_inboxes_list_and_remove(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "users", "add", REP)
    _ok(
        capsys,
        "team-inboxes",
        "add",
        "sales@acme.example",
        "--connected-by",
        REP,
        "--at",
        "2026-02-01T08:00Z",
    )
    _ok(
        capsys, "team-inboxes", "add", "info@acme.example", "--connected-by", REP, "--at", "2026-02-02T08:00Z"
    )
    assert _json(capsys, "team-inboxes", "list") == [
        {"address": "info@acme.example", "connected_by": REP, "connected_at": "2026-02-02T08:00:00+00:00"},
        {"address": "sales@acme.example", "connected_by": REP, "connected_at": "2026-02-01T08:00:00+00:00"},
    ]
    _ok(capsys, "team-inboxes", "remove", "Sales@acme.example")
    assert _ok(capsys, "team-inboxes", "list") == (
        f"address=info@acme.example  connected_by={REP}  connected_at=2026-02-02T08:00:00+00:00\n"
    )
    assert "sales@acme.example is not a team inbox" in _usage_error(
        capsys, "team-inboxes", "remove", "sales@acme.example"
    )


def test_companies_and_deals_lists_and_closing_a_deal(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "companies", "add", "globex.example", "--name", "Globex")
    _ok(capsys, "companies", "add", "initech.example")
    _ok(
        capsys,
        "deals",
        "add",
        "Seats",
        "--contact",
        "carl@globex.example",
        "--contact",
        "dee@globex.example",
        "--created",
        "2026-03-01T00:00:00Z",
    )
    _ok(
        capsys,
        "deals",
        "add",
        "Support",
        "--contact",
        "carl@globex.example",
        "--closed",
        "--created",
        "2026-03-02T00:00:00Z",
    )
    companies = _json(capsys, "companies", "list")
    assert [(c["domain"], c["name"], c["contacts"]) for c in companies] == [
        ("globex.example", "Globex", 2),
        ("initech.example", "initech.example", 0),
    ]
    assert (
        _ok(capsys, "companies", "list").splitlines()[0] == "domain=globex.example  name=Globex  contacts=2"
    )
    deals = _json(capsys, "deals", "list")
    seats, support = deals
    assert seats == {
        "id": seats["id"],
        "name": "Seats",
        "state": "open",
        "created": "2026-03-01T00:00:00+00:00",
        "contacts": ["carl@globex.example", "dee@globex.example"],
    }
    assert (support["name"], support["state"], support["contacts"]) == (
        "Support",
        "closed",
        ["carl@globex.example"],
    )
    _ok(capsys, "deals", "close", str(seats["id"]))
    _ok(capsys, "deals", "reopen", str(support["id"]))
    assert [d["state"] for d in _json(capsys, "deals", "list")] == ["closed", "open"]
    assert _ok(capsys, "deals", "list").splitlines()[0] == (
        f"id={seats['id']}  name=Seats  state=closed  created=2026-03-01T00:00:00+00:00  "
        "contacts=carl@globex.example, dee@globex.example"
    )
    assert "no deal with the id 999" in _usage_error(capsys, "deals", "close", "999")
    with pytest.raises(SystemExit) as exited:
        main(["deals", "reopen", "Seats"])
    assert exited.value.code == 2


def test_never_log_remove_of_a_missing_entry_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ok(capsys, "never-log", "add", "globex.example")
    assert "initech.example is not on the never-log list" in _usage_error(
        capsys, "never-log", "remove", "initech.example"
    )
    _ok(capsys, "never-log", "remove", "globex.example")
    assert "globex.example is not on the never-log list" in _usage_error(
        capsys, "never-log", "remove", "globex.example"
    )


def test_never_log_entries_are_printed_escaped(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An address keeps a right-to-left override (U+202E) it was given; `never-log add` and
    # `never-log list` printed it raw, and the terminal showed the address reversed. `never-log add`
    # refuses one now (an invisible character, as `users add`); one stored before is still listed.
    assert "holds an invisible character (U+202E)" in _usage_error(
        capsys, "never-log", "add", "evil\u202e@rival.example"
    )
    NeverLog.create(account=open_store(load()).account_id, value="evil\u202e@rival.example")
    assert _ok(capsys, "never-log", "add", "rival.example") == "rival.example\n"
    assert _ok(capsys, "never-log", "list") == "evil\\u202e@rival.example\nrival.example\n"
    assert _json(capsys, "never-log", "list") == ["evil\u202e@rival.example", "rival.example"]


# -- one email, one contact ---------------------------------------------------------------------------


def test_emails_show_everything_about_one_email(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "users", "add", REP, "--name", "Rita Rep")
    _ok(capsys, "deals", "add", "Seats", "--contact", "carl@globex.example")
    email_id = log_message(_rich_message())
    shown = _json(capsys, "emails", "show", str(email_id))
    assert {k: shown[k] for k in ("id", "direction", "owner", "owner_name", "subject", "date", "from")} == {
        "id": email_id,
        "direction": "outgoing",
        "owner": REP,
        "owner_name": "Rita Rep",
        "subject": "Quote for 40 seats",
        "date": "2026-11-20T10:30:00+00:00",
        "from": REP,
    }
    assert (shown["to"], shown["cc"]) == (["carl@globex.example"], ["dora@initech.example"])
    assert (shown["message_id"], shown["in_reply_to"]) == ("<quote@acme.example>", "<ask@globex.example>")
    assert shown["contacts"] == ["carl@globex.example", "dora@initech.example"]
    assert shown["companies"] == ["globex.example", "initech.example"] and shown["deals"] == ["Seats"]
    assert shown["text_body"].startswith("Hello Carl,\nhere is the quote.")
    assert "<b>Carl</b>" in shown["html_body"] and "script" not in shown["html_body"]
    pdf, big = shown["attachments"]
    assert (pdf["filename"], pdf["content_type"], pdf["size"], pdf["logged"]) == (
        "quote.pdf",
        "application/pdf",
        14,
        True,
    )
    assert Path(pdf["path"]).read_bytes() == b"%PDF-1.4 quote"
    assert (big["filename"], big["size"], big["logged"], big["path"]) == ("big.zip", BIG, False, None)

    text = _ok(capsys, "emails", "show", str(email_id))
    lines = text.splitlines()
    assert "subject:       Quote for 40 seats" in lines and f"owner:         {REP}" in lines
    assert "contacts:      carl@globex.example, dora@initech.example" in lines
    assert f"  quote.pdf  application/pdf  14 bytes (14 bytes)  {pdf['path']}" in lines
    assert any(line.startswith("  big.zip  application/zip") and "left out" in line for line in lines)
    assert lines[lines.index("text:") + 1] == "  Hello Carl,"
    assert "html:" not in lines and "<b>Carl</b>" not in text
    assert "  <p>Hello <b>Carl</b></p>" in _ok(capsys, "emails", "show", str(email_id), "--html").splitlines()
    assert f"no logged email with the id {email_id + 1}" in _usage_error(
        capsys, "emails", "show", str(email_id + 1)
    )


def test_emails_show_and_list_give_the_content_id_the_html_names_each_file_by(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CRM (or an admin) maps <img src="cid:image001.png@01DA"> in the stored HTML to the file.
    _ok(capsys, "users", "add", REP)
    email_id = log_message(with_picture([b"<image001.png@01DA>"]))
    shown = _json(capsys, "emails", "show", str(email_id))
    [picture] = shown["attachments"]
    assert (picture["filename"], picture["content_id"]) == ("image001.png", "image001.png@01DA")
    assert Path(picture["path"]).read_bytes() == PICTURE
    assert 'src="cid:image001.png@01DA"' in shown["html_body"]
    [listed] = _json(capsys, "emails", "list")
    assert [a["content_id"] for a in listed["attachments"]] == ["image001.png@01DA"]
    lines = _ok(capsys, "emails", "show", str(email_id)).splitlines()
    assert any(
        line.startswith("  image001.png  image/png") and line.endswith("  cid:image001.png@01DA")
        for line in lines
    )

    plain = log_message(message(message_id="<plain@acme.example>", attachments=[("offer.pdf", b"%PDF-1.7")]))
    [offer] = _json(capsys, "emails", "show", str(plain))["attachments"]
    assert offer["content_id"] is None
    assert not any("cid:" in line for line in _ok(capsys, "emails", "show", str(plain)).splitlines())


def test_hostile_text_from_the_database_stays_on_its_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Names come from CSV files and older versions; nothing stops them holding ESC or a newline.
    _ok(capsys, "users", "add", REP, "--name", "Rita\x1b[2J\nowner: mallory@evil.example")
    email_id = log_message(message(body="line one\r\nline\x1b]0;title\x07 two"))
    LoggedEmail.update(subject="Hi\u202efdp.exe\nfrom: ceo@acme.example").execute()
    for argv in (("users", "list"), ("emails", "list"), ("emails", "show", str(email_id))):
        out = _ok(capsys, *argv)
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out, argv
        assert not any(line.startswith(("owner: mallory", "from: ceo")) for line in out.splitlines()), argv
    show = _ok(capsys, "emails", "show", str(email_id)).splitlines()
    assert r"subject:       Hi\u202efdp.exe\x0afrom: ceo@acme.example" in show
    assert r"owner_name:    Rita\x1b[2J\x0aowner: mallory@evil.example" in show
    assert r"  line\x1b]0;title\x07 two" in show


def test_json_of_hostile_text_is_valid_and_escapes_what_a_terminal_would_obey(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # json escapes only C0 controls: a bidi override, CSI as a C1 control (U+009B), DEL and a line
    # separator in a subject or a name reached the terminal raw from every --json.
    hostile = "Hi\u202efdp.exe\u009b2J\x7f\u2028\U000e0041 Grüße 日本"
    _ok(capsys, "users", "add", REP, "--name", hostile)
    email_id = log_message(message(to=["Carl Customer <carl@globex.example>"]))
    LoggedEmail.update(subject=hostile).execute()
    for argv in (
        ("emails", "show", str(email_id)),
        ("emails", "list"),
        ("users", "list"),
        ("contacts", "show", "carl@globex.example"),
    ):
        out = _ok(capsys, *argv, "--json")
        assert out.isprintable() or set(c for c in out if not c.isprintable()) == {"\n"}, argv
        assert "Grüße 日本" in out, argv  # letters stay readable, not \u escapes
    assert _json(capsys, "emails", "show", str(email_id))["subject"] == hostile
    assert _json(capsys, "users", "list")[0]["name"] == hostile
    assert _json(capsys, "contacts", "show", "carl@globex.example")["emails"][0]["subject"] == hostile


def test_contacts_show_the_company_deals_and_emails(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ok(capsys, "users", "add", REP)
    _ok(capsys, "companies", "add", "globex.example", "--name", "Globex")
    first = log_message(message(subject="Proposal"))
    _ok(capsys, "deals", "add", "Seats", "--contact", "carl@globex.example", "--created", "2026-03-01T00:00Z")
    second = log_message(message(subject="Follow-up", message_id="<m2@acme.example>"))
    log_message(message(to=["dee@initech.example"], subject="Other", message_id="<m3@acme.example>"))
    contact = _json(capsys, "contacts", "show", "Carl@Globex.example")
    assert (contact["name"], contact["addresses"]) == ("Carl Customer", ["carl@globex.example"])
    assert contact["company"] == {"domain": "globex.example", "name": "Globex"}
    assert [(d["name"], d["state"], d["created"]) for d in contact["deals"]] == [
        ("Seats", "open", "2026-03-01T00:00:00+00:00")
    ]
    assert [(e["id"], e["subject"], e["direction"], e["owner"]) for e in contact["emails"]] == [
        (first, "Proposal", "outgoing", REP),
        (second, "Follow-up", "outgoing", REP),
    ]
    lines = _ok(capsys, "contacts", "show", "carl@globex.example").splitlines()
    assert "company:   globex.example (Globex)" in lines and "emails: 2" in lines
    assert f"  #{second}  2026-11-20T10:30:00+00:00  outgoing  {REP}  Follow-up" in lines
    assert "no contact with the address nobody@globex.example" in _usage_error(
        capsys, "contacts", "show", "nobody@globex.example"
    )
    assert "is not an email address" in _usage_error(capsys, "contacts", "show", "globex.example")


# -- one account per mailbox -------------------------------------------------------------------------


def test_each_command_sees_only_its_mailboxs_account(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "mailboxes.toml").write_text(offline_mailboxes_toml("acme", "globex"))
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(env / "mailboxes.toml"))
    acme = ("--mailbox", "acme")
    _ok(capsys, *acme, "users", "add", REP)
    _ok(capsys, *acme, "users", "alias", REP, "rr@acme.example")
    _ok(capsys, *acme, "team-inboxes", "add", "sales@acme.example", "--connected-by", REP)
    _ok(capsys, *acme, "deals", "add", "Seats", "--contact", "carl@initech.example")
    email_id = log_message(message(delivered_to="log@acme.example", to=["carl@initech.example"]), "acme")
    assert _usage_error(capsys, "users", "list").endswith("--mailbox NAME (acme, globex)\n")
    globex = ("--mailbox", "globex")
    for listing in ("users", "team-inboxes", "companies", "deals", "emails", "contacts"):
        assert _json(capsys, *globex, listing, "list") == [], listing
        assert len(_json(capsys, *acme, listing, "list")) == 1, listing
    deal_id = str(_json(capsys, *acme, "deals", "list")[0]["id"])
    _usage_error(capsys, *globex, "deals", "close", deal_id)
    _usage_error(capsys, *globex, "emails", "show", str(email_id))
    _usage_error(capsys, *globex, "contacts", "show", "carl@initech.example")
    _usage_error(capsys, *globex, "team-inboxes", "remove", "sales@acme.example")
    _usage_error(capsys, *globex, "users", "unalias", REP, "rr@acme.example")
    assert _json(capsys, *acme, "deals", "list")[0]["state"] == "open"
    assert _json(capsys, *acme, "emails", "show", str(email_id))["owner"] == REP
    assert User.select().count() == 1
