"""Disposal over IMAP: the Processed and Error folders made when missing, and messages moved into them.

Messages leave the intake folder with one MOVE per folder for several batches (``stages.HeldMoves``),
or COPY + ``\\Deleted`` + ``UID EXPUNGE`` where the server lacks MOVE. The messages the server did
not take (another session expunged or moved them first) are read from the answer's COPYUID (UIDPLUS)
or, when a UIDPLUS server names none, from the EXPUNGE responses of a MOVE or a UID SEARCH after a
COPY: the pass records them as having left.
The rest of the Mailbox protocol is imapmailbox.ImapMailbox.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

from imapclient.exceptions import IMAPClientError

from .imapsession import ImapSession, server_words
from .imapuids import _uids_in, uid_sets
from .mailbox import FolderUnusable

log = logging.getLogger("emaillog.pass")

_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}
# How a server refuses for good (RFC 5530): the name breaks its rules, or the account may not create.
_NEVER = re.compile(r"\[(CANNOT|NOPERM)\]")
# Refusals of a MOVE or COPY that one step makes go away (_make_way): the session not yet told of an
# expunge by another session (Dovecot), and the target folder gone (RFC 3501 §6.4.7).
_RETRIED = re.compile(r"\[(EXPUNGEISSUED|TRYCREATE)\]")


class ImapDisposal(ImapSession):
    """Making the folders messages go to, and moving them there (the rest: imapmailbox.ImapMailbox)."""

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
