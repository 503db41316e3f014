"""Reading one message by parts, in bounded chunks, so that a large one is never held whole.

largemail.py streams a message too large to fetch whole through this reader (BODYSTRUCTURE, then
each section in chunks), batch.py reads only the header of one over the limit, and
ImapMailbox.copies_in hashes candidates with it. A message that another session expunged meanwhile
raises MessageVanished: batch.py skips that message (the next pass settles it), the batch goes on.
"""

from __future__ import annotations

import hashlib
import imaplib
from collections.abc import Iterator
from typing import Any

from .imapfetch import refusal_in_bye, refused_for_good
from .imapsession import ImapSession
from .mailbox import FetchRefused, MessageVanished

# How much of a message one FETCH reads while hashing it.
_HASH_CHUNK = 1024 * 1024


class SectionReader:
    """Fetches parts of one large message by section, in bounded chunks (RFC 3501 partial fetch)."""

    def __init__(self, mailbox: ImapSession, uid: int) -> None:
        self.client = mailbox.client
        self.uid = uid

    def structure(self) -> tuple[bytes, Any]:
        data = self._fetch(["BODYSTRUCTURE", "BODY.PEEK[HEADER]"])
        if b"BODY[HEADER]" not in data or b"BODYSTRUCTURE" not in data:
            raise MessageVanished(f"uid {self.uid} is no longer in the folder")
        return bytes(data[b"BODY[HEADER]"]), data[b"BODYSTRUCTURE"]

    def section(self, section: str) -> bytes:
        return self._body(self._fetch([f"BODY.PEEK[{section}]"]))

    def _fetch(self, items: list[str]) -> Any:
        # A message expunged by another session answers with no FETCH line for its UID at all.
        try:
            data = self.client.fetch([self.uid], items)
        except imaplib.IMAP4.error as exc:
            raise self._refused(exc, items) from exc
        if self.uid not in data:
            raise MessageVanished(f"uid {self.uid} is no longer in the folder")
        return data[self.uid]

    def _refused(self, exc: imaplib.IMAP4.error, items: list[str]) -> imaplib.IMAP4.error | FetchRefused:
        """FetchRefused when the server refused this message's FETCH (a NO, or a BYE naming it);
        ``exc`` itself otherwise (a cut connection)."""
        if isinstance(exc, imaplib.IMAP4.abort):
            words = refusal_in_bye(self.client._imap)
        else:  # imapclient's words for a NO: "fetch failed: <the server's>"
            said = str(exc)
            found = said.lower().startswith("fetch failed: ") and refused_for_good(said)
            words = said.split(": ", 1)[1] if found else None
        if words is None:
            return exc
        return FetchRefused(
            f"the server refused FETCH {' '.join(items)} of uid {self.uid}: {words}", [self.uid]
        )

    def _body(self, data: Any) -> bytes:
        """The BODY[...] of an answer; "" past the end of a section (RFC 3501 §6.4.5).

        NIL is a message expunged by another session since the last command (Dovecot), and so is an
        answer without BODY at all. Read as "", it ended a streamed attachment early: the message
        was logged with the attachment cut short.
        """
        body = next((value for key, value in data.items() if key.startswith(b"BODY[")), None)
        if body is None:
            raise MessageVanished(f"uid {self.uid} is no longer in the folder")
        return bytes(body)

    def sha256(self) -> str:
        """The SHA-256 of the whole message, read in bounded chunks."""
        digest = hashlib.sha256()
        for piece in self.chunks("", _HASH_CHUNK):
            digest.update(piece)
        return digest.hexdigest()

    def chunks(self, section: str, chunk: int) -> Iterator[bytes]:
        """The section's bytes, ``chunk`` octets at a time; section "" is the whole message."""
        offset = 0
        while True:
            piece = self._body(self._fetch([f"BODY.PEEK[{section}]<{offset}.{chunk}>"]))
            if piece:
                yield piece
            if len(piece) < chunk:
                return
            offset += len(piece)
