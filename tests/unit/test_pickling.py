"""Values pickled as constructor calls come back equal, field by field, and the helper refuses
classes a constructor call would not rebuild."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest
from support import forward_with_a_file

from emaillog.contents import Attachment
from emaillog.forwards import forwards_of
from emaillog.limits import Limits
from emaillog.message import Email, Malformed, parse
from emaillog.parallel import Parsed
from emaillog.pickling import pickled_by_fields


def round_trip(value: object) -> object:
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def test_an_email_with_its_forwards_and_attachments_comes_back_equal() -> None:
    raw = forward_with_a_file(b"%PDF-1.7")
    email = parse(raw, Limits())
    assert isinstance(email, Email)
    read = forwards_of(email)
    assert read and read[0].attachments, "the attached original is read, with its file"
    parsed = Parsed(email.sha256, email)

    back = round_trip(parsed)

    assert isinstance(back, Parsed) and isinstance(back.email, Email)
    assert back == parsed  # the lazy tree is not compared: its forwards are, below
    assert back.email.lazy_tree.forwards == read
    assert [f.name for f in fields(back.email)] == [f.name for f in fields(Email)]


def test_attachments_malformed_values_and_a_crash_come_back_equal() -> None:
    values = [
        Attachment("a.pdf", "application/pdf", 3, "ab" * 32, b"abc"),
        Attachment("big.bin", "application/octet-stream", 9, "cd" * 32, b"", Path("/tmp/part-1")),
        Malformed("the message has no readable From address", "ef" * 32, subject="Hi", headers=(("X", "y"),)),
        Parsed("01" * 32, None, "RecursionError"),
    ]
    assert [round_trip(v) for v in values] == values


def test_a_class_not_rebuilt_by_its_constructor_is_refused() -> None:
    @dataclass(frozen=True)
    class Counted:
        value: int
        derived: int = field(init=False, default=0)

    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            pass

    for cls in (Counted, Checked):
        with pytest.raises(TypeError, match=cls.__name__):
            pickled_by_fields(cls)


@pickled_by_fields
@dataclass(frozen=True)
class One:
    value: tuple[int, ...]


@dataclass(frozen=True)
class More(One):
    extra: str = ""


def test_a_one_field_class_and_a_subclass_come_back_equal() -> None:
    assert One((1, 2)).__reduce_ex__(5) == (One, ((1, 2),))
    for value in (One((1, 2)), More((3,), "kept")):
        back = round_trip(value)
        assert type(back) is type(value) and back == value
