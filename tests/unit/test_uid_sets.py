"""UID sets as commands carry them: runs written as ranges, each set under a length a server takes
(tests/live/test_server_limits.py runs them against a Dovecot with a short command line)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from emaillog.imapuids import uid_sets


def expand(uid_set: str) -> list[int]:
    """The UIDs a sequence set names (no "*": uid_sets never writes one)."""
    uids: list[int] = []
    for piece in uid_set.split(","):
        first, _, last = piece.partition(":")
        uids += range(int(first), int(last or first) + 1)
    return uids


@given(st.lists(st.integers(1, 10**9), max_size=3000), st.integers(12, 200))
@settings(max_examples=200, deadline=None)
@example(uids=[100000, 100001], limit=12)  # a range of 13 characters: written as two UIDs
def test_uid_sets_name_every_uid_once_within_the_limit(uids: list[int], limit: int) -> None:
    sets = list(uid_sets(uids, limit))
    assert all(len(s) <= limit for s in sets)
    assert [uid for s in sets for uid in expand(s)] == sorted(set(uids))


def test_uid_sets_write_runs_as_ranges() -> None:
    assert list(uid_sets([7, 3, 4, 5, 9, 10, 3])) == ["3:5,7,9:10"]
    assert list(uid_sets(range(1, 100_001))) == ["1:100000"]
    assert list(uid_sets([])) == []
