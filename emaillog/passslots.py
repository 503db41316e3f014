"""How many passes the mailboxes of one process run at once (EMAILLOG_MAX_PASSES_AT_ONCE, issue 6).

A fleet's mailboxes wait in IDLE on threads of their own, and each starts a pass when its mail
comes. After an outage every mailbox has a backlog at once: measured with 35 mailboxes of 40
messages (600 KB each) on 2 cores, 34 passes ran together, each holding a batch in memory and a
PostgreSQL session (two with its recording thread): the process peaked at 1.1 GB RSS, its parsing
processes at 1.2 GB more (150 mailboxes took 85 of PostgreSQL's default 100 sessions). A pass takes
a slot here first; the others wait their turn, first come first served.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

# Longest wait between two looks at ``stopping`` (and two calls of ``waiting``) while a pass waits.
SLICE = 0.5


class PassSlots:
    """A count of passes running, bounded by ``limit``, that waiters take in the order they came."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._running = 0
        self._queue: deque[object] = deque()  # the waiters' tickets, first come first
        self._changed = threading.Condition()

    @property
    def running(self) -> int:
        return self._running

    @property
    def limit(self) -> int:
        return self._limit

    def resize(self, limit: int) -> None:
        """A new bound (SIGHUP): waiters go on at once when it is higher; a lower one applies to the
        passes that start after it, the ones running finishing as they are."""
        with self._changed:
            self._limit = limit
            self._changed.notify_all()

    def free(self) -> bool:
        """Whether a pass asking now would run at once."""
        with self._changed:
            return self._running < self._limit and not self._queue

    def take(self, stopping: Callable[[], bool], waiting: Callable[[], None] = lambda: None) -> bool:
        """Take a slot, waiting for one if need be; False (and nothing taken) once ``stopping()``.

        ``waiting`` is called between looks, outside the lock: the daemon pings its watchdog and
        keeps its IMAP connection from timing out there."""
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
        taken = False
        try:
            while True:
                with self._changed:
                    if self._running < self._limit and self._queue[0] is ticket:
                        self._queue.popleft()
                        self._running += 1
                        taken = True
                        self._changed.notify_all()  # the next in line, when the bound has room for it
                        return True
                    if stopping():
                        return False
                    self._changed.wait(SLICE)
                waiting()
        finally:
            if not taken:
                with self._changed:
                    self._queue.remove(ticket)
                    self._changed.notify_all()

    def give_back(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()
