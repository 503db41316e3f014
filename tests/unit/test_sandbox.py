"""tests/sandbox.py refuses what the shipped unit refuses, so a pass that works under it means something."""

from __future__ import annotations

import socket
import subprocess
import sys

from sandbox import allowed_families, denies_write_execute, under_unit_filter, unit_allowed_calls

PROBE = """
import errno, mmap, os, socket
def refused(call):
    try:
        call()
    except PermissionError:
        return "refused"
    return "allowed"
print(refused(lambda: os.sched_setaffinity(0, os.sched_getaffinity(0))))  # @resources
print(refused(lambda: os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0))))  # added back
print(refused(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)))
print(refused(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE)))
def opens(family, kind):
    try:
        socket.socket(family, kind).close()
    except OSError as error:
        return errno.errorcode[error.errno]
    return "opens"
print(opens(socket.AF_INET6, socket.SOCK_STREAM), opens(socket.AF_UNIX, socket.SOCK_DGRAM))
print(opens(socket.AF_NETLINK, socket.SOCK_RAW), opens(socket.AF_PACKET, socket.SOCK_RAW))
"""


def test_the_filter_refuses_what_the_unit_refuses() -> None:
    calls = unit_allowed_calls()
    assert {"read", "mmap", "setpriority"} <= calls and not {"sched_setaffinity", "mount", "setuid"} & calls
    assert denies_write_execute()
    assert allowed_families() == {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6}
    probe = subprocess.run(
        under_unit_filter([sys.executable, "-c", PROBE]), capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    assert (
        probe.stdout.split()
        == ["refused", "allowed", "refused", "allowed"] + ["opens"] * 2 + ["EAFNOSUPPORT"] * 2
    )
