"""Reading a FETCH answer: Dovecot's plain shape, the shapes other servers send, and hostile ones.

The items are as imaplib hands them over: a line that ends in a literal comes as (line, literal),
and what follows the literal on the same response line comes as the next item.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from emaillog.imapfetch import _plain_bodies, bodies_of


def literal(seq: int, uid: int, body: bytes) -> list[Any]:
    return [(b"%d (UID %d BODY[] {%d}" % (seq, uid, len(body)), body), b")"]


def test_dovecots_answer_is_read_on_the_plain_path() -> None:
    data = literal(1, 5, b"Subject: a\r\n\r\nhi\r\n") + literal(2, 6, b"")
    assert _plain_bodies(data) == {5: b"Subject: a\r\n\r\nhi\r\n", 6: b""}
    assert bodies_of(data) == {5: b"Subject: a\r\n\r\nhi\r\n", 6: b""}


def test_a_message_expunged_meanwhile_is_left_out_of_the_fetch() -> None:
    # Dovecot answers BODY[] NIL for a message another session expunged; FLAGS may come unasked.
    data = [*literal(1, 5, b"kept"), b"2 (UID 6 BODY[] NIL)", b"3 (FLAGS (\\Seen))"]
    assert _plain_bodies(data) == {5: b"kept"}
    assert bodies_of(data) == {5: b"kept"}


def test_other_servers_shapes_are_read_by_the_general_parser() -> None:
    uid_after = [(b"1 (BODY[] {3}", b"abc"), b" UID 5)"]
    quoted = [b'1 (UID 5 BODY[] "abc")']
    flags_after = [(b"1 (UID 5 BODY[] {3}", b"abc"), b" FLAGS (\\Seen))"]
    for data in (uid_after, quoted, flags_after):
        assert _plain_bodies(data) is None
        assert bodies_of(data) == {5: b"abc"}


def test_a_body_sent_as_a_string_is_never_taken_for_an_expunged_message() -> None:
    # Skipping it would leave the message in the intake folder, unprocessed, for ever.
    assert bodies_of([b'1 (UID 5 BODY[] "")', *literal(2, 6, b"x")]) == {5: b"", 6: b"x"}


bodies = st.binary(max_size=40) | st.sampled_from([b")", b"BODY[] {3}", b" UID 9)", b"\r\n)\r\n"])


@st.composite
def answers(draw: st.DrawFn) -> list[Any]:
    data: list[Any] = []
    for seq, uid in enumerate(draw(st.lists(st.integers(1, 10**9), unique=True, max_size=6)), 1):
        shape = draw(st.sampled_from(["plain", "nil", "uid-after", "flags"]))
        body = draw(bodies)
        if shape == "plain":
            data += literal(seq, uid, body)
        elif shape == "nil":
            data.append(b"%d (UID %d BODY[] NIL)" % (seq, uid))
        elif shape == "uid-after":
            data += [(b"%d (BODY[] {%d}" % (seq, len(body)), body), b" UID %d)" % uid]
        else:
            data.append(b"%d (FLAGS (\\Seen) UID %d)" % (seq, uid))
    return data


@given(answers())
def test_the_bodies_are_those_imapclients_parser_reads(data: list[Any]) -> None:
    reference = parse_fetch_response(data, normalise_times=False, uid_is_key=True)
    expected = {uid: items[b"BODY[]"] for uid, items in reference.items() if items.get(b"BODY[]") is not None}
    assert bodies_of(data) == expected
