"""The shipped systemd unit's system call filter (with MemoryDenyWriteExecute= and
RestrictAddressFamilies=, which systemd also enforces with seccomp), applied without systemd.

The unit's ``SystemCallFilter=`` lines are read in order, as systemd reads them: the first is an
allow list (what the service may call; everything else fails with ``SystemCallErrorNumber=EPERM``),
a later ``~`` line removes calls from it and a later plain line adds some back. Groups such as
``@system-service`` are expanded by ``systemd-analyze syscall-filter``, so the filter is the one the
installed systemd would build. It is loaded with libseccomp (every Debian has it: apt depends on it)
in a wrapper that then executes the command, which inherits the filter.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from functools import cache
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "emaillog.service"

# Loads the filters, then executes argv[4:]. argv[1]: the allowed calls, comma-separated; argv[2]:
# "1" to refuse memory that is writable and executable (MemoryDenyWriteExecute=yes); argv[3]: the
# socket address families allowed (RestrictAddressFamilies=), as numbers, comma-separated.
_WRAPPER = """
import ctypes, errno, os, sys
class Compare(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
seccomp = ctypes.CDLL("libseccomp.so.2")
seccomp.seccomp_init.restype = ctypes.c_void_p
seccomp.seccomp_rule_add_array.argtypes = [
    ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Compare)
]
seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW, REFUSE, EQ, MASKED_EQ = 0x7FFF0000, 0x00050000 | errno.EPERM, 4, 7
# systemd's rule: socket() with any other family fails with EAFNOSUPPORT.
families = {int(f) for f in sys.argv[3].split(",")}
other_families = seccomp.seccomp_init(ALLOW)
unsupported = 0x00050000 | errno.EAFNOSUPPORT
socket_call = seccomp.seccomp_syscall_resolve_name(b"socket")
for family in set(range(64)) - families:
    test = (Compare * 1)(Compare(0, EQ, family, 0))
    assert seccomp.seccomp_rule_add_array(other_families, unsupported, socket_call, 1, test) == 0
assert seccomp.seccomp_load(other_families) == 0
if sys.argv[2] == "1":
    # systemd's rules: mmap writable and executable, mprotect to executable, shmat with SHM_EXEC.
    no_wx = seccomp.seccomp_init(ALLOW)
    for name, mask in ((b"mmap", 6), (b"mprotect", 4), (b"pkey_mprotect", 4), (b"shmat", 0o100000)):
        test = (Compare * 1)(Compare(2, MASKED_EQ, mask, mask))
        number = seccomp.seccomp_syscall_resolve_name(name)
        assert seccomp.seccomp_rule_add_array(no_wx, REFUSE, number, 1, test) == 0
    assert seccomp.seccomp_load(no_wx) == 0
# Last: the allow list refuses seccomp() itself.
allowed = seccomp.seccomp_init(REFUSE)
for name in sys.argv[1].split(","):
    number = seccomp.seccomp_syscall_resolve_name(name.encode())
    if number >= 0:  # a call of another architecture (e.g. _llseek) has no number here
        assert seccomp.seccomp_rule_add_array(allowed, ALLOW, number, 0, None) == 0
assert seccomp.seccomp_load(allowed) == 0
os.execv(sys.argv[4], sys.argv[4:])
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


def denies_write_execute(unit: Path = UNIT) -> bool:
    return "MemoryDenyWriteExecute=yes" in unit.read_text().splitlines()


def allowed_families(unit: Path = UNIT) -> frozenset[int]:
    """The socket address families of RestrictAddressFamilies= (AF_UNIX …) as numbers."""
    (names,) = [
        line.split("=", 1)[1]
        for line in unit.read_text().splitlines()
        if line.startswith("RestrictAddressFamilies=")
    ]
    return frozenset(int(getattr(socket, name)) for name in names.split())


def under_unit_filter(command: list[str]) -> list[str]:
    """``command`` (an executable's path first) run under the unit's system call filter, its refusal
    of writable executable memory and its socket address families."""
    allowed = ",".join(sorted(unit_allowed_calls()))
    families = ",".join(str(f) for f in sorted(allowed_families()))
    return [
        sys.executable,
        "-c",
        _WRAPPER,
        allowed,
        "1" if denies_write_execute() else "0",
        families,
        *command,
    ]
