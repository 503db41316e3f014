"""Sending queued notices through the configured SMTP relay, with the null envelope sender.

RFC 3464 / RFC 5321 §4.5.5: a delivery report is sent with ``MAIL FROM:<>`` so that, should it bounce
in turn, nothing answers it — no loops. One connection per round; an unreachable relay leaves every
notice queued for the next round and never holds up logging.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass

from ..settings import SmtpSettings
from ..store.outbox import QueuedNotice, claim, due, mark_failed, mark_sent, outbox_recipient

log = logging.getLogger("emaillog.notices")


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    error: str | None = None


def connect(settings: SmtpSettings) -> smtplib.SMTP:
    """An SMTP session, TLS verified (smtplib verifies nothing without a default context)."""
    context = ssl.create_default_context()
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            client.starttls(context=context)
    if settings.user and settings.password:
        client.login(settings.user, settings.password)
    return client


def deliver_due(account_id: int, settings: SmtpSettings, limit: int = 100) -> DeliveryReport:
    report = DeliveryReport()
    notices = due(account_id, limit)
    if not notices:
        return report
    try:
        client = connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        for notice in notices:
            mark_failed(notice, f"relay unavailable: {exc}", permanent=False)
        report.deferred, report.error = len(notices), str(exc)
        log.warning(
            "SMTP relay %s:%d unavailable, %d notice(s) stay queued: %s",
            settings.host,
            settings.port,
            len(notices),
            exc,
        )
        return report
    try:
        for notice in notices:
            _send_one(client, notice, report)
    finally:
        _quit(client)
    return report


def _send_one(client: smtplib.SMTP, notice: QueuedNotice, report: DeliveryReport) -> None:
    if not claim(notice.id):
        return  # another mailbox of the account is sending it (or sent it) since it was read
    recipient = outbox_recipient(notice.recipient)
    try:
        options = _mail_options(client, recipient, notice.raw)
        if options is None:
            # A non-ASCII local part needs SMTPUTF8 (RFC 6531); smtplib would raise on encoding it,
            # and an exception here would stop every notice queued behind this one, on every pass.
            mark_failed(notice, "the recipient's address needs SMTPUTF8, not offered by the relay", True)
            report.failed += 1
            return
        client.sendmail("", [recipient], notice.raw, mail_options=options)
    except smtplib.SMTPRecipientsRefused as exc:
        permanent = all(code >= 500 for code, _ in exc.recipients.values())
        mark_failed(notice, str(exc.recipients), permanent)
        report.failed += permanent
        report.deferred += not permanent
        return
    except (OSError, smtplib.SMTPException) as exc:
        mark_failed(notice, str(exc), permanent=False)
        report.deferred += 1
        return
    except (UnicodeError, ValueError) as exc:
        # Not the relay's fault and no better next time; raised, it would stop the notices behind.
        mark_failed(notice, f"{type(exc).__name__}: {exc}", permanent=True)
        report.failed += 1
        return
    mark_sent(notice.id)
    report.sent += 1
    log.info("notice sent to %s message_id=%s", notice.recipient, notice.message_id)


def _mail_options(client: smtplib.SMTP, recipient: str, raw: bytes) -> list[str] | None:
    """MAIL FROM options: SMTPUTF8 for a non-ASCII recipient (None when the relay lacks it), and
    BODY=8BITMIME for a notice with 8-bit bytes (a small original attached as it arrived), as
    RFC 6152 §3 asks of a client sending 8-bit data."""
    options: list[str] = []
    if not recipient.isascii():
        client.ehlo_or_helo_if_needed()
        if not client.has_extn("smtputf8"):
            return None
        options.append("SMTPUTF8")
    if not raw.isascii():
        client.ehlo_or_helo_if_needed()
        # A relay without 8BITMIME is left to take the bytes as before: nearly every relay does.
        if client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
    return options


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
