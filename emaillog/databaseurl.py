"""EMAILLOG_DATABASE_URL: which database, and whether its URL can be used at all.

SQLite by default (a file under the data dir), PostgreSQL when the URL says so. A URL that cannot
work is a settings problem found at start-up (exit 78), not an outage found at the first connection
(75, and systemd restarting the daemon for ever); the problems never quote the URL's password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from .envreader import Reader, is_loopback

POSTGRESQL_URLS = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")


def database_url(r: Reader, data_dir: Path) -> str:
    url = r.text("EMAILLOG_DATABASE_URL", f"sqlite:///{data_dir / 'emaillog.sqlite3'}")
    if not url.startswith(("sqlite:///", *POSTGRESQL_URLS)):
        # Only a scheme is quoted: a libpq keyword string ("host=db password=...") has none, and
        # was echoed whole, its password with it.
        scheme = _SCHEME.match(url)
        shown = repr(scheme.group()) if scheme else "the value (not shown: it may hold a password)"
        r.problems.append(f"EMAILLOG_DATABASE_URL: {shown} is not sqlite:/// or postgresql://")
    elif url.startswith("sqlite:///") and not url.removeprefix("sqlite:///").strip("/"):
        r.problems.append("EMAILLOG_DATABASE_URL: sqlite:/// names no file")
    elif url.startswith("sqlite:///"):
        _check_sqlite_path(r, Path(url.removeprefix("sqlite:///")))
    elif url.startswith(POSTGRESQL_URLS):
        from playhouse.db_url import parse as parse_url

        try:
            named = bool(parse_url(url).get("database"))
        except ValueError:
            # Not the parser's words: for a password holding "/", "?" or "#" they quote a piece of it
            # ("Port could not be cast to integer value as 's3cr'").
            r.problems.append(
                "EMAILLOG_DATABASE_URL: not a valid postgresql://USER@HOST:PORT/DB URL (a password with "
                "/ ? # @ or [ breaks it: keep the password in a PGPASSFILE instead)"
            )
        else:
            if not named:
                r.problems.append("EMAILLOG_DATABASE_URL: names no database (postgresql://USER@HOST:PORT/DB)")
            _check_postgres_options(r, url)
    return url


def _check_sqlite_path(r: Reader, path: Path) -> None:
    """A directory where the file should be (or a file where a directory should) was "database
    unavailable: unable to open database file", 75, after the lease was taken: a restart never
    fixes it."""
    if path.exists() and not path.is_file():
        r.problems.append(f"EMAILLOG_DATABASE_URL: {path} is not a file (a directory?)")
        return
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        r.problems.append(f"EMAILLOG_DATABASE_URL: {path} cannot be created: {existing} is not a directory")


def _check_postgres_options(r: Reader, url: str) -> None:
    """The URL's ?options are libpq's own (sslmode, connect_timeout ...): a misspelt one failed every
    connection with a ProgrammingError traceback. libpq's answer names the option, not the password."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        options = parse_dsn(url.replace("postgres://", "postgresql://", 1))
    except psycopg2.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0].removeprefix("invalid dsn: ")
        r.problems.append(f"EMAILLOG_DATABASE_URL: {_without_passwords(reason, url)}")
        return
    # libpq reads an option's value only when it connects: a misspelt sslmode was "database
    # unavailable" (75, restarted for ever) rather than a setting to correct (78).
    sslmode = options.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        r.problems.append(f"EMAILLOG_DATABASE_URL: sslmode={sslmode} is not one of {', '.join(_SSLMODES)}")


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _without_passwords(text: str, url: str) -> str:
    """libpq's words with every password the URL may hold masked: they quote the token they could
    not read ("invalid percent-encoded token: \"pa%zz...\"" for a password with a bare %), some of
    them the whole URL. Which "@" ends the user part is libpq's to say (a password may hold one),
    so the password as read up to each "@" is masked."""
    rest, _, query = url.split("://", 1)[-1].partition("?")
    users = (rest[: at.start()] for at in re.finditer("@", rest))
    found = [user.split(":", 1)[1] for user in users if ":" in user]
    for key, _, value in (pair.partition("=") for pair in query.split("&")):
        if key.lower() in ("password", "sslpassword"):
            found.append(value)
    for secret in sorted(filter(None, found), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def unverified_database(url: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the connection to a PostgreSQL on another machine is not verified, or None.

    libpq's default sslmode is prefer: TLS if the server offers it, its certificate never checked,
    and plain text (queries, logged mail) when it does not, or when someone in between says so. Only
    verify-full checks the certificate and the host name; verify-ca, the certificate alone. A Unix
    socket or a loopback address stays on this machine.
    """
    if not url.startswith(POSTGRESQL_URLS):
        return None
    from psycopg2.extensions import parse_dsn

    options = parse_dsn(url.replace("postgres://", "postgresql://", 1))
    hosts = (options.get("host") or environ.get("PGHOST") or "").split(",")
    remote = [h for h in hosts if h and not h.startswith("/") and not is_loopback(h)]
    sslmode = options.get("sslmode") or environ.get("PGSSLMODE") or "prefer"
    if not remote or sslmode in ("verify-full", "verify-ca"):
        return None
    return (
        f"the certificate of the database at {', '.join(remote)} is NOT verified (sslmode={sslmode}): "
        "add ?sslmode=verify-full&sslrootcert=CA_FILE to EMAILLOG_DATABASE_URL"
    )
