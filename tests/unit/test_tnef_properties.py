"""Property test: whatever a winmail.dat's bytes are changed into, ``parse`` returns an Email or a
Malformed, and ``tnef.unpack`` opens the stream or leaves it packed, never raising.

The streams start valid (files, bodies, several kinds of MAPI property) and are changed as a stranger
or a broken gateway would: bits flipped, cut short, counts and lengths made huge at any offset, a
span repeated, the embedded-message signature written in (whole or in pieces). A few hundred
examples here (EMAILLOG_PROPERTY_EXAMPLES for more); a longer fuzzing run of the same kind of
changes, in a subprocess with memory and CPU caps, is what the bounds in ``tnef`` were checked with.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from winmail import (
    ATTACHMENT,
    BINARY,
    BYTE,
    INT32,
    MESSAGE,
    MULTIPLE,
    SHORT,
    STRING8,
    attribute,
    bcc_message,
    mapi,
    stream,
    value,
    winmail,
)

from emaillog import tnef
from emaillog.limits import Limits
from emaillog.message import Email, Malformed, parse

SIGNATURE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"

NAMED_INT = struct.pack("<HH", INT32, 0x8001) + b"\x11" * 16 + struct.pack("<III", 0, 7, 5)  # GUID, number
SHORTS = struct.pack("<HHI", SHORT | MULTIPLE, 0x3001, 3) + struct.pack("<HHHH", 1, 2, 3, 0)
FILE_AS_OBJECT = mapi(value(BINARY, 0x3701, b"the data"), value(STRING8, 0x3707, b"d.bin"))
SEEDS = (
    winmail([("contract.pdf", b"%PDF-1.7 " * 20), (None, b"\x00\x01" * 5)], html="<p>Hi</p>", body="Hello"),
    winmail([(f"f{n}.txt", b"x" * 12) for n in range(3)]),
    stream(
        attribute(MESSAGE, 0x9003, BYTE, mapi(SHORTS, NAMED_INT, value(STRING8, 0x1000, b"the body\x00"))),
        attribute(ATTACHMENT, 0x9002, BYTE, b"\x01\x00" + b"\xff" * 12),
        attribute(ATTACHMENT, 0x9005, BYTE, FILE_AS_OBJECT),
    ),
)
LARGE = (0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 0x10000, 49_999, 1_000_000, 0xFFFF, 0)

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(0, 10**6)),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.sampled_from(LARGE) | st.integers(0, 2**32 - 1)),
    st.tuples(st.just("repeat"), st.integers(0, 10**6), st.integers(1, 64), st.integers(2, 40)),
    st.tuples(
        st.just("insert"), st.integers(0, 10**6), st.sampled_from([SIGNATURE, SIGNATURE[:9], SIGNATURE[9:]])
    ),
)


def mutated(data: bytes, mutations: list[tuple[Any, ...]]) -> bytes:
    out = bytearray(data)
    for op, at, *rest in mutations:
        at = 6 + at % max(1, len(out) - 6)  # past the signature, which nearly every change would break
        if op == "flip" and at < len(out):
            out[at] ^= 1 << rest[0]
        elif op == "cut":
            del out[at:]
        elif op == "u32":
            out[at : at + 4] = struct.pack("<I", rest[0])
        elif op == "repeat":
            out[at:at] = bytes(out[at : at + rest[0]]) * rest[1]
        elif op == "insert":
            out[at:at] = rest[0]
    return bytes(out)


@settings(
    max_examples=int(os.environ.get("EMAILLOG_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(seed=st.sampled_from(SEEDS), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_a_changed_winmail_dat_is_opened_or_left_packed_never_raising(
    seed: bytes, mutations: list[tuple[Any, ...]]
) -> None:
    data = mutated(seed, mutations)
    unpacked = tnef.unpack(data, max_files=1000)
    assert unpacked is None or isinstance(unpacked, tnef.Unpacked)
    assert isinstance(parse(bcc_message(data), Limits()), Email | Malformed)
