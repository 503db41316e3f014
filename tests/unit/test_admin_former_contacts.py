"""An admin who makes a contact's address a user's (login, alias, connected), a team inbox or a
never-log entry (by hand or by import) is not refused (a customer may become a colleague), but is
told, in one line on stderr after the write, that no new email will be logged on that contact: the
mail path silently stopped logging on it (SPEC §4, §6). Only the command's own account's contacts."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REP, addresses_env, cli_env, log_message, message, offline_mailboxes_toml

from emaillog.cli import main
from emaillog.limits import Limits
from emaillog.message import parse
from emaillog.rules import decide
from emaillog.settings import load
from emaillog.store import open_store
from emaillog.store.models import NeverLog, User, UserAddress

CARL = "carl@globex.example"
AS_USER = "as a user's address, no new email will be logged on it (SPEC §4)"
NOTE = f"emaillog: note: {CARL} is a contact (Carl Customer, 2 logged emails): "


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    return cli_env(monkeypatch, tmp_path, addresses_env(database_url))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """(stdout, stderr) of a command that succeeded."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, (argv, out, err)
    return out, err


def _carl_with_two_emails(capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "users", "add", REP)
    for number in (1, 2):
        log_message(message(message_id=f"<m{number}@acme.example>"))


def _logged_on_carl() -> bool:
    """Would a new email to Carl alone be logged? (the mail path's own rules)"""
    settings = load()
    email = parse(
        message(message_id="<m3@acme.example>"), Limits(max_message_bytes=settings.max_message_bytes)
    )
    decision = decide(email, settings, open_store(settings).lookup)
    return decision.outcome == "logged"


def _csv(env: Path, text: str) -> str:
    path = env / "import.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


# (the command, what stdout says, why in the note) for each way an address stops being a contact.
WRITES = {
    "users add": (["users", "add", CARL, "--name", "Carl"], "", AS_USER),
    "users alias": (["users", "alias", REP, "carl@Globex.Example"], "", AS_USER),
    "users connect": (["users", "connect", REP, CARL], "", AS_USER),
    "team inbox": (
        ["team-inboxes", "add", CARL, "--connected-by", REP],
        "",
        "as a team inbox, no new email will be logged on it (SPEC §4)",
    ),
    "never-log address": (
        ["never-log", "add", CARL],
        f"{CARL}\n",
        "on the never-log list, no new email will be logged on it (SPEC §4, §6)",
    ),
    "never-log domain": (
        ["never-log", "add", "Globex.example"],
        "globex.example\n",
        "at globex.example, on the never-log list, no new email will be logged on it (SPEC §4, §6)",
    ),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_each_write_that_takes_a_contact_out_of_the_mail_path_says_so(
    env: Path, capsys: pytest.CaptureFixture[str], write: str
) -> None:
    # It was exit 0 and silence; the contact then got no more email, and no one knew why.
    _carl_with_two_emails(capsys)
    assert _logged_on_carl()
    argv, answer, why = WRITES[write]
    out, err = _cli(capsys, *argv)
    assert (out, err) == (answer, NOTE + why + "\n")
    assert not _logged_on_carl()  # what the note says is so


@pytest.mark.parametrize(
    ("kind", "text", "why"),
    [
        ("users", f"email,aliases,connected\n{REP},{CARL},{CARL}\n", AS_USER),
        ("users", f"email\n{CARL}\n", AS_USER),
        (
            "never-log",
            "value\nglobex.example\n",
            "at globex.example, on the never-log list, no new email will be logged on it (SPEC §4, §6)",
        ),
    ],
)
def test_an_import_says_so_too_and_its_dry_run_before_writing(
    env: Path, capsys: pytest.CaptureFixture[str], kind: str, text: str, why: str
) -> None:
    _carl_with_two_emails(capsys)
    path = _csv(env, text)
    counts = {table: table.select().count() for table in (User, UserAddress, NeverLog)}
    out, err = _cli(capsys, kind, "import", path, "--dry-run")
    assert "(dry run: nothing written)" in out and err == NOTE + why + "\n"  # once, an alias and connected
    assert {table: table.select().count() for table in counts} == counts
    out, err = _cli(capsys, kind, "import", path)
    assert "1 created" in out or "1 updated" in out, out
    assert err == NOTE + why + "\n"
    out, err = _cli(capsys, kind, "import", path)  # nothing changes: nothing to tell
    assert ("1 unchanged" in out, err) == (True, "")


def test_no_note_where_no_contact_is_taken_out(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _carl_with_two_emails(capsys)
    # Not a contact; a sibling domain, a parent of the contact's domain, another of its addresses.
    assert _cli(capsys, "users", "add", "dee@globex.example") == ("", "")
    assert _cli(capsys, "never-log", "add", "xglobex.example") == ("xglobex.example\n", "")
    assert _cli(capsys, "never-log", "add", "globex.example.org") == ("globex.example.org\n", "")
    assert _cli(capsys, "team-inboxes", "add", "sales@acme.example", "--connected-by", REP) == ("", "")
    assert _logged_on_carl()


def test_a_never_log_domain_names_a_few_of_its_contacts_and_counts_the_rest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cli(capsys, "users", "add", REP)
    to = [f"c{n}@globex.example" for n in range(4)] + [f"d{n}@eu.globex.example" for n in range(4)]
    log_message(message(to=to))
    _, err = _cli(capsys, "never-log", "add", "globex.example")
    lines = err.splitlines()
    assert len(lines) == 6, lines
    assert lines[0] == (
        "emaillog: note: c0@globex.example is a contact (1 logged email): at globex.example, on the "
        "never-log list, no new email will be logged on it (SPEC §4, §6)"
    )
    assert lines[5] == (
        "emaillog: note: and 3 more contact addresses at globex.example (see: emaillog contacts list)"
    )


def test_only_the_commands_own_account_is_looked_at(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "mailboxes.toml").write_text(offline_mailboxes_toml("acme", "globex"))
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(env / "mailboxes.toml"))
    acme, globex = ("--mailbox", "acme"), ("--mailbox", "globex")
    _cli(capsys, *acme, "users", "add", REP)
    log_message(message(delivered_to="log@acme.example"), "acme")
    _cli(capsys, *globex, "users", "add", "gil@globex.example")
    assert _cli(capsys, *globex, "users", "alias", "gil@globex.example", CARL) == ("", "")
    assert _cli(capsys, *globex, "never-log", "add", "globex.example") == ("globex.example\n", "")
    _, err = _cli(capsys, *acme, "never-log", "add", CARL)
    assert err.startswith(f"emaillog: note: {CARL} is a contact (Carl Customer, 1 logged email)"), err
