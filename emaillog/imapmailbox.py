"""The IMAP mailbox: the commands a pass sends over its logged-in connection (imapsession.py).

Fetching uses ``BODY.PEEK[]`` so it never sets ``\\Seen``; what is new is decided by the ledger,
not by flags (SPEC §10). Messages leave the intake folder with one MOVE per batch, or COPY +
``\\Deleted`` + ``UID EXPUNGE`` where the server lacks MOVE.
"""

from __future__ import annotations

import imaplib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from .imapfetch import bodies_of, refusal_in_bye, refused_for_good
from .imapsections import SectionReader
from .imapsession import ImapSession, server_words
from .mailbox import (
    FetchRefused,
    FolderMissing,
    FolderReadOnly,
    FolderState,
    FolderUnusable,
    MailboxError,
    MessageVanished,
    Wanted,
)

log = logging.getLogger("emaillog.pass")

_UID_ITEM = re.compile(rb"\bUID (\d+)")
_SIZE_LINE = re.compile(rb"(?=.*\bUID (?P<uid>\d+))(?=.*\bRFC822\.SIZE (?P<size>\d+))")


_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}
# How servers refuse to SELECT a folder that is not there: RFC 5530's [NONEXISTENT] (Dovecot, Gmail),
# or words alone (older servers, Exchange).
_NONEXISTENT = re.compile(
    r"\[NONEXISTENT\]|doesn'?t exist|does not exist|not found|unknown mailbox|no such (mailbox|folder)", re.I
)
# How a server refuses for good (RFC 5530): the name breaks its rules, or the account may not create.
_NEVER = re.compile(r"\[(CANNOT|NOPERM)\]")
# Refusals of a MOVE or COPY that one step makes go away (_make_way): the session not yet told of an
# expunge by another session (Dovecot), and the target folder gone (RFC 3501 §6.4.7).
_RETRIED = re.compile(r"\[(EXPUNGEISSUED|TRYCREATE)\]")
# A Message-ID that can go into a SEARCH as it is (imapclient sends search strings as US-ASCII).
_SEARCHABLE_ID = re.compile(r"[!#-\[\]-~]{1,900}")
# The longest UID set one command carries. Servers refuse a longer command line than theirs ("BAD
# Too long argument"): Dovecot's is 64 kB, others' are smaller, and RFC 7162 §4 asks clients to
# stay under about 8 kB. A backlog of 2000 messages listed one by one (12 kB of UIDs) failed every
# pass on such a server; written as ranges and cut here, any list fits, room left for a folder name.
MAX_UID_SET = 4000
# Messages whose header fields one FETCH asks for (header_fields): their answers, held by imaplib
# until the command ends, are at most this many times the limit asked for.
HEADER_BATCH = 500


