"""The TLS context of every server emaillog connects to (the IMAP server, the SMTP relay).

The certificate and the host name are verified (imaplib and smtplib verify nothing unless given a
context), against the system store and, when the settings name one, a private CA's certificate.
Only an admin who turns verification off gets a context that checks nothing (a warning at start).
"""

from __future__ import annotations

import ssl
from typing import Protocol


class TlsSettings(Protocol):
    """What the context reads of a server's settings (ImapSettings, SmtpSettings)."""

    @property
    def verify_tls(self) -> bool: ...
    @property
    def ca_file(self) -> str | None: ...


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
