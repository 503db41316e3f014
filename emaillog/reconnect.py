"""What counts as a lost connection, and how long to wait before the next try (SPEC §10, §13).

A transient failure of the mailbox or the database leaves the message where it is; the daemon
reconnects with backoff and passes the folder again.
"""

from __future__ import annotations

import errno
import imaplib
import random

from imapclient.exceptions import IMAPClientError
from peewee import InterfaceError, OperationalError

from .mailbox import FolderReadOnly, FolderUnusable, LoginRefused, MailboxError, TlsRefused
from .metrics import MetricsUnavailable

# Errors that mean the connection is gone or unusable: reconnect with backoff.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    MailboxError,
    IMAPClientError,
    imaplib.IMAP4.error,
    OSError,
    EOFError,
)
DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)
# What can stop a one-shot pass or a daemon's start-up without being a bug (SPEC §13).
START_UP_FAILURES: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    OperationalError,
    MetricsUnavailable,
)

EXIT_TEMPFAIL, EXIT_LOGIN, EXIT_CONFIG = 75, 77, 78


def one_line(exc: BaseException) -> str:
    """An error's text on one log line: the PostgreSQL driver's messages span several ("\n\tIs the
    server running ..."), which journald would show as separate, unlabelled lines."""
    return " ".join(str(exc).split()) or type(exc).__name__


def start_up_failure(exc: BaseException) -> tuple[int, str]:
    """The exit code for a start-up (or one-shot) failure, and the one line that says it.

    A wrong password or token (77), a read-only or missing intake folder, a certificate not trusted
    or no STARTTLS (78) will not fix themselves, and systemd does not restart on them; anything else
    with the mailbox or the database is temporary (75).
    """
    if isinstance(exc, OperationalError):
        return EXIT_TEMPFAIL, f"database unavailable: {one_line(exc)}"
    if isinstance(exc, LoginRefused):
        return EXIT_LOGIN, str(exc)
    if isinstance(exc, FolderUnusable | TlsRefused | MetricsUnavailable):
        return EXIT_CONFIG, str(exc)
    if on_a_local_file(exc):
        return EXIT_TEMPFAIL, f"pass failed on a local file: {one_line(exc)}"
    return EXIT_TEMPFAIL, f"mailbox unavailable: {str(exc) or type(exc).__name__}"


def on_a_local_file(exc: BaseException) -> bool:
    """An OSError of a file here (a full disk, an unwritable attachments dir), not of a socket:
    what the mailbox is not to be blamed for.

    A full disk is most often met by a write, whose error names no file (an attachment spooled or
    stored on a full data dir was "mailbox unavailable"): its errno, which no socket gives, says it.
    """
    if not isinstance(exc, OSError):
        return False
    return getattr(exc, "filename", None) is not None or exc.errno in _DISK_ERRNOS


_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


class IntakeReadOnly(FolderReadOnly):
    """The intake folder can be read but not changed: a configuration problem, not a network one."""


class ConnectionLost(MailboxError):
    """The server said BYE, or the socket reached end of file, while we waited in IDLE."""


class Backoff:
    """Exponential backoff with jitter: doubling delays between ``low`` and ``high``, each drawn
    from its upper half so that many daemons cut off together do not come back together."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high, self.failures = low, high, 0

    def next_delay(self) -> float:
        ceiling = min(self.high, self.low * (2**self.failures))
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
