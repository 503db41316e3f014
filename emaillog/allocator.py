"""Fewer glibc malloc arenas for the daemon's threads.

glibc gives a thread that meets contention an arena of its own (up to eight per core) and keeps what
was freed there for later: each of a fleet's mailbox threads held on to the memory of its last batch.
Measured with 35 mailboxes, each with a backlog of 40 messages of 600 KB, 4 passes at once: the
process peaked at 643 MB and stayed there; with at most 2 arenas, 252 MB, and 185 MB once drained.
The parser workers, forked from the daemon, inherit the setting.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # mallopt's parameter (malloc.h)
ARENAS = 2


def fewer_malloc_arenas() -> bool:
    """At most ARENAS arenas from now on; False where the C library is not glibc (musl, macOS) or an
    admin chose a number with MALLOC_ARENA_MAX (glibc read it at start), which is left as it is."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - glibc's own: mallopt's parameters are glibc's
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_ARENA_MAX, ARENAS))