class ImapMailbox(ImapSession):
    """The Mailbox protocol over IMAP: folders, listing, fetching, moving, and looking for copies."""

    _exists = 0  # how many messages the selected folder held when selected

    def ensure_folders(self, names: Iterable[str]) -> None:
        """Create each folder that is not there. FolderUnusable (78) when the server says it never will."""
        for name in names:
            if not self.folder_usable(name):
                self._create(self.on_server(name))

    def _create(self, folder: str) -> None:
        try:
            self.client.create_folder(folder)
        except IMAPClientError as exc:
            if not _NEVER.search(str(exc)):
                raise
            # A name the server does not take ("Processed.2024" where '.' cannot be in a name, a '/'
            # where '.' separates levels): the same at every pass, so not retried as a lost line.
            raise FolderUnusable(
                f"the server will not create the folder {folder} for {self.settings.user}: "
                f"{server_words(exc)} (folder levels are separated by {self._separator()!r} on it)"
            ) from exc

    def _separator(self) -> str:
        """The server's hierarchy separator: LIST "" "" answers with it alone (RFC 3501 §6.3.8)."""
        listed = self.client.list_folders("", "")
        separator = listed[0][1] if listed else None
        return separator.decode() if isinstance(separator, bytes) else str(separator or "")

    def folder_usable(self, name: str) -> bool:
        """Whether ``name`` exists as a folder that can hold messages.

        A folder listed ``\\Noselect`` (a parent a person made by creating ``Processed/2024`` first)
        or ``\\NonExistent`` (RFC 5258) exists only as a name: a MOVE into it fails with [TRYCREATE]
        on every pass. Dovecot turns such a name into a real folder on CREATE.
        """
        listed = self.client.list_folders("", self.on_server(name))
        return bool(listed) and not {bytes(f).lower() for f in listed[0][0]} & _NOT_SELECTABLE

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

    def move(self, uids: Sequence[int], folder: str) -> frozenset[int]:
        """Move the messages; returns those that were no longer there to move (another mail client
        expunged or moved them after the pass listed them), as far as the server tells."""
        if not uids:
            return frozenset()
        folder = self.on_server(folder)
        gone: set[int] = set()
        for uid_set in uid_sets(uids):
            if self.has("MOVE"):
                gone |= self._into(self.client.move, uid_set, folder, self._none_moved)
            else:
                gone |= self._into(self.client.copy, uid_set, folder, self._not_here)
                self.client.add_flags(uid_set, [b"\\Deleted"], silent=True)
                self._expunge(uid_set)
        return frozenset(gone)

    def _into(
        self,
        command: Callable[[str, str], object],
        uid_set: str,
        folder: str,
        unnamed: Callable[[str, int], set[int]],
    ) -> set[int]:
        """UID MOVE or UID COPY; the UIDs of ``uid_set`` it did not take, by the COPYUID of its
        answer (UIDPLUS), or by ``unnamed`` when a server with UIDPLUS named none. Dovecot answers
        both alike.

        A UID expunged by another session is skipped without a word once this session was told of
        the expunge; until then Dovecot refuses the whole command with NO [EXPUNGEISSUED], which
        failed the pass. Told (NOOP), the command goes through for the others. A folder a person
        deleted during the pass is refused with [TRYCREATE]: created again, the command is retried
        (the pass failed, and the daemon said "mailbox connection lost").
        """
        answers = self.client._imap.untagged_responses
        retried: set[str] = set()
        while True:
            answers.pop("COPYUID", None)
            answers.pop("EXPUNGE", None)  # counted by _none_moved: this command's own only
            try:
                command(uid_set, folder)
                break
            except IMAPClientError as exc:
                code = _RETRIED.search(str(exc))
                if code is None or code[1] in retried:
                    raise
                retried.add(code[1])
                self._make_way(code[1], uid_set, folder)
        copied = [bytes(a).split() for a in answers.pop("COPYUID", None) or []]
        if not copied:
            # A server without UIDPLUS never names its copies: all taken as moved. Dovecot, which
            # has it, names none when every UID was gone ("OK No messages found").
            if not self.has("UIDPLUS"):
                return set()
            return unnamed(uid_set, len(answers.pop("EXPUNGE", None) or []))
        moved = {uid for words in copied if len(words) == 3 for uid in _uids_in(words[1].decode())}
        return set(_uids_in(uid_set)) - moved

    def _none_moved(self, uid_set: str, expunged: int) -> set[int]:
        """The UIDs a MOVE answered without COPYUID did not take: all of them, unless it expunged
        some (RFC 6851 §3.3: a MOVE tells of each message it took away with an EXPUNGE). A server
        may leave COPYUID out when the folder's UIDs are not sticky (RFC 4315): not "left" then."""
        return set() if expunged else set(_uids_in(uid_set))

    def _not_here(self, uid_set: str, expunged: int) -> set[int]:
        """The UIDs a COPY answered without COPYUID did not take: those no longer in the folder (a
        COPY leaves its originals; one whose UIDs are not sticky names none yet copied them all)."""
        there = {int(u) for u in self.client.search(["UID", uid_set])}
        return set(_uids_in(uid_set)) - there

    def _make_way(self, code: str, uid_set: str, folder: str) -> None:
        """What lets a MOVE or COPY refused with ``code`` go through when sent again."""
        if code == "EXPUNGEISSUED":
            self.client.noop()  # the session is told of the expunges
            return
        log.warning(
            "the folder %s is gone from %s for %s (a person or another mail client deleted it during "
            "the pass): creating it again, then moving uids %s into it",
            folder,
            self.settings.host,
            self.settings.user,
            uid_set,
        )
        if not self.folder_usable(folder):  # unless someone made it again meanwhile
            self._create(folder)

    def discard(self, uids: Sequence[int]) -> None:
        """The end of a move without MOVE, once the copies are in place: flag \\Deleted and expunge."""
        for uid_set in uid_sets(uids):
            self.client.add_flags(uid_set, [b"\\Deleted"], silent=True)
            self._expunge(uid_set)

    def expunge(self, uids: Sequence[int]) -> None:
        for uid_set in uid_sets(uids):
            self._expunge(uid_set)

    def _expunge(self, uid_set: str) -> None:
        if self.has("UIDPLUS"):
            self.client.uid_expunge(uid_set)
        else:
            self.client.expunge()

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


def uid_sets(uids: Iterable[int], limit: int = MAX_UID_SET) -> Iterator[str]:
    """The UIDs as IMAP sequence sets of at most ``limit`` characters, runs as ranges ("3:7,9,12:40").

    A range names exactly the UIDs given: every UID between its ends is one of them.
    """
    pieces: list[str] = []
    used = 0
    for piece in _pieces(sorted(set(uids)), limit):
        if pieces and used + 1 + len(piece) > limit:
            yield ",".join(pieces)
            pieces, used = [], 0
        used += len(piece) + (1 if pieces else 0)
        pieces.append(piece)
    if pieces:
        yield ",".join(pieces)


def _pieces(uids: list[int], limit: int) -> Iterator[str]:
    """Each run as a range, or UID by UID when its range is longer than ``limit`` ("100000:100001"
    is 13 characters: a set of at most 12 went over its limit)."""
    for first, last in _runs(uids):
        piece = str(first) if first == last else f"{first}:{last}"
        if len(piece) <= limit:
            yield piece
        else:
            yield from map(str, range(first, last + 1))


def _uids_in(uid_set: str) -> list[int]:
    """The UIDs an ``uid_sets`` set names (its ranges name exactly the UIDs given)."""
    uids: list[int] = []
    for piece in uid_set.split(","):
        first, _, last = piece.partition(":")
        low, high = sorted((int(first), int(last or first)))  # a server may write a range high:low
        uids.extend(range(low, high + 1))
    return uids


def _runs(uids: list[int]) -> Iterator[tuple[int, int]]:
    """The runs of consecutive numbers in a sorted list, as (first, last)."""
    start = 0
    for i in range(1, len(uids) + 1):
        if i == len(uids) or uids[i] != uids[i - 1] + 1:
            yield uids[start], uids[i - 1]
            start = i


def _criteria(wanted: Wanted) -> list[str]:
    size = ["LARGER", str(wanted.size - 1), "SMALLER", str(wanted.size + 1)]
    if wanted.message_id is not None and _SEARCHABLE_ID.fullmatch(wanted.message_id):
        return [*size, "HEADER", "Message-ID", wanted.message_id]
    return size
