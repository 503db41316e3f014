"""The bodies in a ``UID FETCH (UID BODY.PEEK[])`` answer, read without imapclient's general parser.

imapclient's parser tokenises every response line and its literal: about 90 µs a message, 7% of the
daemon's main thread in a backlog drain (cProfile, bench/backlog.py). Dovecot's answer has one shape,
``n (UID u BODY[] {size}`` then the literal then ``)``, which two regular expressions read. Any other
shape (the UID after the literal, a body sent as a quoted string, FLAGS beside it) goes to
imapclient's parser whole, so an unusual server is slower, never misread.
"""

from __future__ import annotations

import imaplib
import re
from typing import Any

from imapclient.response_parser import parse_fetch_response

# The line before a message's literal, as imaplib hands it over ("* " and "FETCH" removed).
_HEAD = re.compile(rb"\d+ \((?P<before>[^{]*)BODY\[\] \{\d+\}")
_UID = re.compile(rb"\bUID (\d+)\b")
# A line with no body in it: a message expunged meanwhile (BODY[] NIL) or unsolicited FLAGS.
_BODYLESS = re.compile(rb"\d+ \((?:(?!BODY\[\]).)*(?:BODY\[\] NIL(?:(?!BODY\[\]).)*)?\)", re.S)
# A BYE that ends the connection because of the FETCH itself (Dovecot: "FETCH failed: Internal error
# occurred", for a mail file it cannot open or whose size is wrong), not a server going away.
_FETCH_BYE = re.compile(r"\bFETCH\b", re.I)
# RFC 5530's codes for "not now": a NO with one of them is the server's state, not the message's.
_NOT_NOW = re.compile(r"\[(UNAVAILABLE|INUSE|LIMIT|OVERQUOTA|EXPUNGEISSUED)\b", re.I)


def bodies_of(data: list[Any]) -> dict[int, bytes]:
    """BODY[] of each message, by UID; a message answered with BODY[] NIL is left out."""
    plain = _plain_bodies(data)
    if plain is not None:
        return plain
    parsed = parse_fetch_response(data, normalise_times=False, uid_is_key=True)
    return {
        int(uid): bytes(body) for uid, items in parsed.items() if (body := items.get(b"BODY[]")) is not None
    }


def _plain_bodies(data: list[Any]) -> dict[int, bytes] | None:
    """The bodies when every item has the plain shape; None when one does not."""
    bodies: dict[int, bytes] = {}
    expect_close = False  # the ")" that ends a message after its literal
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and not expect_close:
            head = _HEAD.fullmatch(item[0])
            uid = _UID.search(head["before"]) if head is not None else None
            if uid is None:
                return None
            bodies[int(uid[1])] = item[1]
            expect_close = True
        elif item == b")" and expect_close:
            expect_close = False
        elif not (isinstance(item, bytes) and not expect_close and _BODYLESS.fullmatch(item)):
            return None
    return None if expect_close else bodies


def refusal_in_bye(imap: imaplib.IMAP4) -> str | None:
    """The words of the BYE that ended a FETCH when they name it, None otherwise (read after an
    abort). A connection cut ("socket error: EOF") leaves no BYE, and a server shutting down
    ("BYE Server shutting down") names no command: nothing to hold against the messages."""
    byes = imap.untagged_responses.get("BYE") or []
    said = byes[-1].decode(errors="replace") if byes and isinstance(byes[-1], bytes) else ""
    return said if _FETCH_BYE.search(said) and not _NOT_NOW.search(said) else None


def refused_for_good(words: str) -> bool:
    """Whether a NO to a FETCH is about the messages: not one of RFC 5530's "not now" codes."""
    return not _NOT_NOW.search(words)
