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


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the certificate is trusted, but not for the name we asked.
_HOSTNAME_MISMATCH = 62


def untrusted(host: str, exc: ssl.SSLCertVerificationError, prefix: str) -> str:
    """Why the certificate of ``host`` was refused, naming the setting that fixes it (``prefix`` is
    EMAILLOG_IMAP or EMAILLOG_SMTP): another CA file does not help a certificate for another name."""
    if exc.verify_code == _HOSTNAME_MISMATCH:
        return (
            f"the certificate of {host} is not valid for that name: {exc.verify_message} "
            f"({prefix}_HOST must be a name the certificate holds)"
        )
    return (
        f"the certificate of {host} is not trusted: {exc.verify_message} "
        f"({prefix}_CA_FILE names a private CA)"
    )


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
