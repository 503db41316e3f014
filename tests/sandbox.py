"""The shipped systemd unit's system call filter, applied to a process without systemd.

The unit's ``SystemCallFilter=`` lines are read in order, as systemd reads them: the first is an
allow list (what the service may call; everything else fails with ``SystemCallErrorNumber=EPERM``),
a later ``~`` line removes calls from it and a later plain line adds some back. Groups such as
``@system-service`` are expanded by ``systemd-analyze syscall-filter``, so the filter is the one the
installed systemd would build. It is loaded with libseccomp (every Debian has it: apt depends on it)
in a wrapper that then executes the command, which inherits the filter.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "emaillog.service"

# Loads the filter (argv[1]: the allowed calls, comma-separated), then executes argv[2:].
_WRAPPER = """
import ctypes, errno, os, sys
seccomp = ctypes.CDLL("libseccomp.so.2")
seccomp.seccomp_init.restype = ctypes.c_void_p
seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
context = seccomp.seccomp_init(0x00050000 | errno.EPERM)  # SCMP_ACT_ERRNO(EPERM) for the rest
for name in sys.argv[1].split(","):
    number = seccomp.seccomp_syscall_resolve_name(name.encode())
    if number >= 0:  # a call of another architecture (e.g. _llseek) has no number here
        assert seccomp.seccomp_rule_add(context, 0x7FFF0000, number, 0) == 0  # SCMP_ACT_ALLOW
assert seccomp.seccomp_load(context) == 0
os.execv(sys.argv[2], sys.argv[2:])
"""


@cache
def _group(name: str) -> frozenset[str]:
    listed = subprocess.run(
        ["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True
    ).stdout.splitlines()[1:]
    calls: set[str] = set()
    for line in listed:
        item = line.strip()
        if item and not item.startswith("#"):
            calls |= _group(item) if item.startswith("@") else {item}
    return frozenset(calls)


def unit_allowed_calls(unit: Path = UNIT) -> frozenset[str]:
    """The system calls the unit lets the service make."""
    lines = [
        line.split("=", 1)[1]
        for line in unit.read_text().splitlines()
        if line.startswith("SystemCallFilter=")
    ]
    assert lines and not lines[0].startswith("~"), "the unit starts with an allow list"
    allowed: set[str] = set()
    for value in lines:
        deny = value.startswith("~")
        for item in value.lstrip("~").split():
            calls = _group(item) if item.startswith("@") else {item}
            allowed = allowed - calls if deny else allowed | calls
    return frozenset(allowed)


def under_unit_filter(command: list[str]) -> list[str]:
    """``command`` (an executable's path first) run under the unit's system call filter."""
    return [sys.executable, "-c", _WRAPPER, ",".join(sorted(unit_allowed_calls())), *command]
