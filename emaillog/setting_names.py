"""Every EMAILLOG_* setting there is, so that a misspelt one is reported instead of ignored.

A typo must not pass quietly: ``EMAILLOG_TRUSTED_AUTHSERV_ID`` (no S) would leave sender
authentication off (SPEC §12) while the admin believes it on. ``config/emaillog.env`` documents each
name; a unit test keeps this list, the code that reads the settings and that file in step.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Secrets may also be read from a file named by NAME_FILE.
SECRETS = (
    "EMAILLOG_IMAP_PASSWORD",
    "EMAILLOG_SMTP_PASSWORD",
    "EMAILLOG_OAUTH2_CLIENT_SECRET",
    "EMAILLOG_OAUTH2_REFRESH_TOKEN",
)

KNOWN = frozenset(
    {
        *SECRETS,
        *(name + "_FILE" for name in SECRETS),
        "EMAILLOG_ACCOUNT",
        "EMAILLOG_BATCH_SIZE",
        "EMAILLOG_BCC_ADDRESS",
        "EMAILLOG_CASE_SENSITIVE_LOCAL_PART",
        "EMAILLOG_CHAIN_FILE",
        "EMAILLOG_COMPANY_DOMAINS",
        "EMAILLOG_CREATE_COMPANIES",
        "EMAILLOG_DATABASE_URL",
        "EMAILLOG_DATA_DIR",
        "EMAILLOG_ERROR_FOLDER",
        "EMAILLOG_FORWARD_ADDRESS",
        "EMAILLOG_HAND_OVER_SECONDS",
        "EMAILLOG_HOSTNAME",
        "EMAILLOG_IDLE_RENEW_SECONDS",
        "EMAILLOG_IMAP_AUTH",
        "EMAILLOG_IMAP_CA_FILE",
        "EMAILLOG_IMAP_HOST",
        "EMAILLOG_IMAP_IDLE",
        "EMAILLOG_IMAP_PORT",
        "EMAILLOG_IMAP_SECURITY",
        "EMAILLOG_IMAP_TIMEOUT",
        "EMAILLOG_IMAP_TOKEN_COMMAND",
        "EMAILLOG_IMAP_USER",
        "EMAILLOG_IMAP_VERIFY_TLS",
        "EMAILLOG_INTAKE_FOLDER",
        "EMAILLOG_LOG_FORMAT",
        "EMAILLOG_MAILBOXES_FILE",
        "EMAILLOG_MAILBOX_NAME",
        "EMAILLOG_MAX_ATTACHMENT_MB",
        "EMAILLOG_MAX_BODY_MB",
        "EMAILLOG_MAX_MESSAGE_MB",
        "EMAILLOG_MAX_PASSES_AT_ONCE",
        "EMAILLOG_METRICS_PORT",
        "EMAILLOG_NOTICE_DAILY_LIMIT",
        "EMAILLOG_NOTICE_FROM",
        "EMAILLOG_NOTICE_ON_SKIPPED",
        "EMAILLOG_NOTICE_TEMPLATES_DIR",
        "EMAILLOG_OAUTH2_CLIENT_ID",
        "EMAILLOG_OAUTH2_PROVIDER",
        "EMAILLOG_OAUTH2_SCOPE",
        "EMAILLOG_OAUTH2_SERVICE_ACCOUNT_FILE",
        "EMAILLOG_OAUTH2_TENANT",
        "EMAILLOG_POLL_SECONDS",
        "EMAILLOG_PROCESSED_FOLDER",
        "EMAILLOG_RECONCILE_SECONDS",
        "EMAILLOG_RECONNECT_MAX_SECONDS",
        "EMAILLOG_RECONNECT_MIN_SECONDS",
        "EMAILLOG_SMTP_CA_FILE",
        "EMAILLOG_SMTP_HOST",
        "EMAILLOG_SMTP_PORT",
        "EMAILLOG_SMTP_SECURITY",
        "EMAILLOG_SMTP_USER",
        "EMAILLOG_SMTP_VERIFY_TLS",
        "EMAILLOG_TIME_ZONES",
        "EMAILLOG_TRUSTED_AUTHSERV_IDS",
    }
)


def unknown_names(written: Iterable[str], *, near_misses_only: bool = False) -> list[str]:
    """A problem for each EMAILLOG_* name in ``written`` that is no setting, naming the nearest one.

    ``near_misses_only``: for the process environment, which other programs share — a name there
    is reported only when it looks like a misspelt setting, and only under the EMAILLOG_ prefix.
    Elsewhere (the env file, a mailbox table) a name with its prefix misspelt, left out or in lower
    case (EMAILOG_IMAP_HOST, DATABASE_URL, emaillog_poll_seconds) is named too: it was skipped
    without a word, and with the host gone the demo mailbox ran instead of the company's.
    """
    problems = []
    for name in sorted(set(written)):
        if name in KNOWN:
            continue
        prefixed = name.startswith("EMAILLOG_")
        if not prefixed and near_misses_only:
            continue
        nearest = _nearest(name)
        if nearest:
            problems.append(f"{name}: no such setting; did you mean {nearest}?")
        elif prefixed and not near_misses_only:
            problems.append(f"{name}: no such setting (config/emaillog.env lists them all)")
    return problems


def _nearest(name: str) -> str | None:
    """The setting ``name`` is most likely a misspelling of, compared in upper case, or None."""
    upper = name.upper()
    if "EMAILLOG_" + upper in KNOWN:
        return "EMAILLOG_" + upper
    nearest = difflib.get_close_matches(upper, KNOWN, n=1, cutoff=0.8)
    return nearest[0] if nearest else None
