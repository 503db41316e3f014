"""The shipped systemd unit's system call filter (with MemoryDenyWriteExecute= and
RestrictAddressFamilies=, which systemd also enforces with seccomp), applied without systemd.

The unit's ``SystemCallFilter=`` lines are read in order, as systemd reads them: the first is an
allow list (what the service may call; everything else fails with ``SystemCallErrorNumber=EPERM``),
a later ``~`` line removes calls from it and a later plain line adds some back. Groups such as
``@system-service`` are expanded by ``systemd-analyze syscall-filter``, so the filter is the one the
installed systemd would build. It is loaded with libseccomp (every Debian has it: apt depends on it)
in a wrapper that then executes the command, which inherits the filter. ``refusing`` builds a
narrower one: only the calls named are refused.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "emaillog.service"

# Loads the filters described by the JSON in argv[1], then executes argv[2:]. "families": the socket
# address families allowed (RestrictAddressFamilies=), or null; "no_wx": refuse memory that is
# writable and executable (MemoryDenyWriteExecute=yes); "refuse": calls refused; "allow": the only
# calls allowed, or null for all.
_WRAPPER = """
import ctypes, errno, json, os, sys
class Compare(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
seccomp = ctypes.CDLL("libseccomp.so.2")
seccomp.seccomp_init.restype = ctypes.c_void_p
seccomp.seccomp_rule_add_array.argtypes = [
    ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(Compare)
]
seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW, REFUSE, EQ, MASKED_EQ = 0x7FFF0000, 0x00050000 | errno.EPERM, 4, 7
spec = json.loads(sys.argv[1])
def number(name):
    return seccomp.seccomp_syscall_resolve_name(name.encode())
def load(default, rules):
    context = seccomp.seccomp_init(default)
    for action, name, test in rules:
        if number(name) >= 0:  # a call of another architecture (e.g. _llseek) has no number here
            tests = (Compare * len(test))(*(Compare(*t) for t in test))
            assert seccomp.seccomp_rule_add_array(context, action, number(name), len(test), tests) == 0
    assert seccomp.seccomp_load(context) == 0
if spec["families"] is not None:
    # systemd's rule: socket() with any other family fails with EAFNOSUPPORT.
    unsupported = 0x00050000 | errno.EAFNOSUPPORT
    load(ALLOW, [(unsupported, "socket", [(0, EQ, f, 0)]) for f in set(range(64)) - set(spec["families"])])
if spec["no_wx"]:
    # systemd's rules: mmap writable and executable, mprotect to executable, shmat with SHM_EXEC.
    masks = {"mmap": 6, "mprotect": 4, "pkey_mprotect": 4, "shmat": 0o100000}
    load(ALLOW, [(REFUSE, name, [(2, MASKED_EQ, mask, mask)]) for name, mask in masks.items()])
if spec["refuse"]:
    load(ALLOW, [(REFUSE, name, []) for name in spec["refuse"]])
# Last: an allow list refuses seccomp() itself.
if spec["allow"] is not None:
    load(REFUSE, [(ALLOW, name, []) for name in spec["allow"]])
os.execv(sys.argv[2], sys.argv[2:])
"""


def directives(unit: Path = UNIT) -> dict[str, list[str]]:
    """Every Key=value of the unit, by key, in file order."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


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
    lines = directives(unit)["SystemCallFilter"]
    assert not lines[0].startswith("~"), "the unit starts with an allow list"
    allowed: set[str] = set()
    for value in lines:
        deny = value.startswith("~")
        for item in value.lstrip("~").split():
            calls = _group(item) if item.startswith("@") else {item}
            allowed = allowed - calls if deny else allowed | calls
    return frozenset(allowed)


def denies_write_execute(unit: Path = UNIT) -> bool:
    return directives(unit).get("MemoryDenyWriteExecute") == ["yes"]


def allowed_families(unit: Path = UNIT) -> frozenset[int]:
    """The socket address families of RestrictAddressFamilies= (AF_UNIX …) as numbers."""
    (names,) = directives(unit)["RestrictAddressFamilies"]
    return frozenset(int(getattr(socket, name)) for name in names.split())


def _filtered(command: list[str], **spec: object) -> list[str]:
    return [sys.executable, "-c", _WRAPPER, json.dumps(spec), *command]


def under_unit_filter(command: list[str]) -> list[str]:
    """``command`` (an executable's path first) run under the unit's system call filter, its refusal
    of writable executable memory and its socket address families."""
    return _filtered(
        command,
        families=sorted(allowed_families()),
        no_wx=denies_write_execute(),
        refuse=[],
        allow=sorted(unit_allowed_calls()),
    )


def refusing(calls: list[str], command: list[str]) -> list[str]:
    """``command`` run with only ``calls`` refused (EPERM), everything else allowed."""
    return _filtered(command, families=None, no_wx=False, refuse=calls, allow=None)
