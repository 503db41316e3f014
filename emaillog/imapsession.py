"""One logged-in IMAP connection (imapclient): TLS, login, the personal namespace, IDLE, logout.

This is the connection, not what is done with messages (imapmailbox.py, imapdisposal.py). What it
settles holds for every command: the certificate and the host name are verified; a failed login is a refusal
(LoginRefused, exit 77) only when the server refused, not when the line dropped or the server said
it cannot for now ([UNAVAILABLE], [LIMIT]: RFC 5530); folder names from the settings get the
server's personal prefix (RFC 2342); and IDLE (RFC 2177) also sees what imaplib has already buffered.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import _parse_untagged_response

from .mailbox import LoginRefused, MailboxError, TlsRefused
from .oauth import TokenError, TokenSource
from .oauth import token_source as _token_source_for
from .settings import ImapSettings
from .tls import tls_context, untrusted

_PREFIX = "EMAILLOG_IMAP"  # the settings named in TLS problems

# A login the server cannot serve for now, which a later attempt may get (RFC 5530): its auth service
# is down ([UNAVAILABLE]), or the user has too many connections open, which mail clients on people's
# phones and desktops use up: Dovecot's mail_max_userip_connections ([LIMIT]; older versions said
# [UNAVAILABLE]), Gmail's 15 ("[ALERT] Too many simultaneous connections"). Taken for refusals, these exited
# 77, which systemd does not restart: the mailbox stayed unlogged after the phones let go.
_NOT_NOW = re.compile(r"\[(UNAVAILABLE|LIMIT|INUSE|SERVERBUG)\]|too many simultaneous connections", re.I)


class ImapSession:
    """A connection logged in to the mailbox's account; ImapMailbox adds the commands on messages."""

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
        except ssl.SSLCertVerificationError as exc:
            raise TlsRefused(
                f"cannot connect to {s.host}:{s.port} ({s.security}): {untrusted(s.host, exc, _PREFIX)}"
            ) from exc
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"cannot connect to {s.host}:{s.port} ({s.security}): {exc}") from exc
        if s.security == "starttls":
            _start_tls(client, s, context)
        # imapclient sets imaplib's debug level to 5, which formats a repr of every fetched literal
        # even when logging is off: most of the fetch CPU. Pinned imapclient; a test guards this.
        client._imap.debug = 0
        return client

    def _login(self) -> None:
        try:
            if self.tokens is not None:
                self.client.oauth2_login(self.settings.user, self._token())
            else:
                self._password_login()
        except IMAPClientError as exc:
            if _connection_broke(exc):
                # A server restarting, say: nothing was refused (imapclient reports it as LoginError).
                raise MailboxError(
                    f"{self.settings.host}: connection lost during login: {server_words(exc)}"
                ) from exc
            if _NOT_NOW.search(str(exc)):
                raise MailboxError(
                    f"{self.settings.host} cannot log {self.settings.user} in for now: {server_words(exc)}"
                ) from exc
            if self.tokens is not None:
                # A refused token may have been revoked early: the next attempt fetches a new one.
                self.tokens.invalidate()
            raise LoginRefused(
                f"{self.settings.host} refused the login of {self.settings.user}: {server_words(exc)}"
            ) from exc
        except OSError as exc:
            raise MailboxError(f"{self.settings.host}: connection lost during login: {exc}") from exc
        # Dovecot (and others) announce MOVE and UIDPLUS only after authentication.
        self.capabilities = frozenset(self.client.capabilities())

    def _password_login(self) -> None:
        """LOGIN, or SASL PLAIN for a user or password that is not ASCII: imaplib sends LOGIN's
        arguments as ASCII (a "Passwört" was a UnicodeEncodeError traceback, exit 1, restarted for
        ever), while PLAIN carries UTF-8 (RFC 4616). A server without PLAIN refuses it in words."""
        user, password = self.settings.user, self.settings.password
        if user.isascii() and password.isascii():
            self.client.login(user, password)
        else:
            self.client.plain_login(user, password)

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

    def close(self) -> None:
        try:
            self.client.logout()
        except (OSError, IMAPClientError):
            self.client.shutdown()


def _start_tls(client: IMAPClient, s: ImapSettings, context: ssl.SSLContext | None) -> None:
    """STARTTLS, or no login at all: a server (or someone in between) that does not offer it or
    refuses it gets nothing in clear."""
    where = f"{s.host}:{s.port} (starttls)"
    try:
        client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        client.shutdown()
        raise TlsRefused(f"cannot connect to {where}: {untrusted(s.host, exc, _PREFIX)}") from exc
    except (OSError, imaplib.IMAP4.abort) as exc:
        client.shutdown()
        raise MailboxError(f"cannot connect to {where}: {exc}") from exc
    except IMAPClientError as exc:
        client.shutdown()
        raise TlsRefused(
            f"{where} offers no STARTTLS ({server_words(exc)}): the login is not sent in clear "
            "(EMAILLOG_IMAP_SECURITY=ssl for port 993?)"
        ) from exc


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


def server_words(exc: Exception) -> str:
    """The text of an imapclient error, without the b'...' it keeps around the server's bytes."""
    text = str(exc)
    return text[2:-1] if text.startswith("b'") else text
