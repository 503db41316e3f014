"""The IMAP mailbox: one IMAP connection to the dedicated logging mailbox (imapclient).

Fetching uses ``BODY.PEEK[]`` so it never sets ``\\Seen``; what is new is decided by the ledger,
not by flags (SPEC §10). Messages leave the intake folder with one MOVE per batch, or COPY +
``\\Deleted`` + ``UID EXPUNGE`` where the server lacks MOVE.
"""

from __future__ import annotations

import hashlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import _parse_untagged_response

from .imapfetch import bodies_of
from .mailbox import (
    FolderMissing,
    FolderReadOnly,
    FolderState,
    LoginRefused,
    MailboxError,
    MessageVanished,
    Wanted,
)
from .oauth import TokenError, TokenSource
from .oauth import token_source as _token_source_for
from .settings import ImapSettings

_SIZE_LINE = re.compile(rb"(?=.*\bUID (?P<uid>\d+))(?=.*\bRFC822\.SIZE (?P<size>\d+))")


_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}
# How servers refuse to SELECT a folder that is not there: RFC 5530's [NONEXISTENT] (Dovecot, Gmail),
# or words alone (older servers, Exchange).
_NONEXISTENT = re.compile(
    r"\[NONEXISTENT\]|doesn'?t exist|does not exist|not found|unknown mailbox|no such (mailbox|folder)", re.I
)
# A Message-ID that can go into a SEARCH as it is (imapclient sends search strings as US-ASCII).
_SEARCHABLE_ID = re.compile(r"[!#-\[\]-~]{1,900}")
# How much of a message one FETCH reads while hashing it.
_HASH_CHUNK = 1024 * 1024



