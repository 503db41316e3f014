"""What a pass relies on from a mailbox: the ``Mailbox`` protocol, its values, and what can go wrong.

poll.py, batch.py and fallback.py work through this protocol alone: the daemon hands a pass its
StoppableMailbox (stoppable.py), a one-shot run an ImapMailbox. The errors say by their type whether
retrying can help (SPEC §13: a refused login exits 77, an unusable folder 78, anything else 75).
The IMAP implementation is in imapmailbox.py, moving messages out in imapdisposal.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .imapsections import SectionReader


class MailboxError(Exception):
    """The server refused or could not do what we asked; the message says what and where."""


class FolderUnusable(MailboxError):
    """A folder as configured cannot be worked: a configuration problem, not a network one (78)."""


class FolderReadOnly(FolderUnusable):
    """A folder we must change can only be read."""


class FolderMissing(FolderUnusable):
    """The intake folder does not exist (a mistyped name, or a server that wants a prefix)."""


class TlsRefused(MailboxError):
    """The server's certificate is not trusted, or it offers no STARTTLS: nothing is sent, the login
    least of all. The admin must look (a private CA, the host name, EMAILLOG_IMAP_SECURITY), or
    someone is in between: 78 at start-up, as ``emaillog check`` says too."""


class LoginRefused(MailboxError):
    """The server refused our credentials (exit 77 at start-up)."""


class FetchRefused(MailboxError):
    """The server would not hand over these messages: it answered their FETCH with NO, or ended the
    connection with a BYE naming the FETCH (Dovecot, for a mail file it cannot read).

    Still a MailboxError (the pass ends, and after a BYE the connection is gone), but one that says
    which messages: the pass counts it against them, so that the one at fault goes to Error after
    its attempts (SPEC §10) instead of failing every pass of the mailbox for ever.
    """

    def __init__(self, message: str, uids: Sequence[int]) -> None:
        super().__init__(message)
        self.uids = tuple(uids)

    def __reduce__(self) -> tuple[type[FetchRefused], tuple[str, tuple[int, ...]]]:
        return (FetchRefused, (str(self), self.uids))  # pickled whole: its __init__ takes two arguments


class MessageVanished(Exception):
    """The message left the folder (a person moved or expunged it) after the pass listed it.

    Not a MailboxError: the connection is fine and so are the other messages of the batch.
    """


@dataclass(frozen=True, slots=True)
class Wanted:
    """A message looked for in another folder: its bytes' SHA-256, its size and its Message-ID."""

    sha256: str
    size: int
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    exists: int


class Mailbox(Protocol):
    def ensure_folders(self, names: Iterable[str]) -> None: ...
    def select(self, folder: str) -> FolderState: ...
    def uids(self, *, deleted: bool = False) -> list[int]: ...
    def sizes(self, uids: Sequence[int]) -> dict[int, int]: ...
    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]: ...
    def sections(self, uid: int) -> SectionReader: ...
    def move(self, uids: Sequence[int], folder: str) -> frozenset[int]: ...
    def discard(self, uids: Sequence[int]) -> None: ...
    def expunge(self, uids: Sequence[int]) -> None: ...
    def has(self, capability: str) -> bool: ...
    def copies_in(self, folder: str, wanted: Sequence[Wanted]) -> dict[str, int]: ...
    def close(self) -> None: ...
