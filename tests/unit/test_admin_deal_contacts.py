"""A deal's contact entered by an admin (`deals add --contact`, `deals import`) is refused where the
mail path would never make that address a contact (SPEC §4): a user's address (login, alias,
connected), a team inbox, an address at one of the company's own domains, a never-log address or one
at a never-log domain (§6). One line naming the address and why, exit 2, nothing written; the same
rules (rules.recipients.exclusion) decide, on the account's own users, inboxes and entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import cli_env, offline_mailboxes_toml

from emaillog import admin, adminvalues
from emaillog.cli import main
from emaillog.settings import load
from emaillog.store import Store, open_store
from emaillog.store.models import Contact, ContactAddress, Deal, DealContact

USERS = "users are never contacts (SPEC §4)"
# (typed as a deal's contact, the refusal) for each kind of address the mail path never makes a contact.
NEVER_CONTACTS = {
    "user login": (
        "Bob@Partner.example",
        f"bob@partner.example is a user's address (the login of a user): {USERS}",
    ),
    "user alias": (
        "bobby@partner.example",
        f"bobby@partner.example is a user's address (an alias of bob@partner.example): {USERS}",
    ),
    "connected address": (
        "bob.home@gmail.com",
        f"bob.home@gmail.com is a user's address (connected by bob@partner.example): {USERS}",
    ),
    "team inbox": (
        "sales@partner.example",
        "sales@partner.example is a team inbox (connected by bob@partner.example): team inboxes are never "
        "contacts (SPEC §4)",
    ),
    "company domain": (
        "carol@acme.example",
        "carol@acme.example is at acme.example, one of the company's own domains "
        "(EMAILLOG_COMPANY_DOMAINS): they are never contacts (SPEC §4)",
    ),
    "company subdomain": (
        "dan@EU.acme.example",
        "dan@eu.acme.example is at acme.example, one of the company's own domains "
        "(EMAILLOG_COMPANY_DOMAINS): they are never contacts (SPEC §4)",
    ),
    "never-log address": (
        "eve@initech.example",
        "eve@initech.example is on the never-log list: it is never a contact (SPEC §4, §6)",
    ),
    "never-log domain": (
        "frank@mail.globex.example",
        "frank@mail.globex.example is at globex.example, on the never-log list: its addresses are never "
        "contacts (SPEC §4, §6)",
    ),
}
KINDS = list(NEVER_CONTACTS)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    settings = {
        "EMAILLOG_DATABASE_URL": database_url,
        "EMAILLOG_BCC_ADDRESS": "crm@acme.example",
        "EMAILLOG_COMPANY_DOMAINS": "acme.example",
    }
    cli_env(monkeypatch, tmp_path, settings)
    for argv in (
        ["users", "add", "bob@partner.example"],
        ["users", "alias", "bob@partner.example", "bobby@partner.example"],
        ["users", "connect", "bob@partner.example", "bob.home@gmail.com"],
        ["team-inboxes", "add", "sales@partner.example", "--connected-by", "bob@partner.example"],
        ["never-log", "add", "eve@initech.example"],
        ["never-log", "add", "globex.example"],
    ):
        assert main(argv) == 0, argv
    return tmp_path


def _store() -> Store:
    return open_store(load())


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line of a usage error (exit 2), without a traceback."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert err.startswith("emaillog: ") and err.count("\n") == 1 and out == "", err
    return err.removeprefix("emaillog: ").rstrip("\n")


def _deals_and_contacts() -> tuple[list[str], list[str]]:
    account = _store().account_id
    deals = [d.name for d in Deal.select().where(Deal.account == account).order_by(Deal.name)]
    query = ContactAddress.select().where(ContactAddress.account == account).order_by(ContactAddress.address)
    return deals, [c.address for c in query]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", KINDS)
def test_deals_add_refuses_an_address_mail_never_makes_a_contact(
    env: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # It was taken (exit 0): a contact on the deal that the mail path would never have made, and
    # whose address then got logged email it should not (a colleague's, a team inbox's, a never-log one).
    typed, refusal = NEVER_CONTACTS[kind]
    err = _refused(capsys, "deals", "add", "Renewal", "--contact", "ann@initech.example", "--contact", typed)
    assert err == refusal
    assert _deals_and_contacts() == ([], [])
    assert Contact.select().count() == 0 and DealContact.select().count() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_any_other_address_is_still_taken(env: Path) -> None:
    # Beside each refused one: another domain, a sibling of the never-log domain, not its parent.
    contacts = ["ann@initech.example", "gus@partner.example", "hal@globex.example.org", "ida@notacme.example"]
    argv = ["deals", "add", "Renewal"] + [arg for c in contacts for arg in ("--contact", c)]
    assert main(argv) == 0
    assert _deals_and_contacts() == (["Renewal"], sorted(contacts))


def test_a_deals_import_refuses_them_before_writing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deals", "add", "Renewal", "--contact", "ann@initech.example"]) == 0
    lines = ["name,contacts", "Pilot,joe@initech.example"]
    lines += [f'"Deal {n}","kim@initech.example, {NEVER_CONTACTS[kind][0]}"' for n, kind in enumerate(KINDS)]
    lines.append(f"Renewal,{NEVER_CONTACTS['team inbox'][0]}")  # an existing deal: its update is refused
    path = env / "deals.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for dry_run in (["--dry-run"], []):
        capsys.readouterr()
        assert main(["deals", "import", str(path), *dry_run]) == 2
        out, err = capsys.readouterr()
        assert out == "" and "Traceback" not in err, err
        rows = err.splitlines()[1:]
        expected = [NEVER_CONTACTS[kind][1] for kind in KINDS] + [NEVER_CONTACTS["team inbox"][1]]
        assert len(rows) == len(expected), rows
        for number, (row, refusal) in enumerate(zip(rows, expected, strict=True), start=3):
            assert row.startswith(f"line {number}:") and refusal in row, row
    assert _deals_and_contacts() == (["Renewal"], ["ann@initech.example"])
    assert DealContact.select().count() == 1


def test_such_a_contact_made_before_is_not_linked_to_a_deal(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Contacts an earlier version let `deals add` make: they stay (no data is migrated), but no deal
    # gets them linked any more, by hand or by import, nor does ensure_contact hand them out.
    store = _store()
    for kind in ("user alias", "never-log address"):
        key = NEVER_CONTACTS[kind][1].partition(" ")[0]
        contact = Contact.create(account=store.account_id, name=None, company=None)
        ContactAddress.create(account=store.account_id, contact=contact, address=key)
    assert main(["deals", "add", "Renewal", "--contact", "ann@initech.example"]) == 0
    err = _refused(capsys, "deals", "add", "Pilot", "--contact", "eve@initech.example")
    assert err == NEVER_CONTACTS["never-log address"][1]
    path = env / "deals.csv"
    path.write_text("name,contacts\nRenewal,bobby@partner.example\n", encoding="utf-8")
    assert main(["deals", "import", str(path)]) == 2
    assert NEVER_CONTACTS["user alias"][1] in capsys.readouterr().err
    with pytest.raises(adminvalues.AdminError, match="is on the never-log list"):
        admin.ensure_contact(store, load(), "eve@initech.example")
    assert _deals_and_contacts() == (
        ["Renewal"],
        ["ann@initech.example", "bobby@partner.example", "eve@initech.example"],
    )
    assert DealContact.select().count() == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the mailboxes file is the point
def test_another_accounts_users_domains_and_entries_are_not_this_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    (tmp_path / "mailboxes.toml").write_text(offline_mailboxes_toml("acme", "globex"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EMAILLOG_DATABASE_URL", database_url)
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(tmp_path / "mailboxes.toml"))
    globex = ["--mailbox", "globex"]
    assert main([*globex, "users", "add", "zoe@zoe.example"]) == 0
    assert main([*globex, "never-log", "add", "initech.example"]) == 0
    # Globex's user, never-log domain and company domain (globex.example) are contacts for acme.
    contacts = ["zoe@zoe.example", "ann@initech.example", "gil@globex.example"]
    argv = ["--mailbox", "acme", "deals", "add", "Pilot"] + [a for c in contacts for a in ("--contact", c)]
    assert main(argv) == 0
    # And acme's own company domain is not.
    err = _refused(capsys, "--mailbox", "acme", "deals", "add", "Other", "--contact", "max@acme.example")
    assert err.startswith("max@acme.example is at acme.example, one of the company's own domains")
    assert ContactAddress.select().count() == 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_address_made_a_users_after_the_file_was_checked_is_refused_in_the_writes(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The file is checked against one reading of the account's users (csvkinds.Kind.checking); the
    # writes read them again in their transaction, so an alias added in between is not linked.
    from emaillog import csvimport

    checked = csvimport.checked

    def then_an_alias(path: Path, kind: Any, rows: Any) -> Any:
        found = checked(path, kind, rows)
        admin.add_alias(kind.store, load(), "bob@partner.example", "kim@initech.example")
        return found

    monkeypatch.setattr(csvimport, "checked", then_an_alias)
    path = env / "deals.csv"
    path.write_text("name,contacts\nPilot,kim@initech.example\n", encoding="utf-8")
    err = _refused(capsys, "deals", "import", str(path))
    assert err == f"kim@initech.example is a user's address (an alias of bob@partner.example): {USERS}"
    assert _deals_and_contacts() == ([], [])
