"""Outlook's winmail.dat (TNEF): its files are logged in its place, on both reading paths; a stream
that cannot be read, or not within bounds, stays as it came."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest
from support import attached_forward
from winmail import (
    ATTACHMENT,
    BINARY,
    BYTE,
    MESSAGE,
    MULTIPLE,
    SHORT,
    STRING,
    attribute,
    bcc_message,
    file,
    mapi,
    outlook_message,
    padded,
    stream,
    value,
    winmail,
)

from emaillog import largemail, tnef
from emaillog.contents import Attachment
from emaillog.forwards import forwards_of
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.parallel import SPOOL_OVER, parse_one

PDF = b"%PDF-1.7 the signed contract"


def parsed(raw: bytes, limits: Limits | None = None) -> Email:
    email = parse(raw, limits or Limits())
    assert isinstance(email, Email)
    return email


def described(attachments: tuple[Attachment, ...]) -> list[tuple[str, str, int, str]]:
    return [(a.filename, a.content_type, a.size, a.sha256) for a in attachments]


def packed(data: bytes) -> list[tuple[str, str, int, str]]:
    """What a winmail.dat left as it came looks like."""
    return [("winmail.dat", "application/ms-tnef", len(data), hashlib.sha256(data).hexdigest())]


def test_a_bccd_winmail_dat_is_replaced_by_the_files_it_carries() -> None:
    email = parsed(bcc_message(winmail([("contract.pdf", PDF), (None, b"\x00\x01\x02")])))
    assert described(email.attachments) == [
        ("contract.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("attachment.bin", "application/octet-stream", 3, hashlib.sha256(b"\x00\x01\x02").hexdigest()),
    ]
    assert email.attachments[0].data == PDF
    assert email.text.strip() == "Please find the contract attached."


@pytest.mark.parametrize(
    ("content_type", "filename"),
    [
        ("application/ms-tnef", "message.dat"),
        ("application/vnd.ms-tnef", "winmail.dat"),
        ("application/octet-stream", "WINMAIL.DAT"),  # a gateway that relabelled the type
    ],
)
def test_a_tnef_part_is_known_by_its_type_or_its_name(content_type: str, filename: str) -> None:
    raw = bcc_message(winmail([("contract.pdf", PDF)]), content_type=content_type, filename=filename)
    assert [a.filename for a in parsed(raw).attachments] == ["contract.pdf"]


def test_an_unsafe_name_inside_is_made_safe_as_any_other() -> None:
    email = parsed(bcc_message(winmail([("..\\..\\boot.ini", b"[boot]")])))
    [boot] = email.attachments
    assert (boot.filename, boot.content_type) == ("boot.ini", "application/octet-stream")


def test_the_html_body_inside_fills_a_message_without_bodies_and_is_sanitised() -> None:
    html = "<p>Dear Carl, the <b>contract</b>.</p><script>steal()</script>"
    email = parsed(bcc_message(winmail([("contract.pdf", PDF)], html=html), text=None))
    assert email.html is not None and "<b>contract</b>" in email.html and "script" not in email.html
    assert email.text == "Dear Carl, the contract."
    assert email.body_bytes == len(html.encode())  # SPEC §8 counts it (not the text read from it)
    assert [a.filename for a in email.attachments] == ["contract.pdf"]


def test_the_text_body_inside_fills_a_message_without_one() -> None:
    email = parsed(bcc_message(winmail(body="Grüße, Rita"), text=None))
    assert email.text == "Grüße, Rita" and email.html is None
    assert email.attachments == ()  # its body is shown: nothing of it is left unshown


def test_the_messages_own_bodies_win_and_a_body_nobody_uses_keeps_the_part_packed() -> None:
    data = winmail(html="<p>the same words, again</p>")
    email = parsed(bcc_message(data, text="Hello", html="<p>Hello</p>"))
    assert email.text.strip() == "Hello" and email.html == "<p>Hello</p>\n"
    assert described(email.attachments) == packed(data)


def test_a_tnef_with_neither_files_nor_a_usable_body_stays_packed() -> None:
    # RTF mode's body is compressed RTF: no converter is added for it.
    rtf_only = stream(attribute(MESSAGE, 0x9003, BYTE, mapi(value(BINARY, 0x1009, b"LZFu" + b"\x00" * 12))))
    assert described(parsed(bcc_message(rtf_only)).attachments) == packed(rtf_only)


BAD_CODEPAGE = (
    stream(file("a.txt", b"a", long_name="a.txt"))[:6]
    + attribute(MESSAGE, 0x9007, BYTE, struct.pack("<II", 99999, 0))
    + attribute(MESSAGE, 0x8004, STRING, b"Subject\x00")
    + file("a.txt", b"a")
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(winmail([("a.pdf", PDF)])[:6] + b"\xff" * 200, id="garbage after the signature"),
        pytest.param(b"\x78\x9f\x3e\x22", id="only a signature"),
        pytest.param(b"PK\x03\x04 not tnef at all", id="not tnef"),
        pytest.param(BAD_CODEPAGE, id="an unknown code page"),
        pytest.param(stream(attribute(ATTACHMENT, 0x800F, BYTE, PDF)), id="file data before any file"),
    ],
)
def test_a_stream_tnefparse_cannot_read_stays_packed(data: bytes) -> None:
    assert described(parsed(bcc_message(data)).attachments) == packed(data)


def test_an_original_forwarded_as_attachment_gives_the_files_inside() -> None:
    original = outlook_message(
        winmail([("contract.pdf", PDF)], html="<p>Signed.</p><img src=https://track.example/p.gif>"),
        text=None,
        sender="Carl Customer <carl@globex.example>",
    )
    email = parsed(attached_forward(original, sender="Rita Rep <rita@acme.example>"))
    [forwarded] = forwards_of(email)
    assert described(forwarded.attachments) == [
        ("contract.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    ]
    assert forwarded.html == "<p>Signed.</p><img>"  # sanitised as any original's HTML
    assert forwarded.body == "Signed."


@pytest.mark.parametrize(("files", "unpacked"), [(3, True), (4, False)])
def test_the_files_inside_count_toward_the_part_limit(files: int, unpacked: bool) -> None:
    # Two parts (the text and the TNEF) under a limit of four: the TNEF's place and two more.
    data = winmail([(f"f{n}.txt", b"x") for n in range(files)])
    names = [a.filename for a in parsed(bcc_message(data), Limits(max_parts=4)).attachments]
    assert names == ([f"f{n}.txt" for n in range(files)] if unpacked else ["winmail.dat"])


def test_two_tnef_parts_share_the_part_limit() -> None:
    msg = outlook_message(winmail([("a.txt", b"a"), ("b.txt", b"b")]))
    second = winmail([("c.txt", b"c"), ("d.txt", b"d")])
    msg.add_attachment(second, "application", "ms-tnef", filename="2.dat")
    msg["Delivered-To"] = "log@acme.example"
    names = [a.filename for a in parsed(msg.as_bytes(), Limits(max_parts=4)).attachments]
    assert names == ["a.txt", "b.txt", "2.dat"]


def test_a_large_file_inside_is_spooled_by_the_worker_as_any_other(tmp_path: Path) -> None:
    big = bytes(range(256)) * (SPOOL_OVER // 128)
    result = parse_one(bcc_message(winmail([("scan.pdf", big), ("note.txt", b"hi")])), Limits(), tmp_path)
    assert isinstance(result.email, Email)
    scan, note = result.email.attachments
    assert (scan.filename, scan.size, scan.data) == ("scan.pdf", len(big), b"")
    assert scan.path is not None and scan.path.read_bytes() == big
    assert (note.path, note.data) == (None, b"hi")


def _never_decoded(data: bytes, **options: object) -> None:
    # pytest.fail raises a BaseException: unpack's handler of tnefparse's errors does not catch it.
    pytest.fail("the stream was handed to tnefparse")


EMBEDDED = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
BOMB = stream(attribute(MESSAGE, 0x9003, BYTE, mapi(struct.pack("<HHI", SHORT | MULTIPLE, 1, 2**32 - 1))))
HEAD, TAIL = EMBEDDED[:9], EMBEDDED[9:] + BOMB  # the head ends in 0xC0: nothing of it is stripped
SPLIT_VALUES = struct.pack("<I", len(HEAD)) + padded(HEAD) + struct.pack("<I", len(TAIL)) + padded(TAIL)
SPLIT_EMBEDDED = stream(
    attribute(ATTACHMENT, 0x9002, BYTE, b"\x01\x00" + b"\xff" * 12),
    attribute(ATTACHMENT, 0x9005, BYTE, mapi(struct.pack("<HHI", BINARY, 0x3701, 2) + SPLIT_VALUES)),
)
SPLIT_EMBEDDED_MULTIPLE = stream(
    attribute(ATTACHMENT, 0x9002, BYTE, b"\x01\x00" + b"\xff" * 12),
    attribute(
        ATTACHMENT, 0x9005, BYTE, mapi(struct.pack("<HHI", BINARY | MULTIPLE, 0x3701, 2) + SPLIT_VALUES)
    ),
)
MANY_TINY = stream(*[attribute(MESSAGE, 0x0004, BYTE, b"")] * 200_000, file("big.bin", b"\x00" * 1_000_000))


@pytest.mark.parametrize(
    "data",
    [
        # Four billion fixed-size values in a few bytes: tnefparse makes an object of each.
        pytest.param(
            stream(
                attribute(MESSAGE, 0x9003, BYTE, mapi(struct.pack("<HHI", SHORT | MULTIPLE, 1, 2**32 - 1)))
            ),
            id="a multi-valued property of four billion values",
        ),
        # tnefparse idles through a count of properties past the end of the list.
        pytest.param(
            stream(attribute(MESSAGE, 0x9003, BYTE, struct.pack("<I", 0xFFFFFFFF))),
            id="a property list of four billion properties",
        ),
        pytest.param(
            stream(attribute(MESSAGE, 0x9004, BYTE, struct.pack("<II", 1, 0xFFFFFFFF))),
            id="a recipient row of four billion properties",
        ),
        # tnefparse copies the rest of the stream for each attribute: here 200,000 times 1 MB.
        pytest.param(MANY_TINY, id="many tiny attributes before a large one"),
        # An attached Outlook item is a TNEF stream parsed again inside, unchecked.
        pytest.param(
            stream(file("item", b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46")),
            id="an embedded message",
        ),
        # tnefparse joins a property's values: two values spell the signature the stream does not
        # hold (between them, the first one's padding and the second one's length). The stream
        # inside held a four-billion-value list: out of memory (10 s and 1.5 GB at ten million).
        pytest.param(SPLIT_EMBEDDED, id="an embedded message split over two values"),
        pytest.param(SPLIT_EMBEDDED_MULTIPLE, id="an embedded message split over a multi-valued property"),
    ],
)
def test_a_stream_tnefparse_would_not_read_within_bounds_is_never_given_to_it(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tnef, "TNEF", _never_decoded)
    assert tnef.unpack(data, max_files=1000) is None
    assert described(parsed(bcc_message(data)).attachments) == packed(data)


def test_more_files_than_the_message_has_room_for_are_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tnef, "TNEF", _never_decoded)
    assert tnef.unpack(winmail([("a", b"a"), ("b", b"b")]), max_files=1) is None


def _cut_short_values(count: int, name: str) -> bytes:
    """A stream whose message properties declare ``count`` two-byte values and hold none (tnefparse
    makes an object of each all the same), then one file."""
    values = attribute(MESSAGE, 0x9003, BYTE, mapi(struct.pack("<HHI", SHORT | MULTIPLE, 1, count)))
    return stream(values, file(name, b"the file's bytes"))


def _with_tnef_parts(*streams: bytes) -> bytes:
    msg = outlook_message(streams[0])
    for n, data in enumerate(streams[1:], 2):
        msg.add_attachment(data, "application", "ms-tnef", filename=f"{n}.dat")
    msg["Delivered-To"] = "log@acme.example"
    return msg.as_bytes()


def test_the_tnef_parts_of_a_message_share_one_budget() -> None:
    # Each within a stream's budget, together over it: a thousand such parts of 117 bytes (a 340 KB
    # message) took 45 s of CPU when each part had a budget of its own.
    first, second = _cut_short_values(30_000, "a.txt"), _cut_short_values(30_000, "b.txt")
    assert tnef.unpack(second, max_files=1000) is not None
    names = [a.filename for a in parsed(_with_tnef_parts(first, second)).attachments]
    assert names == ["a.txt", "2.dat"]


def test_a_count_refused_unwalked_costs_the_next_part_nothing() -> None:
    hostile = stream(attribute(MESSAGE, 0x9003, BYTE, struct.pack("<I", 0xFFFFFFFF)), file("x", b"x" * 9))
    raw = _with_tnef_parts(hostile, _cut_short_values(30_000, "b.txt"))
    assert [a.filename for a in parsed(raw).attachments] == ["winmail.dat", "b.txt"]


def test_a_file_given_as_one_value_of_the_data_object_property_is_opened() -> None:
    # What Outlook writes for a file kept as an object: one value.
    data = stream(
        attribute(ATTACHMENT, 0x9002, BYTE, b"\x01\x00" + b"\xff" * 12),
        attribute(
            ATTACHMENT, 0x9005, BYTE, mapi(value(BINARY, 0x3701, PDF), value(0x001E, 0x3707, b"c.pdf\x00"))
        ),
    )
    assert described(parsed(bcc_message(data)).attachments) == [
        ("c.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    ]


@pytest.mark.parametrize(("limit", "opened"), [(10_000, True), (100, False)])
def test_a_streamed_winmail_dat_is_opened_from_its_file_up_to_a_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, opened: bool
) -> None:
    # A large message's parts are streamed to temp files; a winmail.dat is read back to be opened.
    monkeypatch.setattr(largemail, "MAX_TNEF_OPENED", limit)
    packed = tmp_path / "part-packed"
    packed.write_bytes(winmail([("offer.pdf", b"%PDF-1.4 offer")]))
    streamed = Attachment("winmail.dat", "application/ms-tnef", packed.stat().st_size, "x", path=packed)
    [result] = largemail._opened_tnef((streamed,), 10, tmp_path)
    if opened:
        assert (result.filename, result.size, packed.exists()) == ("offer.pdf", 14, False)
        assert result.path is not None and result.path.read_bytes() == b"%PDF-1.4 offer"
    else:
        assert result is streamed and packed.exists()
