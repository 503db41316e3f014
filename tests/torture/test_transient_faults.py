"""Transient failures do not use up a message's attempts (SPEC §10): after more failed passes than
EMAILLOG_MAX_ATTEMPTS, the messages are still logged, not sent to Error as ``processing-failed``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import make_world, message

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.store.models import Ledger

REP = "rita@acme.example"


@pytest.mark.parametrize("batch_size", ["200", "1"])
def test_an_unusable_attachments_dir_costs_no_attempts(
    tmp_path: Path, database_url: str, imap_account: ImapAccount, batch_size: str
) -> None:
    # Batches of one: the next batch is already fetched (and counted) when the first one fails.
    world = make_world(tmp_path, database_url, imap_account, EMAILLOG_BATCH_SIZE=batch_size)
    world.deliver(
        *(
            message(message_id=f"<a{i}@acme.example>", attachments=[(f"f{i}.bin", os.urandom(500))])
            for i in range(3)
        )
    )
    target = world.settings.attachments_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"a file where the directory should be")
    for _ in range(world.settings.max_attempts + 2):
        with pytest.raises(OSError):
            world.run_pass()
    assert {row.attempts for row in Ledger.select()} == {0}
    target.unlink()
    assert world.run_pass().outcomes == {"logged": 3}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 3, "Error": 0}
    assert len(views.emails(world.store)) == 3
