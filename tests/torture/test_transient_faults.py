"""Transient failures do not use up a message's attempts (SPEC §10): after more failed passes than
EMAILLOG_MAX_ATTEMPTS, the messages are still logged, not sent to Error as ``processing-failed``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import World, make_world, message

from emaillog import views
from emaillog.devmail import ImapAccount
from emaillog.parallel import ParallelParser
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


def _spooling_world(tmp_path: Path, database_url: str, imap_account: ImapAccount) -> World:
    # Attachments over SPOOL_OVER, in a batch large enough to be parsed on the pool, whose workers
    # spool them to the data dir.
    world = make_world(tmp_path, database_url, imap_account)
    world.deliver(
        *(
            message(message_id=f"<s{i}@acme.example>", attachments=[(f"s{i}.bin", os.urandom(300_000))])
            for i in range(8)
        )
    )
    return world


def _passes_fail_then_log(
    world: World, parser: ParallelParser, data_dir: Path, undo: Callable[[], None]
) -> None:
    for _ in range(world.settings.max_attempts + 1):
        with pytest.raises(OSError):
            world.run_pass(parser=parser)
    assert world.folder_counts() == {"INBOX": 8, "Processed": 0, "Error": 0}
    assert {(row.attempts, row.failures) for row in Ledger.select()} == {(0, 0)}
    assert not [p for p in data_dir.rglob("*") if p.is_file() and p.name.startswith("part-")]
    undo()
    assert world.run_pass(parser=parser).outcomes == {"logged": 8}
    assert world.folder_counts() == {"INBOX": 0, "Processed": 8, "Error": 0}
    assert len(views.emails(world.store)) == 8
    assert not [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]


def test_an_unwritable_spool_dir_is_not_the_messages_fault(
    tmp_path: Path, database_url: str, imap_account: ImapAccount
) -> None:
    world = _spooling_world(tmp_path, database_url, imap_account)
    spool = world.settings.data_dir / "tmp"
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_bytes(b"a file where the temp dir should be")
    parser = ParallelParser(workers=2)
    try:
        _passes_fail_then_log(world, parser, world.settings.data_dir, spool.unlink)
    finally:
        parser.close()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounts a tmpfs: needs root")
def test_a_full_data_dir_costs_no_attempts_and_leaves_no_temp_files(
    tmp_path: Path, imap_account: ImapAccount
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(data_dir)], check=True)
    parser = ParallelParser(workers=2)
    try:
        world = _spooling_world(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", imap_account)
        filler = data_dir / "filler"
        with filler.open("wb") as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 65536)
        _passes_fail_then_log(world, parser, data_dir, filler.unlink)
    finally:
        parser.close()
        subprocess.run(["umount", "-l", str(data_dir)], check=False)
