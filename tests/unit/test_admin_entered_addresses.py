"""Every address an admin enters into the CRM by hand (a user's, a deal's contact, a never-log entry;
at the command line or in a CSV import) passes one check, adminvalues.entered_address_key: never a
logging address of any mailbox, never one holding an invisible character. A refusal is one line naming
the address and why, exit 2, nothing written; removing such an address that is stored already works."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support import cli_env, offline_mailboxes_toml

from emaillog import adminvalues
from emaillog.cli import main
from emaillog.settings import Settings, load
from emaillog.store import Store, open_store
from emaillog.store.lookup import CrmLookup
from emaillog.store.models import Contact, ContactAddress, Deal, DealContact, NeverLog

ROLES: tuple[adminvalues.AddressRole, ...] = ("user", "contact", "never-log")
LOGGING = "is a logging address (EMAILLOG_BCC_ADDRESS or EMAILLOG_FORWARD_ADDRESS), "
INVISIBLE = ("zw\u200b@x.example", "\ufeffbom@x.example", "wj\u2060@x.example")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    loaded = load(
        None,
        {
            "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
            "EMAILLOG_BCC_ADDRESS": "crm@acme.example",
            "EMAILLOG_FORWARD_ADDRESS": "crm+fwd@acme.example",
        },
    )
    # Another mailbox of the deployment (EMAILLOG_MAILBOXES_FILE) has its own logging address.
    fleet = frozenset({"crm@acme.example", "crm+fwd@acme.example", "Log@Globex.example"})
    return dataclasses.replace(loaded, fleet_logging_addresses=fleet)


# -- the shared check ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("CRM@acme.example", "crm@acme.example"),
        ("<crm+fwd@acme.example>", "crm+fwd@acme.example"),
        ("log@globex.example", "log@globex.example"),
    ],
)
def test_a_logging_address_is_refused_in_every_role(
    settings: Settings, role: adminvalues.AddressRole, typed: str, key: str
) -> None:
    with pytest.raises(adminvalues.AdminError) as refused:
        adminvalues.entered_address_key(settings, typed, role)
    message = str(refused.value)
    assert message == f"{key} {LOGGING}{adminvalues.LOGGING_ADDRESS_IS_NOT[role]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("typed", INVISIBLE)
def test_an_invisible_character_is_refused_in_every_role(
    settings: Settings, role: adminvalues.AddressRole, typed: str
) -> None:
    with pytest.raises(adminvalues.AdminError) as refused:
        adminvalues.entered_address_key(settings, typed, role)
    hidden = next(c for c in typed if not c.isprintable())
    assert str(refused.value) == (
        f"{typed!r} holds an invisible character (U+{ord(hidden):04X}): type the address again"
    )


@pytest.mark.parametrize("role", ROLES)
def test_any_other_address_is_its_key(settings: Settings, role: adminvalues.AddressRole) -> None:
    assert adminvalues.entered_address_key(settings, " <Ann@ACME.example> ", role) == "ann@acme.example"
    # Beside the logging addresses, not one of them.
    assert (
        adminvalues.entered_address_key(settings, "crm+other@acme.example", role) == "crm+other@acme.example"
    )


def test_the_reason_names_what_the_address_was_to_be(settings: Settings) -> None:
    reasons = {role: adminvalues.LOGGING_ADDRESS_IS_NOT[role] for role in ROLES}
    assert reasons["user"].startswith("not a user's")
    assert "never a contact" in reasons["contact"] and "never-log entry" in reasons["never-log"]
    assert adminvalues.user_address_key(settings, "ann@acme.example") == "ann@acme.example"
    with pytest.raises(adminvalues.AdminError, match="not a user's"):
        adminvalues.user_address_key(settings, "crm@acme.example")
    with pytest.raises(adminvalues.AdminError, match="never a contact"):
        # Refused before the account's users and entries are read: a lookup of no account will do.
        adminvalues.contact_address_key(settings, CrmLookup(0), "crm@acme.example")


def test_a_never_log_entry_is_checked_when_added_not_when_removed(settings: Settings) -> None:
    with pytest.raises(adminvalues.AdminError, match="never-log entry"):
        adminvalues.never_log_value(settings, "crm@acme.example", adding=True)
    with pytest.raises(adminvalues.AdminError, match="invisible character"):
        adminvalues.never_log_value(settings, "zw\u200b@x.example", adding=True)
    # One stored before this check is still named to remove it.
    assert adminvalues.never_log_value(settings, "CRM@acme.example") == "crm@acme.example"
    assert adminvalues.never_log_value(settings, "zw\u200b@x.example") == "zw\u200b@x.example"
    # A domain entry covers other addresses than the logging ones: it stays possible (SPEC §6).
    assert adminvalues.never_log_value(settings, "@Acme.example", adding=True) == "acme.example"
    assert adminvalues.never_log_value(settings, "globex.example", adding=True) == "globex.example"


# -- the commands, on a real database -----------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    settings = {
        "EMAILLOG_DATABASE_URL": database_url,
        "EMAILLOG_BCC_ADDRESS": "crm@acme.example",
        "EMAILLOG_FORWARD_ADDRESS": "crm+fwd@acme.example",
    }
    return cli_env(monkeypatch, tmp_path, settings)


def _store() -> Store:
    return open_store(load())


def _file(directory: Path, text: str) -> str:
    path = directory / "in.csv"
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line of a usage error (exit 2), without a traceback."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert err.startswith("emaillog: ") and err.count("\n") == 1 and out == "", err
    return err.removeprefix("emaillog: ").rstrip("\n")


def _bad_rows(capsys: pytest.CaptureFixture[str], kind: str, path: str, *more: str) -> list[str]:
    """The rows an import refused, after its first line; nothing imported."""
    assert main([kind, "import", path, *more]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err, err
    lines = err.splitlines()
    assert lines[0].startswith(f"emaillog: {path}: ") and lines[0].endswith("nothing imported"), lines
    return lines[1:]


def _deal_rows() -> tuple[list[str], list[str]]:
    account = _store().account_id
    deals = [d.name for d in Deal.select().where(Deal.account == account).order_by(Deal.name)]
    contacts = [c.address for c in ContactAddress.select().where(ContactAddress.account == account)]
    return deals, contacts


def test_a_deal_contact_that_is_a_logging_address_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was taken (exit 0): a contact "crm@acme.example" on the deal, which no email is ever
    # logged on (SPEC §4: the logging addresses are never contacts).
    err = _refused(
        capsys, "deals", "add", "Renewal", "--contact", "ann@initech.example", "--contact", "CRM@acme.example"
    )
    assert err == f"crm@acme.example {LOGGING}{adminvalues.LOGGING_ADDRESS_IS_NOT['contact']}"
    err = _refused(capsys, "deals", "add", "Renewal", "--contact", "zw\u200b@initech.example")
    assert err == "'zw\\u200b@initech.example' holds an invisible character (U+200B): type the address again"
    assert _deal_rows() == ([], [])
    assert Contact.select().count() == 0


def test_a_deals_import_refuses_those_contacts_before_writing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deals", "add", "Renewal", "--contact", "ann@initech.example"]) == 0
    path = _file(
        env,
        "name,contacts\n"
        "Pilot,bob@initech.example\n"
        "Renewal,crm+fwd@acme.example\n"  # an existing deal: its update is refused too
        "Upsell,\ufeffcat@initech.example; dan@initech.example\n",
    )
    for dry_run in (["--dry-run"], []):
        rows = _bad_rows(capsys, "deals", path, *dry_run)
        assert [r.partition(":")[0] for r in rows] == ["line 3", "line 4"]
        assert "crm+fwd@acme.example is a logging address" in rows[0] and "never a contact" in rows[0]
        assert "'\\ufeffcat@initech.example' holds an invisible character (U+FEFF)" in rows[1]
    assert _deal_rows() == (["Renewal"], ["ann@initech.example"])
    assert DealContact.select().count() == 1


def test_a_never_log_entry_for_a_logging_address_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was taken: an entry that changes nothing (the logging addresses are never contacts), where
    # the admin likely meant to keep some mail out and should be told it does not.
    err = _refused(capsys, "never-log", "add", "<Crm+Fwd@acme.example>")
    assert err == f"crm+fwd@acme.example {LOGGING}{adminvalues.LOGGING_ADDRESS_IS_NOT['never-log']}"
    err = _refused(capsys, "never-log", "add", "\ufeffsam@initech.example")
    assert err == "'\\ufeffsam@initech.example' holds an invisible character (U+FEFF): type the address again"
    # The logging addresses' domain as an entry covers everyone else there: taken (SPEC §6).
    assert main(["never-log", "add", "@acme.example"]) == 0
    assert capsys.readouterr().out == "acme.example\n"
    path = _file(env, "value\ninitech.example\ncrm@acme.example\nwj\u2060@globex.example\n")
    for dry_run in (["--dry-run"], []):
        rows = _bad_rows(capsys, "never-log", path, *dry_run)
        assert [r.partition(":")[0] for r in rows] == ["line 3", "line 4"]
        assert "crm@acme.example is a logging address" in rows[0] and "never-log entry" in rows[0]
        assert "holds an invisible character (U+2060)" in rows[1]
    account = _store().account_id
    assert [n.value for n in NeverLog.select().where(NeverLog.account == account)] == ["acme.example"]


def test_such_a_never_log_entry_stored_before_can_be_removed(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account = _store().account_id
    for value in ("crm@acme.example", "zw\u200b@initech.example"):
        NeverLog.create(account=account, value=value)
    assert main(["never-log", "remove", "CRM@acme.example"]) == 0
    assert main(["never-log", "remove", "zw\u200b@initech.example"]) == 0
    assert NeverLog.select().where(NeverLog.account == account).count() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the mailboxes file is the point
def test_another_mailboxs_logging_address_is_refused_as_a_contact_or_entry(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "mailboxes.toml").write_text(offline_mailboxes_toml("acme", "globex"))
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(env / "mailboxes.toml"))
    err = _refused(capsys, "--mailbox", "acme", "deals", "add", "Pilot", "--contact", "log@globex.example")
    assert err.startswith("log@globex.example is a logging address") and "never a contact" in err
    err = _refused(capsys, "--mailbox", "acme", "never-log", "add", "log@globex.example")
    assert err.startswith("log@globex.example is a logging address") and "never-log entry" in err
