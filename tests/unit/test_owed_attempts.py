"""The attempts owed outlive the process: kept in a file, given back at most once (store/owed.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from emaillog.store.ledger import LedgerKey
from emaillog.store.owed import OwedAttempts

A = [LedgerKey("default", 7, 1), LedgerKey("default", 7, 2)]
B = [LedgerKey("default", 7, 3)]


def test_what_is_owed_is_read_back_by_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "state" / "default.owed.json"
    OwedAttempts(path).extend([A, [], B])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    owed = OwedAttempts(path)
    assert owed.batches() == [A, B]
    assert owed.take_first() == A
    assert OwedAttempts(path).batches() == [B]  # taken is no longer owed, before it is given back
    owed.put_back(A)
    assert OwedAttempts(path).batches() == [A, B]


def test_nothing_owed_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "default.owed.json"
    owed = OwedAttempts(path)
    owed.extend([B])
    owed.take_first()
    assert not owed and not path.exists()


def test_an_unreadable_file_owes_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "default.owed.json"
    path.write_text("[[1, 2]]")
    assert not OwedAttempts(path)
    assert "cannot read the attempts owed" in caplog.text