def tls_context(settings: ImapSettings) -> ssl.SSLContext:
    """A context that verifies the certificate and the host name (imaplib does neither by default)."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class ImapMailbox:
    def __init__(self, settings: ImapSettings, tokens: TokenSource | None = None) -> None:
        self.settings = settings
        # XOAUTH2 logins ask this for a token; the daemon passes one source in so that its cached
        # token survives reconnects.
        self.tokens = tokens if tokens is not None else _token_source(settings)
        self.client = self._connect()
        self.capabilities: frozenset[bytes] = frozenset()
        try:
            self._login()
            self._prefix = self._personal_prefix()
        except MailboxError:
            self.client.shutdown()
            raise

    def _connect(self) -> IMAPClient:
        s = self.settings
        use_ssl = s.security == "ssl"
        context = tls_context(s) if s.security != "none" else None
        try:
            client = IMAPClient(s.host, port=s.port, ssl=use_ssl, ssl_context=context, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context)
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"cannot connect to {s.host}:{s.port} ({s.security}): {exc}") from exc
        # imapclient sets imaplib's debug level to 5, which formats a repr of every fetched literal
        # even when logging is off: most of the fetch CPU. Pinned imapclient; a test guards this.
        client._imap.debug = 0
        return client

    def _login(self) -> None:
        try:
            if self.tokens is not None:
                self.client.oauth2_login(self.settings.user, self._token())
            else:
                self.client.login(self.settings.user, self.settings.password)
        except IMAPClientError as exc:
            if _connection_broke(exc):
                # A server restarting, say: nothing was refused (imapclient reports it as LoginError).
                raise MailboxError(
                    f"{self.settings.host}: connection lost during login: {_words(exc)}"
                ) from exc
            if "[UNAVAILABLE]" in str(exc).upper():
                # RFC 5530: the server cannot check credentials right now (its auth service restarting).
                raise MailboxError(
                    f"{self.settings.host} cannot log {self.settings.user} in for now: {_words(exc)}"
                ) from exc
            if self.tokens is not None:
                # A refused token may have been revoked early: the next attempt fetches a new one.
                self.tokens.invalidate()
            raise LoginRefused(
                f"{self.settings.host} refused the login of {self.settings.user}: {_words(exc)}"
            ) from exc
        except OSError as exc:
            raise MailboxError(f"{self.settings.host}: connection lost during login: {exc}") from exc
        # Dovecot (and others) announce MOVE and UIDPLUS only after authentication.
        self.capabilities = frozenset(self.client.capabilities())

    def _personal_prefix(self) -> str:
        """What the server puts before the name of every personal folder but INBOX (RFC 2342).

        "INBOX." on Courier, Cyrus and Dovecot set up like them: there, CREATE Processed fails with
        "Mailbox name should probably be prefixed with: INBOX.", and the daemon retried for ever.
        Mail clients show such folders without the prefix, as people name them in the settings.
        """
        if not self.has("NAMESPACE"):
            return ""
        try:
            personal = self.client.namespace().personal
            prefix, delimiter = (str(personal[0][0]), personal[0][1]) if personal else ("", None)
        except (IMAPClientError, OSError) as exc:
            if isinstance(exc, OSError) or _connection_broke(exc):
                raise MailboxError(f"{self.settings.host}: connection lost after login: {exc}") from exc
            return ""  # a NAMESPACE it cannot answer: the names as written
        except (ValueError, TypeError, IndexError):
            # An answer imapclient cannot unpack (RFC 2342 extension data): the names as written.
            return ""
        if prefix and delimiter and not prefix.endswith(str(delimiter)):
            prefix += str(delimiter)  # "INBOX" with "." is the same namespace as "INBOX."
        return prefix

    def on_server(self, folder: str) -> str:
        """The server's name of a folder named in the settings: the personal prefix added if needed."""
        if not self._prefix or folder.upper() == "INBOX" or folder.upper().startswith(self._prefix.upper()):
            return folder
        return self._prefix + folder

    def _token(self) -> str:
        assert self.tokens is not None
        try:
            return self.tokens.token()
        except TokenError as exc:
            raise MailboxError(f"no access token for {self.settings.user}: {exc}") from exc

    # -- IMAP IDLE (RFC 2177): the daemon's main loop waits here for new mail -------------------

    def idle_start(self) -> None:
        """Enter IDLE on the selected folder; the server then pushes EXISTS when mail arrives."""
        self.client.idle()

    def idle_wait(self, seconds: float) -> list[Any]:
        """Untagged responses pushed within ``seconds`` (an empty list when none came)."""
        # imaplib reads through a buffered file: an EXISTS that arrived in the same packet as the
        # "+ idling" continuation (or an earlier keep-alive) already sits in that buffer, where
        # idle_check's poll() on the socket cannot see it. Read it now rather than at the next packet.
        buffered = self._idle_buffered()
        if buffered:
            return buffered
        return list(self.client.idle_check(timeout=seconds))

    def _idle_buffered(self) -> list[Any]:
        sock = self.client.socket()
        reader = self.client._imap.file  # imapclient pinned: imaplib's buffered reader
        found: list[Any] = []
        sock.setblocking(False)
        try:
            while _has_buffered_line(reader):
                found.append(_parse_untagged_response(self.client._imap._get_line()))
        finally:
            sock.setblocking(True)
            self.client._set_read_timeout()
        return found

    def idle_end(self) -> None:
        """Leave IDLE (DONE); commands can be sent again. Raises if the connection is gone."""
        self.client.idle_done()

    def has(self, capability: str) -> bool:
        return capability.encode() in self.capabilities

    def ensure_folders(self, names: Iterable[str]) -> None:
        for name in names:
            if not self.folder_usable(name):
                self.client.create_folder(self.on_server(name))

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
                    f"the folder {folder} does not exist for {self.settings.user}: {_words(exc)}"
                ) from exc
            raise
        # A flag change in a read-only mailbox answers OK and changes nothing (Dovecot): refuse early.
        if b"READ-ONLY" in info:
            raise FolderReadOnly(read_only)
        return FolderState(int(info[b"UIDVALIDITY"]), int(info.get(b"EXISTS", 0)))

    def uids(self, *, deleted: bool = False) -> list[int]:
        return sorted(int(u) for u in self.client.search(["DELETED" if deleted else "UNDELETED"]))

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each message: decides which are read whole and which are streamed."""
        if not uids:
            return {}
        # A regex: imapclient's general response parser took a third of a millisecond per line here,
        # for a reply whose shape is fixed.
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), 5000):
            for line in self._uid_fetch(uids[start : start + 5000], "RFC822.SIZE"):
                found = _SIZE_LINE.search(line if isinstance(line, bytes) else b"")
                if found:
                    sizes[int(found["uid"])] = int(found["size"])
        return sizes

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        # A message expunged by another session meanwhile comes back as BODY[] NIL (Dovecot): it is
        # left out, as if it had not been listed, rather than crashing the pass.
        return bodies_of(self._uid_fetch(uids, "BODY.PEEK[]"))

    def _uid_fetch(self, uids: Sequence[int], item: str) -> list[Any]:
        """imaplib's untagged answers to ``UID FETCH uids (UID item)``, left for the caller to read.

        Through imaplib directly: imapclient's general response parser costs far more than reading
        these fixed shapes (imapfetch.py, and the regex in ``sizes``).
        """
        typ, data = self.client._imap.uid("FETCH", ",".join(map(str, uids)), f"(UID {item})")
        if typ != "OK":
            raise MailboxError(f"FETCH {item} failed: {data!r}"[:300])
        return list(data)

    def sections(self, uid: int) -> SectionReader:
        return SectionReader(self, uid)

    def move(self, uids: Sequence[int], folder: str) -> None:
        if not uids:
            return
        folder = self.on_server(folder)
        if self.has("MOVE"):
            self.client.move(list(uids), folder)
        else:
            self.client.copy(list(uids), folder)
            self.discard(uids)

    def discard(self, uids: Sequence[int]) -> None:
        """The end of a move without MOVE, once the copies are in place: flag \\Deleted and expunge."""
        if not uids:
            return
        self.client.add_flags(list(uids), [b"\\Deleted"], silent=True)
        self.expunge(uids)

    def expunge(self, uids: Sequence[int]) -> None:
        if self.has("UIDPLUS"):
            self.client.uid_expunge(list(uids))
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
                found[w.sha256] = sum(1 for uid in candidates if self.sections(int(uid)).sha256() == w.sha256)
        return found

    def message_count(self, folder: str) -> int:
        """How many messages ``folder`` holds (STATUS); 0 when it does not exist yet."""
        folder = self.on_server(folder)
        if not self.client.folder_exists(folder):
            return 0
        return int(self.client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def append(self, folder: str, raw: bytes) -> None:
        self.client.append(self.on_server(folder), raw)

    def close(self) -> None:
        try:
            self.client.logout()
        except (OSError, IMAPClientError):
            self.client.shutdown()


def _has_buffered_line(reader: Any) -> bool:
    """Whether a whole line waits in the reader's buffer (the socket must be non-blocking)."""
    try:
        return b"\n" in reader.peek(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        return False


def _token_source(settings: ImapSettings) -> TokenSource | None:
    try:
        return _token_source_for(settings)
    except TokenError as exc:
        raise MailboxError(str(exc)) from exc


def _connection_broke(exc: BaseException) -> bool:
    """The error, or one it was raised from, is the connection breaking rather than an answer."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, imaplib.IMAP4.abort | OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _criteria(wanted: Wanted) -> list[str]:
    size = ["LARGER", str(wanted.size - 1), "SMALLER", str(wanted.size + 1)]
    if wanted.message_id is not None and _SEARCHABLE_ID.fullmatch(wanted.message_id):
        return [*size, "HEADER", "Message-ID", wanted.message_id]
    return size


def _words(exc: Exception) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith("b'") else text


class SectionReader:
    """Fetches parts of one large message by section, in bounded chunks (RFC 3501 partial fetch)."""

    def __init__(self, mailbox: ImapMailbox, uid: int) -> None:
        self.client = mailbox.client
        self.uid = uid

    def structure(self) -> tuple[bytes, Any]:
        data = self._fetch(["BODYSTRUCTURE", "BODY.PEEK[HEADER]"])
        if b"BODY[HEADER]" not in data or b"BODYSTRUCTURE" not in data:
            raise MessageVanished(f"uid {self.uid} is no longer in the folder")
        return bytes(data[b"BODY[HEADER]"]), data[b"BODYSTRUCTURE"]

    def section(self, section: str) -> bytes:
        item = f"BODY[{section}]"
        data = self._fetch([f"BODY.PEEK[{section}]"])
        return bytes(data.get(item.encode(), b"") or b"")

    def _fetch(self, items: list[str]) -> Any:
        # A message expunged by another session answers with no FETCH line for its UID at all.
        data = self.client.fetch([self.uid], items)
        if self.uid not in data:
            raise MessageVanished(f"uid {self.uid} is no longer in the folder")
        return data[self.uid]

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
            data = self._fetch([f"BODY.PEEK[{section}]<{offset}.{chunk}>"])
            piece = bytes(next((v for k, v in data.items() if k.startswith(b"BODY[")), b"") or b"")
            if piece:
                yield piece
            if len(piece) < chunk:
                return
            offset += len(piece)
