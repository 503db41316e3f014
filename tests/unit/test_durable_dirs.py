"""A directory emaillog makes under the data dir survives a power cut: the parent of each one
mkdir made is fsynced (then only: a directory already there costs no fsync)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from emaillog.private import private_dir
from emaillog.store.files import store_file

# A real power cut cannot be had here: os.fsync is wrapped to record what was synced.
Synced = list[Path]


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Synced:
    paths: Synced = []
    real: Callable[[int], None] = os.fsync

    def recording(fd: int) -> None:
        paths.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return paths


def _dirs(paths: Synced) -> Synced:
    return [p for p in paths if p.is_dir()]


def test_each_directory_made_has_its_parent_synced(tmp_path: Path, synced: Synced) -> None:
    private_dir(tmp_path / "data" / "state")
    assert synced == [tmp_path, tmp_path / "data"]


def test_a_directory_there_already_costs_no_fsync(tmp_path: Path, synced: Synced) -> None:
    (tmp_path / "leases").mkdir()
    private_dir(tmp_path / "leases")
    assert synced == []


def test_a_new_prefix_dir_is_durable_and_the_next_file_in_it_syncs_only_it(
    tmp_path: Path, synced: Synced
) -> None:
    root, tmp = tmp_path / "attachments", tmp_path / "tmp" / "1"
    root.mkdir()
    tmp.mkdir(parents=True)
    first, second = b"first file", b"second file"
    sha = hashlib.sha256(first).hexdigest()
    # A second file for the same prefix dir: the first's hash, the name is all that matters here.
    other = sha[:2] + hashlib.sha256(second).hexdigest()[2:]
    store_file(root, tmp, sha, first)
    assert _dirs(synced) == [root, root / sha[:2]]  # the new dir's entry, then the file's
    synced.clear()
    store_file(root, tmp, other, second)
    assert _dirs(synced) == [root / sha[:2]]


def test_a_thread_finding_a_directory_being_made_waits_until_it_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another mailbox's batch storing into the prefix dir this one is making: were it let through
    before the parent's fsync, its commit could point at a file in a directory a power cut takes."""
    events: list[str] = []
    other_started, other_done = threading.Event(), threading.Event()
    real = os.fsync

    def other() -> None:
        other_started.set()
        private_dir(tmp_path / "xx")
        events.append("other found it")
        other_done.set()

    def slow_fsync(fd: int) -> None:
        thread = threading.Thread(target=other)
        thread.start()
        other_started.wait(5)
        # Let through, the other thread would be done long before this deadline; held, it never is.
        other_done.wait(0.5)
        real(fd)
        events.append("parent synced")

    monkeypatch.setattr(os, "fsync", slow_fsync)
    private_dir(tmp_path / "xx")
    monkeypatch.setattr(os, "fsync", real)
    assert other_done.wait(5)
    assert events == ["parent synced", "other found it"]


def test_a_thread_making_another_directory_does_not_wait_for_this_ones_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eight threads storing a batch's files each wait for nothing but the directory they want:
    held up by every new prefix dir's fsync, the first batches of a data dir stored one at a time."""
    (tmp_path / "yy").mkdir()
    other_done = threading.Event()
    real = os.fsync
    waited: list[bool] = []

    def other() -> None:
        private_dir(tmp_path / "yy")  # there already
        private_dir(tmp_path / "zz")  # made by this thread (its own fsync is not slowed)
        other_done.set()

    def slow_fsync(fd: int) -> None:
        if threading.current_thread() is threading.main_thread():
            threading.Thread(target=other).start()
            waited.append(not other_done.wait(5))  # held up, the other thread never gets done
        real(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    private_dir(tmp_path / "xx")
    monkeypatch.setattr(os, "fsync", real)
    assert waited == [False]
    assert (tmp_path / "zz").is_dir()
