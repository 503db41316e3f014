"""A hostile server answer: a message expunged by another session comes back as BODY[] NIL."""

from __future__ import annotations

from typing import Any

from emaillog.mailbox import ImapMailbox


class NilBodies:
    def fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        return {1: {b"BODY[]": b"Subject: kept\r\n\r\nhi\r\n"}, 2: {b"BODY[]": None}, 3: {}}


def test_a_message_expunged_meanwhile_is_left_out_of_the_fetch() -> None:
    mailbox = object.__new__(ImapMailbox)
    mailbox.client = NilBodies()  # type: ignore[assignment]
    assert mailbox.fetch([1, 2, 3]) == {1: b"Subject: kept\r\n\r\nhi\r\n"}
