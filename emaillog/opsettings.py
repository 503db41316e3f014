"""The settings of running it: IDLE, reconnects, logs, metrics, OAuth2 (issue 5)."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field

from .envreader import Reader

AUTH_MODES = ("password", "xoauth2")
OAUTH2_PROVIDERS = ("microsoft", "google")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class OAuth2Settings:
    """An OAuth2 client that fetches IMAP access tokens itself (Microsoft 365 or Google Workspace)."""

    provider: str
    client_id: str
    client_secret: str = field(repr=False, default="")
    tenant: str = ""
    service_account_file: str = ""
    refresh_token: str = field(repr=False, default="")
    scope: str = ""


@dataclass(frozen=True)
class OpsSettings:
    """How the daemon waits for mail, reconnects, logs and reports."""

    idle: bool = True
    idle_renew_seconds: int = 1440
    reconcile_seconds: int = 300
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 300.0
    # A fleet gives back the lease of a mailbox it has not reached for this long, and leaves it
    # for as long, so that a process on another machine (another network path) may work it.
    hand_over_seconds: int = 300
    # A fleet runs at most this many passes at once (passslots.py): a backlog in every mailbox
    # after an outage must not take the memory and database sessions of as many passes.
    max_passes_at_once: int = 4
    log_format: str = "text"
    metrics_port: int | None = None


def read_ops(r: Reader) -> OpsSettings:
    # RFC 2177: servers may drop a client idle for 30 minutes, so IDLE is re-issued well before.
    renew = r.number("EMAILLOG_IDLE_RENEW_SECONDS", 1440, minimum=1)
    if renew > 1500:
        r.problems.append(
            f"EMAILLOG_IDLE_RENEW_SECONDS: {renew} is above 1500 (servers drop idle clients at 30 min)"
        )
    reconcile = r.number("EMAILLOG_RECONCILE_SECONDS", 300, minimum=1)
    if reconcile > 300:
        r.problems.append(f"EMAILLOG_RECONCILE_SECONDS: {reconcile} is above 300")
    low = r.number("EMAILLOG_RECONNECT_MIN_SECONDS", 1)
    high = r.number("EMAILLOG_RECONNECT_MAX_SECONDS", 300)
    if high < low:
        r.problems.append("EMAILLOG_RECONNECT_MAX_SECONDS must not be below EMAILLOG_RECONNECT_MIN_SECONDS")
    port = r.port("EMAILLOG_METRICS_PORT", 0, minimum=0)
    hand_over = r.number("EMAILLOG_HAND_OVER_SECONDS", 300, minimum=1)
    passes = r.number("EMAILLOG_MAX_PASSES_AT_ONCE", 4, minimum=1)
    return OpsSettings(
        idle=r.flag("EMAILLOG_IMAP_IDLE", True),
        idle_renew_seconds=renew,
        reconcile_seconds=reconcile,
        reconnect_min_seconds=float(low),
        reconnect_max_seconds=float(high),
        hand_over_seconds=hand_over,
        max_passes_at_once=passes,
        log_format=r.choice("EMAILLOG_LOG_FORMAT", "text", LOG_FORMATS),
        metrics_port=port or None,
    )


def read_token_source(r: Reader, auth: str) -> tuple[str | None, OAuth2Settings | None]:
    command = r.text("EMAILLOG_IMAP_TOKEN_COMMAND") or None
    provider = r.text("EMAILLOG_OAUTH2_PROVIDER").lower()
    oauth2 = None
    if provider:
        if provider not in OAUTH2_PROVIDERS:
            r.problems.append(
                f"EMAILLOG_OAUTH2_PROVIDER: {provider!r} is not one of {', '.join(OAUTH2_PROVIDERS)}"
            )
        oauth2 = OAuth2Settings(
            provider=provider,
            client_id=r.text("EMAILLOG_OAUTH2_CLIENT_ID"),
            client_secret=r.secret("EMAILLOG_OAUTH2_CLIENT_SECRET"),
            tenant=r.text("EMAILLOG_OAUTH2_TENANT"),
            service_account_file=r.existing_file("EMAILLOG_OAUTH2_SERVICE_ACCOUNT_FILE"),
            refresh_token=r.secret("EMAILLOG_OAUTH2_REFRESH_TOKEN"),
            scope=r.text("EMAILLOG_OAUTH2_SCOPE"),
        )
        if auth == "xoauth2":
            r.problems.extend(_missing_oauth2(oauth2))
    if auth == "xoauth2" and not command and oauth2 is None:
        r.problems.append(
            "EMAILLOG_IMAP_AUTH=xoauth2 needs EMAILLOG_IMAP_TOKEN_COMMAND or EMAILLOG_OAUTH2_PROVIDER"
        )
    if auth == "xoauth2" and command and oauth2 is not None:
        r.problems.append("EMAILLOG_IMAP_TOKEN_COMMAND and EMAILLOG_OAUTH2_PROVIDER: set one, not both")
    if auth == "xoauth2" and command:
        r.problems.extend(_unrunnable(command))
    return command, oauth2


def _unrunnable(command: str) -> list[str]:
    """Why the token command cannot run, as oauth.CommandToken runs it (shlex words, no shell): a
    program not there failed the first login with 75, which systemd restarts for ever."""
    try:
        words = shlex.split(command)
    except ValueError as exc:  # a quote not closed: a ValueError traceback at the first login
        return [f"EMAILLOG_IMAP_TOKEN_COMMAND: cannot be split into words ({exc})"]
    if not words or not words[0]:
        return ["EMAILLOG_IMAP_TOKEN_COMMAND: names no program"]
    program = words[0]
    if os.sep in program:
        runnable = os.path.isfile(program) and os.access(program, os.X_OK)
    else:
        runnable = shutil.which(program) is not None
    if runnable:
        return []
    why = "not found or not executable"
    return [f"EMAILLOG_IMAP_TOKEN_COMMAND: {program} is not a program that can be run ({why})"]


def _missing_oauth2(oauth2: OAuth2Settings) -> list[str]:
    """What the provider's client cannot do without: msal raised a ValueError traceback for a missing
    tenant at the first login, after the lease and database were taken."""
    if oauth2.provider == "microsoft":
        needed = {
            "EMAILLOG_OAUTH2_TENANT": oauth2.tenant,
            "EMAILLOG_OAUTH2_CLIENT_ID": oauth2.client_id,
            "EMAILLOG_OAUTH2_CLIENT_SECRET": oauth2.client_secret,
        }
    elif oauth2.provider == "google" and not oauth2.service_account_file:
        needed = {
            "EMAILLOG_OAUTH2_CLIENT_ID": oauth2.client_id,
            "EMAILLOG_OAUTH2_CLIENT_SECRET": oauth2.client_secret,
            "EMAILLOG_OAUTH2_REFRESH_TOKEN": oauth2.refresh_token,
        }
    else:
        return []
    how = " (or EMAILLOG_OAUTH2_SERVICE_ACCOUNT_FILE)" if oauth2.provider == "google" else ""
    return [
        f"{name}: required with EMAILLOG_OAUTH2_PROVIDER={oauth2.provider}{how}"
        for name, value in needed.items()
        if not value
    ]
