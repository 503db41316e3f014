"""Attachments written past the page cache: the same bytes as a plain write, whatever the sizes."""

from __future__ import annotations

import errno
import fcntl
import os
import random
from pathlib import Path

import pytest

from emaillog import directfile
from emaillog.directfile import ALIGN, BUFFER, DirectFile

SIZES = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 17]


def write_all(fd: int, data: bytes) -> None:
    out = DirectFile(fd)
    out.write(data)
    out.close()


def _new_file(tmp_path: Path, name: str) -> int:
    return os.open(tmp_path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


@pytest.mark.parametrize("size", SIZES)
def test_one_write_gives_the_bytes_and_the_size(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    fd = _new_file(tmp_path, "f")
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("size", SIZES)
def test_pieces_of_any_size_give_the_bytes(tmp_path: Path, size: int) -> None:
    rng = random.Random(size)
    data = rng.randbytes(size)
    fd = _new_file(tmp_path, "f")
    out = DirectFile(fd)
    at = 0
    while at < size:  # pieces as a streamed section's decoder gives them: odd sizes, some large
        step = rng.choice([1, 3, 57, ALIGN - 1, 65536 + 5, BUFFER + 3])
        out.write(data[at : at + step])
        at += step
    out.close()
    os.close(fd)
    assert out.size == size
    assert (tmp_path / "f").read_bytes() == data


def test_the_write_really_goes_past_the_page_cache(tmp_path: Path) -> None:
    """The data dir here is ext4, which takes O_DIRECT: the flag is set on the descriptor."""
    fd = _new_file(tmp_path, "f")
    try:
        out = DirectFile(fd)
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        out.write(b"x" * 10)
        out.close()
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"x" * 10


def test_files_written_at_once_in_one_thread_keep_their_own_bytes(tmp_path: Path) -> None:
    """The buffer a thread keeps is not shared by two files open at the same time."""
    first_fd, second_fd = _new_file(tmp_path, "a"), _new_file(tmp_path, "b")
    first, second = DirectFile(first_fd), DirectFile(second_fd)
    first.write(b"a" * 5000)
    second.write(b"b" * 7000)
    first.write(b"A" * 3)
    second.close()
    first.close()
    os.close(first_fd)
    os.close(second_fd)
    assert (tmp_path / "a").read_bytes() == b"a" * 5000 + b"A" * 3
    assert (tmp_path / "b").read_bytes() == b"b" * 7000


def test_a_file_system_that_refuses_o_direct_gets_a_buffered_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file system on this machine takes O_DIRECT, so the refusal (tmpfs before Linux 6.6,
    some FUSE) is played by fcntl: no real peer that refuses it exists here."""
    real_fcntl = fcntl.fcntl

    def refusing(fd: int, cmd: int, arg: int = 0) -> int:
        if cmd == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(directfile.fcntl, "fcntl", refusing)
    data = random.Random(1).randbytes(BUFFER + 5)
    fd = _new_file(tmp_path, "f")
    try:
        write_all(fd, data)
        assert not real_fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data


def test_a_write_refused_after_the_flag_was_taken_is_done_buffered(tmp_path: Path) -> None:
    """Some file systems take the flag and refuse the write itself (EINVAL): seen here for real
    with a descriptor whose next write is misaligned, as a short direct write would leave it."""
    fd = _new_file(tmp_path, "f")
    try:
        out = DirectFile(fd)
        os.lseek(fd, 1, os.SEEK_SET)  # a misaligned offset: the direct write is refused
        out.write(b"y" * (ALIGN * 2))
        out.close()
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"\0" + b"y" * (ALIGN * 2)
