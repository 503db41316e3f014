"""Sending queued notices through the configured SMTP relay, with the null envelope sender.

RFC 3464 / RFC 5321 §4.5.5: a delivery report is sent with ``MAIL FROM:<>`` so that, should it bounce
in turn, nothing answers it — no loops. One connection per round; an unreachable relay leaves every
notice queued for the next round and never holds up logging.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass

from ..settings import SmtpSettings
from ..store.outbox import QueuedNotice, claim, due, mark_failed, mark_sent, outbox_recipient
from ..tls import tls_context, untrusted

log = logging.getLogger("emaillog.notices")


@dataclass
class DeliveryReport:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    error: str | None = None


def connect_error(settings: SmtpSettings, exc: OSError | smtplib.SMTPException) -> str:
    """Why no session could be had, in the admin's terms, naming the setting that fixes it."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return untrusted(settings.host, exc, "EMAILLOG_SMTP")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"{settings.host} refused the login of {settings.user}: {_reply(exc.smtp_code, exc.smtp_error)} "
            "(EMAILLOG_SMTP_USER, EMAILLOG_SMTP_PASSWORD)"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError) and settings.security == "starttls":
        # Never a fallback to plain text: that would hand the login to whoever answers.
        return f"{settings.host}:{settings.port} offers no STARTTLS: {exc} (EMAILLOG_SMTP_SECURITY)"
    return f"relay unavailable: {exc}"


def connect(settings: SmtpSettings) -> smtplib.SMTP:
    """An SMTP session, TLS verified, logged in when a login is configured."""
    context = tls_context(settings)
    if settings.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        if settings.security == "starttls":
            client.starttls(context=context)
        if settings.user:
            client.login(settings.user, settings.password or "")
    except BaseException:
        client.close()  # a refused STARTTLS or login would leave the connection open until collected
        raise
    return client


# A round sends no more notices once it has taken this long: a relay answering each just inside its
# timeout (a tarpit, a busy queue) held the pass for as many timeouts as notices were due, and the
# watchdog (WatchdogSec=120s) or a stop (TimeoutStopSec=90s) found a daemon that did not answer.
# The notices left wait, uncharged, for the next round.
ROUND_SECONDS = 45.0


def deliver_due(account_id: int, settings: SmtpSettings, limit: int = 100) -> DeliveryReport:
    report = DeliveryReport()
    notices = due(account_id, limit)
    if not notices:
        return report
    try:
        client = connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        report.deferred, report.error = len(notices), connect_error(settings, exc)
        for notice in notices:
            mark_failed(notice, report.error, permanent=False)
        log.warning(
            "SMTP relay %s:%d: %s; %d notice(s) stay queued",
            settings.host,
            settings.port,
            report.error,
            len(notices),
        )
        return report
    started = time.monotonic()
    try:
        for index, notice in enumerate(notices):
            if index and time.monotonic() - started > ROUND_SECONDS:
                log.info(
                    "SMTP relay %s:%d is slow; %d notice(s) wait for the next round",
                    settings.host,
                    settings.port,
                    len(notices) - index,
                )
                break
            if not _send_one(client, notice, report):
                _round_ended(settings, report, len(notices) - index - 1)
                break
    finally:
        _quit(client)
    return report


def _round_ended(settings: SmtpSettings, report: DeliveryReport, untouched: int) -> None:
    log.warning(
        "SMTP relay %s:%d: %s; %d more notice(s) wait for the next round",
        settings.host,
        settings.port,
        report.error,
        untouched,
    )


def _send_one(client: smtplib.SMTP, notice: QueuedNotice, report: DeliveryReport) -> bool:
    """Offer one notice; False when the session cannot take another (the relay hung up, timed out
    or refuses the null sender), so that the notices behind it wait, uncharged, for the next round."""
    if not claim(notice.id):
        return True  # another mailbox of the account is sending it (or sent it) since it was read
    recipient = outbox_recipient(notice.recipient)
    try:
        options = _mail_options(client, recipient, notice.raw)
        if options is None:
            # A non-ASCII local part needs SMTPUTF8 (RFC 6531); smtplib would raise on encoding it,
            # and an exception here would stop every notice queued behind this one, on every pass.
            _failed(notice, "the recipient's address needs SMTPUTF8, not offered by the relay", True, report)
            return True
        client.sendmail("", [recipient], notice.raw, mail_options=options)
    except (OSError, smtplib.SMTPException) as exc:
        error, permanent, code = _refusal(exc, recipient)
        _failed(notice, error, permanent, report)
        # Not once smtplib closed the connection (a timeout, a hang-up), nor after 421, with which the
        # relay says it is closing it (RFC 5321 §3.8), nor after a refused MAIL FROM:<>: that is the
        # relay's policy, the same for every notice, and the admin's to fix.
        going_on = client.sock is not None and code != 421 and not isinstance(exc, smtplib.SMTPSenderRefused)
        if not going_on:
            report.error = error
        return going_on
    except (UnicodeError, ValueError) as exc:
        # Not the relay's fault and no better next time; raised, it would stop the notices behind.
        _failed(notice, f"{type(exc).__name__}: {exc}", True, report)
        return True
    mark_sent(notice.id)
    report.sent += 1
    log.info("notice sent to %s message_id=%s", notice.recipient, notice.message_id)
    return True


def _failed(notice: QueuedNotice, error: str, permanent: bool, report: DeliveryReport) -> None:
    mark_failed(notice, error, permanent)
    report.failed += permanent
    report.deferred += not permanent


def _refusal(exc: OSError | smtplib.SMTPException, recipient: str) -> tuple[str, bool, int]:
    """What went wrong, in words for the outbox; whether it is final (RFC 5321 §4.2.1: a 5yz reply
    is, a 4yz one is worth another try); the reply code (0 without one)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        [(code, text)] = exc.recipients.values()
        return f"RCPT TO:<{recipient}> refused: {_reply(code, text)}", code >= 500, code
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (
            f"the relay refused MAIL FROM:<>: {_reply(exc.smtp_code, exc.smtp_error)}",
            False,
            exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        # After DATA: 554 (content refused) is final for this notice; 451 (greylisting) is not.
        words = f"the relay refused the message: {_reply(exc.smtp_code, exc.smtp_error)}"
        return words, exc.smtp_code >= 500, exc.smtp_code
    return str(exc), False, 0


def _reply(code: int, text: bytes | str) -> str:
    """An SMTP reply as the relay wrote it: "554 5.7.1 Message refused", not a tuple of bytes."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


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
