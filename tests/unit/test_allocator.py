"""The daemon caps glibc's malloc arenas (allocator.py): counted by glibc's own malloc_stats."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# Threads that allocate and free at once: each meets contention and glibc gives it an arena.
_CHILD = textwrap.dedent(
    """
    import ctypes, sys, threading
    from emaillog.allocator import fewer_malloc_arenas
    if sys.argv[1] == "capped":
        assert fewer_malloc_arenas()
    start = threading.Barrier(8)

    def churn():
        start.wait()
        for _ in range(20000):
            blocks = [bytearray(256) for _ in range(20)]
            del blocks

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
    """
)


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def test_the_daemon_keeps_to_two_malloc_arenas_however_many_threads_allocate() -> None:
    assert _arenas("free") > 2  # the threads do get arenas of their own without the cap
    assert _arenas("capped") <= 2
