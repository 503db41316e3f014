"""The mailbox a daemon's pass works through: it stops fetching when asked to, and pings the watchdog."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .imapmailbox import ImapMailbox


class StoppableMailbox:
    """The mailbox as a pass sees it: fetches nothing once a stop was asked for (the batch in hand
    was fetched already and is recorded and moved), and each fetch or move pings the watchdog."""

    def __init__(
        self,
        inner: ImapMailbox,
        stopping: Callable[[], bool],
        alive: Callable[[], None],
        moved: Callable[[], None] = lambda: None,
    ) -> None:
        self._inner, self._stopping, self._alive, self._moved = inner, stopping, alive, moved
        self.highest_uid: int | None = None

    def uids(self, *, deleted: bool = False) -> list[int]:
        found = self._inner.uids(deleted=deleted)
        if not deleted:
            self.highest_uid = max(found, default=0)
        return found

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        self._alive()
        if self._stopping():
            return {}
        return self._inner.fetch(uids)

    def move(self, uids: Sequence[int], folder: str) -> frozenset[int]:
        self._alive()
        gone = self._inner.move(uids, folder)
        self._moved()  # work done: the daemon's mailbox is reached from here
        return gone

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
