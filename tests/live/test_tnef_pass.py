"""An Outlook (RTF mode) email BCC'd through a real Dovecot: the files inside its winmail.dat are logged."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from support import World, make_world
from winmail import bcc_message, winmail

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.store.files import attachment_path

CONTRACT = b"%PDF-1.7\n" + os.urandom(200_000)


@pytest.fixture
def world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    return make_world(tmp_path, database_url, imap_account)


def test_a_bccd_winmail_dat_is_logged_as_the_files_it_carries(world: World) -> None:
    world.deliver(bcc_message(winmail([("Contract 2026.pdf", CONTRACT), ("notes.txt", b"call back")])))
    assert world.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(world.store)
    assert email["contacts"] == ["carl@globex.example"]
    assert [(a["filename"], a["size"], a["logged"], a["sha256"]) for a in email["attachments"]] == [
        ("Contract 2026.pdf", len(CONTRACT), True, hashlib.sha256(CONTRACT).hexdigest()),
        ("notes.txt", 9, True, hashlib.sha256(b"call back").hexdigest()),
    ]
    stored = attachment_path(world.settings.attachments_dir, hashlib.sha256(CONTRACT).hexdigest())
    assert stored.read_bytes() == CONTRACT
    assert world.folder_counts() == {"INBOX": 0, "Processed": 1, "Error": 0}


def test_a_file_inside_over_the_attachment_limit_is_left_out_as_any_other(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    w = make_world(tmp_path, database_url, imap_account, EMAILLOG_MAX_ATTACHMENT_MB="1")
    huge = b"h" * (1024 * 1024 + 1)
    w.deliver(bcc_message(winmail([("small.pdf", b"s" * 1000), ("huge.zip", huge)])))
    assert w.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(w.store)
    assert [(a["filename"], a["size"], a["logged"]) for a in email["attachments"]] == [
        ("small.pdf", 1000, True),
        ("huge.zip", len(huge), False),
    ]
    assert w.folder_counts()["Processed"] == 1


def test_a_large_messages_winmail_dat_is_opened_from_the_file_it_was_streamed_to(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read by sections (every message counts as large here): the winmail.dat is streamed to a temp
    # file, then opened from it. A large Outlook email is most often a large file inside one.
    monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    world.deliver(bcc_message(winmail([("Contract 2026.pdf", CONTRACT), ("notes.txt", b"call back")])))
    assert world.run_pass().outcomes == {"logged": 1}
    [email] = views.emails(world.store)
    assert [(a["filename"], a["size"], a["sha256"]) for a in email["attachments"]] == [
        ("Contract 2026.pdf", len(CONTRACT), hashlib.sha256(CONTRACT).hexdigest()),
        ("notes.txt", 9, hashlib.sha256(b"call back").hexdigest()),
    ]
    stored = attachment_path(world.settings.attachments_dir, hashlib.sha256(CONTRACT).hexdigest())
    assert stored.read_bytes() == CONTRACT
