"""private.py: directories and files under the data dir are owner-only whatever the umask, and a
directory that is there already (an admin's data dir) keeps its mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from emaillog.private import make_owner_only, open_private, private_dir


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_directory_made_is_owner_only(tmp_path: Path) -> None:
    private_dir(tmp_path / "a" / "b" / "c")
    private_dir(tmp_path / "a" / "b" / "c")  # there already: nothing to do
    assert [_mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3


def test_a_data_dir_an_admin_made_keeps_its_group_access(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o750)
    private_dir(data / "attachments" / "ab")
    modes = [_mode(data / p) for p in ("", "attachments", "attachments/ab")]
    assert modes == [0o750, 0o700, 0o700]


def test_a_file_in_the_way_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    with pytest.raises(FileExistsError):
        private_dir(tmp_path / "data")
    with pytest.raises(NotADirectoryError):
        private_dir(tmp_path / "data" / "tmp")


def test_files_are_owner_only_and_one_written_anew_is_made_so(tmp_path: Path) -> None:
    with open_private(tmp_path / "new.lock", "ab") as out:
        out.write(b"1\n")
    old = tmp_path / "state.tmp"
    old.write_text("{}")
    old.chmod(0o644)  # as an earlier version left it
    with open_private(old, "wb") as out:
        out.write(b"{}")
    assert (_mode(tmp_path / "new.lock"), _mode(old)) == (0o600, 0o600)


def test_what_others_could_reach_is_made_owner_only_and_nothing_else(tmp_path: Path) -> None:
    for name, mode in (("open", 0o755), ("group", 0o750), ("private", 0o700)):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(mode)
    (tmp_path / "open" / "file").write_text("")
    (tmp_path / "open" / "file").chmod(0o644)
    for name, mode in (("a-file", 0o644), ("a-private-file", 0o600)):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(mode)
    names = ("open", "group", "private", "a-file", "a-private-file", "missing")
    assert [make_owner_only(tmp_path / n) for n in names] == [True, True, False, True, False, False]
    modes = [_mode(tmp_path / n) for n in ("open", "group", "open/file", "a-file")]
    assert modes == [0o700, 0o700, 0o644, 0o600]
