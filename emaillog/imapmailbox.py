"""The IMAP mailbox: the commands a pass sends over its logged-in connection (imapsession.py).

Fetching uses ``BODY.PEEK[]`` so it never sets ``\\Seen``; what is new is decided by the ledger,
not by flags (SPEC §10). How messages leave the intake folder, and the folders they go to, is
imapdisposal.py.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Sequence
from typing import Any

from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from .imapdisposal import ImapDisposal
from .imapfetch import bodies_of, refusal_in_bye, refused_for_good
from .imapsections import SectionReader
from .imapsession import server_words
from .imapuids import _uids_in, uid_sets
from .mailbox import (
    FetchRefused,
    FolderMissing,
    FolderReadOnly,
    FolderState,
    MailboxError,
    MessageVanished,
    Wanted,
)

_UID_ITEM = re.compile(rb"\bUID (\d+)")
_SIZE_LINE = re.compile(rb"(?=.*\bUID (?P<uid>\d+))(?=.*\bRFC822\.SIZE (?P<size>\d+))")


# How servers refuse to SELECT a folder that is not there: RFC 5530's [NONEXISTENT] (Dovecot, Gmail),
# or words alone (older servers, Exchange).
_NONEXISTENT = re.compile(
    r"\[NONEXISTENT\]|doesn'?t exist|does not exist|not found|unknown mailbox|no such (mailbox|folder)", re.I
)
# A Message-ID that can go into a SEARCH as it is (imapclient sends search strings as US-ASCII).
_SEARCHABLE_ID = re.compile(r"[!#-\[\]-~]{1,900}")
# Messages whose header fields one FETCH asks for (header_fields): their answers, held by imaplib
# until the command ends, are at most this many times the limit asked for.
HEADER_BATCH = 500


class ImapMailbox(ImapDisposal):
    """The Mailbox protocol over IMAP: folders, listing, fetching, moving, and looking for copies
    (making folders and moving messages into them: imapdisposal.ImapDisposal)."""

    _exists = 0  # how many messages the selected folder held when selected

    def select(self, folder: str) -> FolderState:
        folder = self.on_server(folder)
        read_only = f"the folder {folder} is read-only for {self.settings.user}"
        try:
            info = self.client.select_folder(folder)
        except imaplib.IMAP4.readonly as exc:  # imaplib's own reading of a [READ-ONLY] answer
            raise FolderReadOnly(read_only) from exc
        except IMAPClientError as exc:
            if _NONEXISTENT.search(str(exc)):
                raise FolderMissing(
                    f"the folder {folder} does not exist for {self.settings.user}: {server_words(exc)}"
                ) from exc
            raise
        # A flag change in a read-only mailbox answers OK and changes nothing (Dovecot): refuse early.
        if b"READ-ONLY" in info:
            raise FolderReadOnly(read_only)
        state = FolderState(int(info[b"UIDVALIDITY"]), int(info.get(b"EXISTS", 0)))
        self._exists = state.exists
        return state

    def uids(self, *, deleted: bool = False) -> list[int]:
        """The UIDs of the selected folder's messages, undeleted (or only the \\Deleted ones).

        SEARCH answers with every UID on one line, and imaplib refuses a line over 1,000,000 bytes
        (its _MAXLINE): an intake folder of 160,000 messages failed every pass ("got more than
        1000000 bytes"). A folder that large is searched a range of UIDs at a time.
        """
        criteria = ["DELETED" if deleted else "UNDELETED"]
        span = getattr(imaplib, "_MAXLINE", 1_000_000) // 12  # UIDs of up to ten digits and a space
        if self._exists <= span:
            return sorted(int(u) for u in self.client.search(criteria))
        lowest, highest = self._uid_bounds()
        found: set[int] = set()
        for start in range(lowest, highest + 1, span):
            # The last range open-ended: mail that came in meanwhile is listed too.
            end = "*" if start + span > highest else str(start + span - 1)
            found.update(int(u) for u in self.client.search(["UID", f"{start}:{end}", *criteria]))
        return sorted(found)

    def _uid_bounds(self) -> tuple[int, int]:
        """The UIDs of the selected folder's first and last messages (by sequence number)."""
        typ, data = self.client._imap.fetch("1,*", "(UID)")
        uids = [int(m[1]) for line in data if isinstance(line, bytes) and (m := _UID_ITEM.search(line))]
        if typ != "OK" or not uids:
            raise MailboxError(f"FETCH 1,* (UID) failed: {data!r}"[:300])
        return min(uids), max(uids)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each message: decides which are read whole and which are streamed."""
        if not uids:
            return {}
        # A regex: imapclient's general response parser took a third of a millisecond per line here,
        # for a reply whose shape is fixed.
        # At most 5000 answers a command, however short its ranges: imaplib holds them all until the end.
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), 5000):
            for uid_set in uid_sets(uids[start : start + 5000]):
                for line in self._uid_fetch(uid_set, "RFC822.SIZE"):
                    found = _SIZE_LINE.search(line if isinstance(line, bytes) else b"")
                    if found:
                        sizes[int(found["uid"])] = int(found["size"])
        return sizes

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        # A message expunged by another session meanwhile comes back as BODY[] NIL (Dovecot): it is
        # left out, as if it had not been listed, rather than crashing the pass.
        bodies: dict[int, bytes] = {}
        for uid_set in uid_sets(uids):
            bodies.update(bodies_of(self._uid_fetch(uid_set, "BODY.PEEK[]")))
        return bodies

    def header_fields(self, uids: Sequence[int], names: Sequence[str], limit: int) -> dict[int, bytes]:
        """The fields ``names`` of each message's header section, at most their first ``limit`` bytes
        (with the blank line that ends them), never its body; a message expunged meanwhile is left out.

        A bounded number of messages a command: imaplib holds a command's answers until its end.
        """
        item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(names)})]<0.{limit}>"
        found: dict[int, bytes] = {}
        for start in range(0, len(uids), HEADER_BATCH):
            for uid_set in uid_sets(uids[start : start + HEADER_BATCH]):
                parsed = parse_fetch_response(self._uid_fetch(uid_set, item), uid_is_key=True)
                for uid, items in parsed.items():
                    # Answered as BODY[HEADER.FIELDS (...)]<0>, names as the server spells them.
                    value = next((v for k, v in items.items() if bytes(k).startswith(b"BODY[HEADER")), None)
                    if isinstance(value, bytes):  # NIL: expunged by another session since listed
                        found[int(uid)] = value
        return found

    def _uid_fetch(self, uid_set: str, item: str) -> list[Any]:
        """imaplib's untagged answers to ``UID FETCH uid_set (UID item)``, left for the caller to read.

        Through imaplib directly: imapclient's general response parser costs far more than reading
        these fixed shapes (imapfetch.py, and the regex in ``sizes``).
        """
        imap = self.client._imap
        try:
            typ, data = imap.uid("FETCH", uid_set, f"(UID {item})")
        except imaplib.IMAP4.abort as exc:
            words = refusal_in_bye(imap)
            if words is None:
                raise
            raise FetchRefused(
                f"the server ended the connection on FETCH {item} of uids {uid_set}: {words}",
                _uids_in(uid_set),
            ) from exc
        if typ != "OK":
            words = " ".join(d.decode(errors="replace") for d in data if isinstance(d, bytes))
            if refused_for_good(words):
                raise FetchRefused(
                    f"the server refused FETCH {item} of uids {uid_set}: {words}"[:300], _uids_in(uid_set)
                )
            raise MailboxError(f"FETCH {item} failed: {data!r}"[:300])
        return list(data)

    def sections(self, uid: int) -> SectionReader:
        return SectionReader(self, uid)

    def copies_in(self, folder: str, wanted: Sequence[Wanted]) -> dict[str, int]:
        """How many messages of ``folder`` hold each wanted message's exact bytes, by SHA-256.

        For a move without MOVE that was cut short: whether its COPY went through is only known by
        looking. The server narrows the search (exact size, and the Message-ID when there is one);
        the bytes decide, so a different message of the same size and Message-ID never counts.
        ``folder`` is left selected read-only: the caller selects its own folder again.
        """
        self.client.select_folder(self.on_server(folder), readonly=True)
        found: dict[str, int] = {}
        for w in wanted:
            if w.sha256 not in found:
                candidates = self.client.search(_criteria(w))
                found[w.sha256] = sum(1 for uid in candidates if self._sha256(int(uid)) == w.sha256)
        return found

    def _sha256(self, uid: int) -> str | None:
        """The SHA-256 of a message of the selected folder; None if another session expunged it."""
        try:
            return self.sections(uid).sha256()
        except MessageVanished:
            return None

    def message_count(self, folder: str) -> int:
        """How many messages ``folder`` holds (STATUS); 0 when it does not exist yet."""
        folder = self.on_server(folder)
        if not self.client.folder_exists(folder):
            return 0
        return int(self.client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def append(self, folder: str, raw: bytes) -> None:
        self.client.append(self.on_server(folder), raw)


def _criteria(wanted: Wanted) -> list[str]:
    size = ["LARGER", str(wanted.size - 1), "SMALLER", str(wanted.size + 1)]
    if wanted.message_id is not None and _SEARCHABLE_ID.fullmatch(wanted.message_id):
        return [*size, "HEADER", "Message-ID", wanted.message_id]
    return size
