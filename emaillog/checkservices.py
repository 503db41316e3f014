"""The steps of ``emaillog check`` (check.py) beside the IMAP ones: the database and its schema, the
SMTP relay, sender authentication."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path

from .checkstep import EXIT_CONFIG, EXIT_LOGIN, EXIT_TEMPFAIL, OK, WARN, Step, StepFailed
from .databaseurl import unverified_database
from .notices.mailer import connect_error
from .settings import Settings, SmtpSettings
from .tls import tls_context


@dataclass
class ServiceSteps:
    """The steps of one settings' database, relay and sender authentication."""

    settings: Settings

    def database(self) -> tuple[str, str]:
        from peewee import DatabaseError

        from .store.db import DatabaseMissing, open_database
        from .store.schema import CURRENT_VERSION, current_version

        where = _safe_url(self.settings.database_url)
        try:
            # Read-only: a check changes nothing. Opened for writing, SQLite created an empty
            # database (and its directory) on a fresh install, left behind for the daemon.
            db = open_database(self.settings.database_url, migrate=False, read_only=True)
            version = current_version(db)
            db.close()
        except DatabaseMissing as missing:
            return _sqlite_to_create(missing.path)
        except (DatabaseError, OSError) as exc:
            raise StepFailed(
                f"cannot use {where}: {str(exc).strip().splitlines()[0]}", EXIT_TEMPFAIL
            ) from exc
        if version > CURRENT_VERSION:
            raise StepFailed(
                f"{where} is at schema {version}, newer than this emaillog ({CURRENT_VERSION}): "
                f"upgrade emaillog",
                EXIT_CONFIG,
            )
        if version < CURRENT_VERSION:
            return (
                WARN,
                f"{where} is at schema {version}; the daemon upgrades it to {CURRENT_VERSION} at start",
            )
        if unverified := unverified_database(self.settings.database_url):
            return WARN, f"{where} reachable, schema {version} (current); {unverified}"
        return OK, f"{where} reachable, schema {version} (current)"

    def smtp(self) -> tuple[str, str]:
        notices = self.settings.notices
        smtp = notices.smtp if notices else None
        if smtp is None:
            return WARN, "EMAILLOG_SMTP_HOST is not set: reps get no notice when a message is not logged"
        checked = _smtp_check(smtp)
        if not smtp.verify_tls:
            return WARN, f"{checked}; certificate NOT verified (EMAILLOG_SMTP_VERIFY_TLS=no)"
        return OK, checked

    def sender_auth(self) -> Step:
        ids = self.settings.trusted_authserv_ids
        if ids:
            return Step(
                "sender authentication", OK, f"trusting Authentication-Results from {', '.join(sorted(ids))}"
            )
        return Step(
            "sender authentication",
            WARN,
            "EMAILLOG_TRUSTED_AUTHSERV_IDS is not set: anyone who learns "
            "the logging address can write into the CRM (SPEC §12)",
        )


def _sqlite_to_create(path: Path) -> tuple[str, str]:
    """An SQLite database not there yet: fine on a fresh install, when the daemon can create it."""
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StepFailed(f"{path} cannot be created: {existing} is not a directory", EXIT_CONFIG)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StepFailed(f"{path} cannot be created: {existing} is not writable", EXIT_CONFIG)
    return WARN, f"there is no database at {path} yet: the daemon creates it at start"


def _smtp_check(smtp: SmtpSettings) -> str:
    context = tls_context(smtp)
    try:
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
            if smtp.security == "ssl"
            else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        )
    except ssl.SSLCertVerificationError as exc:
        raise StepFailed(connect_error(smtp, exc), EXIT_CONFIG) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise StepFailed(
            f"cannot reach the relay {smtp.host}:{smtp.port}: {exc} (notices will wait in the outbox)",
            EXIT_TEMPFAIL,
        ) from exc
    with client:
        try:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            words = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise StepFailed(
                f"{smtp.host} refused the login of {smtp.user}: {exc.smtp_code} {words}", EXIT_LOGIN
            ) from exc
        except (ssl.SSLCertVerificationError, smtplib.SMTPNotSupportedError) as exc:
            # No STARTTLS, or a certificate nobody vouches for: settings to change, not a passing fault.
            raise StepFailed(connect_error(smtp, exc), EXIT_CONFIG) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise StepFailed(f"{smtp.host}:{smtp.port} ({smtp.security}): {exc}", EXIT_TEMPFAIL) from exc
    login = f", logged in as {smtp.user}" if smtp.user else ", no login configured"
    return f"{smtp.host}:{smtp.port} ({smtp.security}) answers{login}"


def _safe_url(url: str) -> str:
    """The database URL without its password, in the user part or in the query (``?password=``)."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    rest, question, query = rest.partition("?")
    if "@" in rest:
        credentials, host = rest.rsplit("@", 1)
        rest = f"{credentials.split(':', 1)[0]}@{host}"
    if question:
        # libpq takes any connection keyword from the query; these two carry a secret.
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{key}{eq}***" if key.lower() in ("password", "sslpassword") else f"{key}{eq}{value}"
            for key, eq, value in pairs
        )
    return f"{scheme}://{rest}{question}{query}"
