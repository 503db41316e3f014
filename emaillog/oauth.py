"""Access tokens for XOAUTH2 logins: from a command, Microsoft 365 (msal) or Google Workspace (google-auth).

A token source is asked for a token before every login. It caches the token and fetches a new one
before the old one expires (``REFRESH_MARGIN`` ahead), or at once after the server refused it. The
daemon also reads ``expires_at`` to log in again before a long-lived connection outlives its token.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from .settings import ImapSettings, OAuth2Settings

log = logging.getLogger("emaillog.oauth")

# Fetch a new token this long before the old one expires.
REFRESH_MARGIN = 300.0
# A command that prints a bare token says nothing about its lifetime: assume Microsoft's and Google's
# one hour, less the margin, so it is run again after 45 minutes at most.
COMMAND_TOKEN_LIFETIME = 3000.0
COMMAND_TIMEOUT = 60.0
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, not a secret


class TokenError(Exception):
    """No access token could be had; the message says why (never the token itself)."""


class TokenSource(Protocol):
    def token(self) -> str: ...
    def invalidate(self) -> None: ...
    @property
    def expires_at(self) -> float | None: ...


@dataclass
class _Cached:
    value: str
    expires_at: float  # time.time()


class _CachingSource:
    """Shared caching: subclasses implement ``_fetch`` returning (token, seconds it lives)."""

    def __init__(self) -> None:
        self._cached: _Cached | None = None

    @property
    def expires_at(self) -> float | None:
        return self._cached.expires_at if self._cached else None

    def token(self) -> str:
        now = time.time()
        if self._cached is None or self._cached.expires_at - REFRESH_MARGIN <= now:
            value, lifetime = self._fetch()
            self._cached = _Cached(value, now + lifetime)
            log.info("new IMAP access token, valid for %d s", lifetime)
        return self._cached.value

    def invalidate(self) -> None:
        self._cached = None

    def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError


class CommandToken(_CachingSource):
    """``EMAILLOG_IMAP_TOKEN_COMMAND``: its standard output is the token.

    The output may also be a JSON object with ``access_token`` and ``expires_in`` (what most token
    endpoints and helper scripts print), which gives the real lifetime.
    """

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def _fetch(self) -> tuple[str, float]:
        try:
            done = subprocess.run(  # noqa: S603 - the admin's own configured command, no shell
                shlex.split(self.command),
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(f"the token command could not run: {exc}") from exc
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
            raise TokenError(f"the token command exited with {done.returncode}: {tail[0]}")
        return _parse_output(done.stdout.strip())


def _parse_output(text: str) -> tuple[str, float]:
    if text.startswith("{"):
        try:
            data = json.loads(text)
            return str(data["access_token"]), float(data.get("expires_in", COMMAND_TOKEN_LIFETIME))
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenError("the token command printed JSON without access_token") from exc
    if not text or any(c.isspace() for c in text):
        raise TokenError("the token command printed no token (one line, no spaces, expected)")
    return text, COMMAND_TOKEN_LIFETIME


class MicrosoftToken(_CachingSource):
    """Microsoft 365 client credentials (an app with ``IMAP.AccessAsApp``), through msal."""

    def __init__(self, oauth: OAuth2Settings) -> None:
        super().__init__()
        try:
            import msal
        except ImportError as exc:
            raise TokenError(
                "EMAILLOG_OAUTH2_PROVIDER=microsoft needs msal: pip install 'emaillog[microsoft]'"
            ) from exc
        self._scope = oauth.scope or MICROSOFT_SCOPE
        self._app = msal.ConfidentialClientApplication(
            oauth.client_id,
            authority=f"https://login.microsoftonline.com/{oauth.tenant}",
            client_credential=oauth.client_secret,
        )

    def _fetch(self) -> tuple[str, float]:
        try:
            result: dict[str, Any] = self._app.acquire_token_for_client(scopes=[self._scope])
        except Exception as exc:
            raise TokenError(f"Microsoft token request failed: {exc}") from exc
        if "access_token" not in result:
            raise TokenError(
                f"Microsoft refused the token request: {result.get('error')}: "
                f"{result.get('error_description', '').splitlines()[0:1]}"
            )
        return str(result["access_token"]), float(result.get("expires_in", 3600))


class GoogleToken(_CachingSource):
    """Google Workspace: a service account acting as the mailbox user, or a stored refresh token."""

    def __init__(self, oauth: OAuth2Settings, user: str) -> None:
        super().__init__()
        try:
            from google.oauth2 import credentials, service_account
        except ImportError as exc:
            raise TokenError(
                "EMAILLOG_OAUTH2_PROVIDER=google needs google-auth: pip install 'emaillog[google]'"
            ) from exc
        scope = oauth.scope or GOOGLE_SCOPE
        if oauth.service_account_file:
            accounts: Any = service_account.Credentials  # google-auth is only partly typed
            self._creds: Any = accounts.from_service_account_file(
                oauth.service_account_file, scopes=[scope], subject=user
            )
        else:
            user_credentials: Any = credentials.Credentials
            self._creds = user_credentials(
                None,
                refresh_token=oauth.refresh_token,
                client_id=oauth.client_id,
                client_secret=oauth.client_secret,
                token_uri=GOOGLE_TOKEN_URI,
                scopes=[scope],
            )

    def _fetch(self) -> tuple[str, float]:
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request

        try:
            self._creds.refresh(Request())
        except (GoogleAuthError, OSError) as exc:
            raise TokenError(f"Google token request failed: {exc}") from exc
        expiry = self._creds.expiry  # google-auth keeps it as naive UTC
        lifetime = (expiry.replace(tzinfo=UTC).timestamp() - time.time()) if expiry else 3600.0
        return str(self._creds.token), lifetime


def token_source(settings: ImapSettings) -> TokenSource | None:
    """The token source for these settings, or None for a password login."""
    if settings.auth != "xoauth2":
        return None
    if settings.token_command:
        return CommandToken(settings.token_command)
    oauth = settings.oauth2
    if oauth is not None and oauth.provider == "microsoft":
        return MicrosoftToken(oauth)
    if oauth is not None and oauth.provider == "google":
        return GoogleToken(oauth, settings.user)
    raise TokenError("EMAILLOG_IMAP_AUTH=xoauth2 but no token source is configured")
