"""UID sets: a list of UIDs written as the IMAP sequence sets that commands carry, and read back.

Both the commands that read messages (imapmailbox.py) and those that move them (imapdisposal.py)
name their messages so, and read the UIDs a server's answer names (a COPYUID, a refused FETCH).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# The longest UID set one command carries. Servers refuse a longer command line than theirs ("BAD
# Too long argument"): Dovecot's is 64 kB, others' are smaller, and RFC 7162 §4 asks clients to
# stay under about 8 kB. A backlog of 2000 messages listed one by one (12 kB of UIDs) failed every
# pass on such a server; written as ranges and cut here, any list fits, room left for a folder name.
MAX_UID_SET = 4000


def uid_sets(uids: Iterable[int], limit: int = MAX_UID_SET) -> Iterator[str]:
    """The UIDs as IMAP sequence sets of at most ``limit`` characters, runs as ranges ("3:7,9,12:40").

    A range names exactly the UIDs given: every UID between its ends is one of them.
    """
    pieces: list[str] = []
    used = 0
    for piece in _pieces(sorted(set(uids)), limit):
        if pieces and used + 1 + len(piece) > limit:
            yield ",".join(pieces)
            pieces, used = [], 0
        used += len(piece) + (1 if pieces else 0)
        pieces.append(piece)
    if pieces:
        yield ",".join(pieces)


def _pieces(uids: list[int], limit: int) -> Iterator[str]:
    """Each run as a range, or UID by UID when its range is longer than ``limit`` ("100000:100001"
    is 13 characters: a set of at most 12 went over its limit)."""
    for first, last in _runs(uids):
        piece = str(first) if first == last else f"{first}:{last}"
        if len(piece) <= limit:
            yield piece
        else:
            yield from map(str, range(first, last + 1))


def _uids_in(uid_set: str) -> list[int]:
    """The UIDs an ``uid_sets`` set names (its ranges name exactly the UIDs given)."""
    uids: list[int] = []
    for piece in uid_set.split(","):
        first, _, last = piece.partition(":")
        low, high = sorted((int(first), int(last or first)))  # a server may write a range high:low
        uids.extend(range(low, high + 1))
    return uids


def _runs(uids: list[int]) -> Iterator[tuple[int, int]]:
    """The runs of consecutive numbers in a sorted list, as (first, last)."""
    start = 0
    for i in range(1, len(uids) + 1):
        if i == len(uids) or uids[i] != uids[i - 1] + 1:
            yield uids[start], uids[i - 1]
            start = i
