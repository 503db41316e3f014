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
    is reported only when it looks like a misspelt setting.
    """
    problems = []
    for name in sorted(set(written)):
        if not name.startswith("EMAILLOG_") or name in KNOWN:
            continue
        nearest = difflib.get_close_matches(name, KNOWN, n=1, cutoff=0.8)
        if nearest:
            problems.append(f"{name}: no such setting; did you mean {nearest[0]}?")
        elif not near_misses_only:
            problems.append(f"{name}: no such setting (config/emaillog.env lists them all)")
    return problems
