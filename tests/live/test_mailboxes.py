"""Several mailboxes in one deployment: each its own account, and no query crosses accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import deliver, mailboxes_toml, message

from emaillog import admin, views
from emaillog.cli import main
from emaillog.devmail import DevDovecot
from emaillog.imapmailbox import ImapMailbox
from emaillog.poll import Pass
from emaillog.settings import Settings, SettingsError, load
from emaillog.store import open_store
from emaillog.store.models import Ledger


@pytest.fixture
def deployment(tmp_path: Path, database_url: str, dovecot: DevDovecot) -> Settings:
    accounts = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("acme", "globex")}
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(mailboxes_toml(accounts))
    return load(
        None,
        {
            "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
            "EMAILLOG_DATABASE_URL": database_url,
            "EMAILLOG_MAILBOXES_FILE": str(mailboxes),
        },
    )


def run_pass(settings: Settings) -> None:
    assert settings.imap is not None
    mailbox = ImapMailbox(settings.imap)
    try:
        Pass(settings, mailbox, open_store(settings)).run()
    finally:
        mailbox.close()


def test_accounts_never_see_each_other(deployment: Settings) -> None:
    acme, globex = deployment.all_mailboxes()
    assert (acme.mailbox_name, acme.account, globex.account) == ("acme", "acme", "globex")
    # The same rep address and the same customer exist in both tenants, each its own record.
    for box in (acme, globex):
        admin.add_user(open_store(box), box, "rep@shared.example", None, True, True)
        admin.add_deal(open_store(box), box, f"{box.account} deal", ["carl@customer.example"], False, None)
    admin.add_user(open_store(acme), acme, "only-acme@acme.example", None, True, True)
    deliver(
        acme,
        message(sender="rep@shared.example", to=["carl@customer.example"], message_id="<same@x>"),
        message(sender="only-acme@acme.example", to=["dana@other.example"], message_id="<a2@x>"),
    )
    deliver(
        globex,
        message(sender="rep@shared.example", to=["carl@customer.example"], message_id="<same@x>"),
        message(sender="only-acme@acme.example", to=["erin@other.example"], message_id="<g2@x>"),
    )
    for box in (acme, globex):
        run_pass(box)
    acme_store, globex_store = open_store(acme), open_store(globex)
    acme_emails, globex_emails = views.emails(acme_store), views.emails(globex_store)
    # One real email logged in each tenant: the same Message-ID is not a duplicate across accounts.
    assert [e["message_id"] for e in acme_emails] == ["<same@x>", "<a2@x>"]
    assert [e["message_id"] for e in globex_emails] == ["<same@x>"]
    assert acme_emails[0]["deals"] == ["acme deal"] and globex_emails[0]["deals"] == ["globex deal"]
    assert {c["addresses"][0] for c in views.contacts(acme_store)} == {
        "carl@customer.example",
        "dana@other.example",
    }
    assert {c["addresses"][0] for c in views.contacts(globex_store)} == {"carl@customer.example"}
    # A user of acme is a stranger to globex.
    assert [(r["outcome"], r["reason"]) for r in views.ledger(globex_store)] == [
        ("logged", None),
        ("rejected", "sender-not-a-user"),
    ]
    assert {r["mailbox"] for r in views.ledger(acme_store)} == {"acme"}
    assert admin.list_never_log(acme_store) == admin.list_never_log(globex_store) == []


def _uidvalidity(settings: Settings) -> int:
    assert settings.imap is not None
    mailbox = ImapMailbox(settings.imap)
    try:
        return mailbox.select(settings.intake_folder).uidvalidity
    finally:
        mailbox.close()


def test_two_accounts_whose_mailboxes_have_one_name_keep_their_own_ledgers(
    tmp_path: Path, database_url: str, dovecot: DevDovecot
) -> None:
    # Two single-mailbox deployments (an env file each, as two systemd instances have them) on one
    # database: each names its account, neither its mailbox, so both mailboxes are "default".
    boxes = {}
    for name in ("acme", "globex"):
        login = dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw")
        own = {"EMAILLOG_ACCOUNT": name, "EMAILLOG_BCC_ADDRESS": f"log@{name}.example"}
        boxes[name] = load(
            None,
            {
                **login.settings(),
                **own,
                "EMAILLOG_DATA_DIR": str(tmp_path / name),
                "EMAILLOG_DATABASE_URL": database_url,
            },
        )
        admin.add_user(open_store(boxes[name]), boxes[name], "rep@shared.example", None, True, True)
    acme, globex = boxes["acme"], boxes["globex"]
    assert acme.mailbox_name == globex.mailbox_name == "default"
    deliver(acme, message(sender="rep@shared.example", to=["carl@customer.example"], message_id="<a@x>"))
    run_pass(acme)
    # Dovecot gives a new mailbox the time it was made as its UIDVALIDITY: two made in the same
    # second (one provisioning script) have the same one, and UIDs start at 1 in both.
    assert Ledger.update(uidvalidity=_uidvalidity(globex)).execute() == 1
    deliver(globex, message(sender="rep@shared.example", to=["dora@customer.example"], message_id="<g@x>"))
    run_pass(globex)
    # globex's message was taken for acme's, already logged, and moved to Processed unlogged.
    assert [e["message_id"] for e in views.emails(open_store(globex))] == ["<g@x>"]
    assert [(r["message_id"], r["outcome"]) for r in views.ledger(open_store(globex))] == [
        ("<g@x>", "logged")
    ]
    assert [(r["message_id"], r["outcome"]) for r in views.ledger(open_store(acme))] == [("<a@x>", "logged")]


def test_run_with_mailbox_runs_that_mailbox_only(
    deployment: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme, globex = deployment.all_mailboxes()
    for box in (acme, globex):
        admin.add_user(open_store(box), box, "rep@shared.example", None, True, True)
        deliver(box, message(sender="rep@shared.example", message_id=f"<{box.mailbox_name}@x>"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(deployment.data_dir))
    monkeypatch.setenv("EMAILLOG_DATABASE_URL", deployment.database_url)
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(tmp_path / "mailboxes.toml"))
    assert main(["--mailbox", "acme", "run", "--once"]) == 0
    # It ran globex's mailbox too: an admin trying acme's new set-up logged globex's mail.
    assert [r["message_id"] for r in views.ledger(open_store(acme))] == ["<acme@x>"]
    assert views.ledger(open_store(globex)) == []


def test_mailbox_table_may_not_set_shared_settings(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[mailbox.acme]\nEMAILLOG_IMAP_HOST = "h"\nEMAILLOG_IMAP_USER = "u"\nEMAILLOG_IMAP_PASSWORD = "p"\n'
        'EMAILLOG_DATABASE_URL = "sqlite:///x"\n[mailbox."Bad Name"]\n'
    )
    with pytest.raises(SettingsError) as caught:
        load(None, {"EMAILLOG_MAILBOXES_FILE": str(path)})
    text = str(caught.value)
    assert "mailbox acme: EMAILLOG_DATABASE_URL cannot be set per mailbox" in text
    assert "mailbox Bad Name: the name must be" in text


def test_per_mailbox_secret_from_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "acme-imap-password").write_text("acme-secret")
    (creds / "imap-password").write_text("shared-secret")
    path = tmp_path / "m.toml"
    path.write_text(
        '[mailbox.acme]\nEMAILLOG_IMAP_HOST = "h"\nEMAILLOG_IMAP_USER = "u"\n'
        '[mailbox.globex]\nEMAILLOG_IMAP_HOST = "h"\nEMAILLOG_IMAP_USER = "g"\nEMAILLOG_IMAP_PASSWORD = "g"\n'
    )
    acme, globex = load(
        None, {"EMAILLOG_MAILBOXES_FILE": str(path), "CREDENTIALS_DIRECTORY": str(creds)}
    ).mailboxes
    assert acme.imap is not None and acme.imap.password == "acme-secret"
    assert globex.imap is not None and globex.imap.password == "g"
