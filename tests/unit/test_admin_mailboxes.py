"""The command line with EMAILLOG_MAILBOXES_FILE: each [mailbox.NAME] is an account of its own, so an
admin command works on one named mailbox, and `check` checks every mailbox's server and login
(or the one --mailbox names)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support import offline_mailboxes_toml

from emaillog.cli import main
from emaillog.settings import load
from emaillog.store import open_store
from emaillog.store.files import attachment_path
from emaillog.store.models import Attachment, LoggedEmail, User


def _deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    (tmp_path / "mailboxes.toml").write_text(offline_mailboxes_toml(*names))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(tmp_path / "mailboxes.toml"))


def _users_of(mailbox: str) -> list[str]:
    settings = next(m for m in load().mailboxes if m.mailbox_name == mailbox)
    store = open_store(settings)
    return [u.email for u in User.select().where(User.account == store.account_id)]


def test_users_added_for_a_mailbox_are_that_mailboxs_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _deploy(tmp_path, monkeypatch, "acme", "globex")
    # Without --mailbox the user used to land in an account no mailbox uses ("default").
    assert main(["users", "add", "rita@acme.example"]) == 2
    assert "--mailbox NAME (acme, globex)" in capsys.readouterr().err
    assert main(["--mailbox", "acme", "users", "add", "rita@acme.example"]) == 0
    assert main(["--mailbox", "nope", "users", "add", "rita@acme.example"]) == 2
    assert _users_of("acme") == ["rita@acme.example"] and _users_of("globex") == []


def test_one_mailbox_needs_no_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deploy(tmp_path, monkeypatch, "acme")
    assert main(["users", "add", "rita@acme.example"]) == 0
    assert _users_of("acme") == ["rita@acme.example"]


def test_check_checks_each_mailbox_not_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _deploy(tmp_path, monkeypatch, "acme", "globex")
    assert main(["check", "--json"]) == 75  # nothing listens on port 1
    steps = {s["step"]: s for s in json.loads(capsys.readouterr().out)}
    assert "IMAP" not in steps  # "EMAILLOG_IMAP_HOST is not set: `emaillog run` starts the demo mailbox"
    assert steps["acme: connect and TLS"]["result"] == "FAIL"
    assert steps["globex: connect and TLS"]["result"] == "FAIL"


def test_check_of_one_mailbox_checks_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --mailbox was ignored: every mailbox was checked, and a name in no table passed unnoticed.
    _deploy(tmp_path, monkeypatch, "acme", "globex")
    assert main(["--mailbox", "globex", "check", "--json"]) == 75
    steps = [s["step"] for s in json.loads(capsys.readouterr().out)]
    assert "globex: connect and TLS" in steps and "globex: sender authentication" in steps
    assert not [s for s in steps if s.startswith("acme")], steps
    assert main(["--mailbox", "nope", "check"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "emaillog: no mailbox 'nope' in EMAILLOG_MAILBOXES_FILE (acme, globex)\n"


def test_another_mailboxs_logging_address_is_not_a_users_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Acme's user log@globex.example would own what globex's daemon receives and sends as itself.
    _deploy(tmp_path, monkeypatch, "acme", "globex")
    assert main(["--mailbox", "acme", "users", "add", "log@globex.example"]) == 2
    assert "log@globex.example is a logging address" in capsys.readouterr().err
    assert _users_of("acme") == []


def _logged_file(mailbox: str, data: bytes) -> str:
    """A logged email of ``mailbox``'s account naming a file of ``data``; the file's SHA-256."""
    settings = next(m for m in load().mailboxes if m.mailbox_name == mailbox)
    store = open_store(settings)
    owner = User.create(account=store.account_id, email=f"rep@{mailbox}.example", name="Rep")
    email = LoggedEmail.create(
        account=store.account_id,
        identity=f"<{mailbox}@x>",
        route="bcc",
        direction="outbound",
        owner=owner,
        subject="s",
        text_body="",
    )
    sha256 = hashlib.sha256(data).hexdigest()
    Attachment.create(email=email, filename="f", content_type="text/plain", size=len(data), sha256=sha256)
    return sha256


def test_attachments_verify_checks_every_mailboxs_files_unless_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The data dir is the deployment's: without --mailbox the files of every account are checked.
    _deploy(tmp_path, monkeypatch, "acme", "globex")
    kept = _logged_file("acme", b"acme's file")
    _logged_file("globex", b"globex's file, gone")
    path = attachment_path(tmp_path / "data" / "attachments", kept)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"acme's file")
    capsys.readouterr()
    assert main(["attachments", "verify", "--json"]) == 1
    assert [f["kind"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["missing"]
    assert main(["--mailbox", "acme", "attachments", "verify"]) == 0
    assert main(["--mailbox", "nope", "attachments", "verify"]) == 2
