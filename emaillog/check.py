"""``emaillog check``: the set-up, step by step, each with its result and what to do about it.

Steps: settings → DNS → connect and TLS (certificate verified) → login → capabilities after login
(MOVE, UIDPLUS, IDLE) → intake folder writable → Processed/Error folders → database and schema →
SMTP relay → sender authentication. A failed step names the problem in the admin's terms; the steps
that depend on it are skipped, the independent ones still run. The exit code is the first failure's
(SPEC §13: 75 temporary, 77 login refused, 78 bad configuration), 0 when only warnings remain.
"""

from __future__ import annotations

import imaplib
import os
import smtplib
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from imapclient.exceptions import IMAPClientError

from . import terminal
from .databaseurl import unverified_database
from .imapmailbox import ImapMailbox
from .imapsession import server_words
from .mailbox import FolderUnusable, LoginRefused, MailboxError
from .notices.mailer import connect_error
from .settings import ImapSettings, Settings, SettingsError, SmtpSettings, load
from .tls import tls_context, untrusted

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
EXIT_OK, EXIT_TEMPFAIL, EXIT_LOGIN, EXIT_CONFIG = 0, 75, 77, 78


@dataclass(frozen=True)
class Step:
    step: str
    result: str
    detail: str
    exit_code: int = EXIT_OK


class StepFailed(Exception):
    def __init__(self, detail: str, exit_code: int) -> None:
        super().__init__(detail)
        self.exit_code = exit_code


@dataclass
class Checker:
    settings: Settings
    create_folders: bool = False

    def run(self) -> list[Step]:
        steps = [Step("settings", OK, "read and valid")]
        if not self.settings.mailboxes:
            steps += self._imap_steps()
        for box in self.settings.mailboxes:
            # Each [mailbox.NAME] of EMAILLOG_MAILBOXES_FILE has its own server, login and folders.
            checker = Checker(box, self.create_folders)
            steps += [replace(s, step=f"{box.mailbox_name}: {s.step}") for s in checker._imap_steps()]
        steps.append(self._guard("database", self.database))
        steps.append(self._guard("SMTP relay", self.smtp))
        for box in self.settings.all_mailboxes():
            step = Checker(box).sender_auth()
            steps.append(
                replace(step, step=f"{box.mailbox_name}: {step.step}") if self.settings.mailboxes else step
            )
        return steps

    def _guard(self, name: str, action: Callable[[], tuple[str, str]]) -> Step:
        try:
            result, detail = action()
        except StepFailed as exc:
            return Step(name, FAIL, str(exc), exc.exit_code)
        return Step(name, result, detail)

    def _imap_steps(self) -> list[Step]:
        imap = self.settings.imap
        if imap is None:
            return [
                Step("IMAP", WARN, "EMAILLOG_IMAP_HOST is not set: `emaillog run` starts the demo mailbox")
            ]
        steps = [
            self._guard("DNS", lambda: self.dns(imap)),
        ]
        if steps[-1].result != FAIL:
            steps.append(self._guard("connect and TLS", lambda: self.connect(imap)))
        if steps[-1].result == FAIL:
            return [*steps, Step("login", SKIP, "the server cannot be reached")]
        try:
            mailbox = ImapMailbox(imap)
        except LoginRefused as exc:
            return [
                *steps,
                Step(
                    "login", FAIL, f"{exc} (check EMAILLOG_IMAP_USER and the password or token)", EXIT_LOGIN
                ),
            ]
        except (MailboxError, OSError) as exc:
            return [*steps, Step("login", FAIL, str(exc), EXIT_TEMPFAIL)]
        steps.append(Step("login", OK, f"logged in as {imap.user} ({imap.auth})"))
        try:
            # The intake folder last: after a [READ-ONLY] SELECT, imaplib refuses every further command.
            capabilities = self.capabilities(mailbox)
            folders = self._guard("Processed and Error folders", lambda: self.folders(mailbox))
            steps += [capabilities, self._guard("intake folder", lambda: self.intake(mailbox)), folders]
        finally:
            mailbox.close()
        return steps

    # -- the steps ---------------------------------------------------------------------------------

    def dns(self, imap: ImapSettings) -> tuple[str, str]:
        try:
            infos = socket.getaddrinfo(imap.host, imap.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise StepFailed(
                f"cannot resolve {imap.host}: {exc.strerror} (check EMAILLOG_IMAP_HOST)", EXIT_TEMPFAIL
            ) from exc
        addresses = sorted({str(info[4][0]) for info in infos})
        return OK, f"{imap.host} is {', '.join(addresses)}"

    def connect(self, imap: ImapSettings) -> tuple[str, str]:
        try:
            sock = socket.create_connection((imap.host, imap.port), timeout=min(imap.timeout, 30))
        except OSError as exc:
            raise StepFailed(
                f"cannot connect to {imap.host}:{imap.port}: {exc} (check EMAILLOG_IMAP_PORT "
                f"and the firewall)",
                EXIT_TEMPFAIL,
            ) from exc
        with sock:
            if imap.security == "none":
                return self._plain(imap)
            if imap.security == "starttls":
                _starttls(sock)
            return (OK if imap.verify_tls else WARN), self._handshake(imap, sock)

    def _plain(self, imap: ImapSettings) -> tuple[str, str]:
        # The settings allow no TLS only for a server on this machine (envreader.is_loopback).
        return OK, f"connected to {imap.host}:{imap.port} without TLS (loopback)"

    def _handshake(self, imap: ImapSettings, sock: socket.socket) -> str:
        try:
            with tls_context(imap).wrap_socket(sock, server_hostname=imap.host) as tls:
                cert = tls.getpeercert() or {}
                version = tls.version()
        except ssl.SSLCertVerificationError as exc:
            raise StepFailed(untrusted(imap.host, exc, "EMAILLOG_IMAP"), EXIT_CONFIG) from exc
        except (ssl.SSLError, OSError) as exc:
            raise StepFailed(
                f"TLS with {imap.host}:{imap.port} failed: {exc} (is EMAILLOG_IMAP_SECURITY="
                f"{imap.security} right for this port?)",
                EXIT_TEMPFAIL,
            ) from exc
        if not imap.verify_tls:
            return f"{version}, certificate NOT verified (EMAILLOG_IMAP_VERIFY_TLS=no)"
        issuer = _issuer(cert)
        return f"{version}, certificate for {imap.host} verified (issuer {issuer})"

    def capabilities(self, mailbox: ImapMailbox) -> Step:
        missing = [c for c in ("MOVE", "UIDPLUS", "IDLE") if not mailbox.has(c)]
        if not missing:
            return Step("capabilities", OK, "MOVE, UIDPLUS and IDLE")
        effects = {
            "MOVE": "messages are moved with COPY + \\Deleted + EXPUNGE",
            "UIDPLUS": "EXPUNGE removes every \\Deleted message in the intake folder",
            "IDLE": f"new mail waits for the next poll (every {self.settings.poll_seconds}s)",
        }
        return Step("capabilities", WARN, "; ".join(f"no {c}: {effects[c]}" for c in missing))

    def intake(self, mailbox: ImapMailbox) -> tuple[str, str]:
        folder = mailbox.on_server(self.settings.intake_folder)
        if not mailbox.client.folder_exists(folder):
            raise StepFailed(f"{folder} does not exist (EMAILLOG_INTAKE_FOLDER)", EXIT_CONFIG)
        try:
            info = mailbox.client.select_folder(folder)
        except imaplib.IMAP4.readonly:
            # imaplib raises this itself when SELECT answers [READ-ONLY].
            info = {b"READ-ONLY": [b""]}
        if b"READ-ONLY" in info:
            raise StepFailed(
                f"{folder} is read-only for {mailbox.settings.user}: messages could never be "
                f"moved out (give the account write access)",
                EXIT_CONFIG,
            )
        return OK, f"{folder} is writable, {int(info.get(b'EXISTS', 0))} messages waiting"

    def folders(self, mailbox: ImapMailbox) -> tuple[str, str]:
        names = [self.settings.processed_folder, self.settings.error_folder]
        missing = [n for n in names if not mailbox.folder_usable(n)]
        if missing and self.create_folders:
            try:
                mailbox.ensure_folders(missing)
            except FolderUnusable as exc:
                raise StepFailed(
                    f"{exc} (check EMAILLOG_PROCESSED_FOLDER and _ERROR_FOLDER)", EXIT_CONFIG
                ) from exc
            except imaplib.IMAP4.abort:
                raise
            except IMAPClientError as exc:
                # Any other NO (a folder quota, a prefix the server does not announce): its words, not a
                # traceback; whether it lasts is not known, so temporary, as `run` takes it.
                names_there = ", ".join(map(mailbox.on_server, missing))
                raise StepFailed(f"cannot create {names_there}: {server_words(exc)}", EXIT_TEMPFAIL) from exc
            return OK, f"created {', '.join(map(mailbox.on_server, missing))}"
        if missing:
            # The daemon creates them when it connects (a name the server refuses stops it with 78):
            # a failure here (78) told a fresh install to fix what needs no fixing.
            names_there = ", ".join(map(mailbox.on_server, missing))
            return WARN, (
                f"missing: {names_there}; the daemon creates them when it connects "
                "(`emaillog check --create-folders` creates them now, and tells whether the server lets it)"
            )
        return OK, f"{', '.join(map(mailbox.on_server, names))} exist"

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


def _starttls(sock: socket.socket) -> None:
    reader = sock.makefile("rb")
    greeting = reader.readline()
    if not greeting.startswith(b"* OK"):
        raise StepFailed(f"unexpected greeting: {greeting[:80]!r}", EXIT_TEMPFAIL)
    sock.sendall(b"c1 STARTTLS\r\n")
    while True:
        line = reader.readline()
        if not line:
            raise StepFailed("the server closed the connection after STARTTLS", EXIT_TEMPFAIL)
        if line.startswith(b"c1 "):
            break
    if not line.startswith(b"c1 OK"):
        raise StepFailed(
            f"STARTTLS refused: {line.decode(errors='replace').strip()} (EMAILLOG_IMAP_SECURITY=ssl?)",
            EXIT_CONFIG,
        )


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


def _issuer(cert: Any) -> str:
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            if key == "organizationName":
                return str(value)
    return "?"


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


def run_check(
    env_file: Path | None,
    *,
    create_folders: bool = False,
    as_json: bool = False,
    only: Callable[[Settings], Settings] | None = None,
) -> int:
    """``only``: the settings of the one mailbox to check (--mailbox); it may raise AdminError."""
    try:
        settings = load(env_file)
    except SettingsError as exc:
        steps = [Step("settings", FAIL, "; ".join(exc.problems), EXIT_CONFIG)]
    else:
        if only is not None:
            chosen = only(settings)
            # With a mailboxes file, that mailbox's steps, still named after it.
            settings = replace(settings, mailboxes=(chosen,)) if settings.mailboxes else chosen
        steps = Checker(settings, create_folders).run()
    _print(steps, as_json)
    failed = [s for s in steps if s.result == FAIL]
    return failed[0].exit_code if failed else EXIT_OK


def _print(steps: list[Step], as_json: bool) -> None:
    # A detail quotes the servers' words (a greeting, a refusal), which may hold ESC sequences, C1
    # controls or a bidi override: escaped, as every command's output of text from elsewhere.
    if as_json:
        sys.stdout.write(terminal.json_text([asdict(s) for s in steps]) + "\n")
        return
    for s in steps:
        print(f"{s.result:<5} {terminal.printable(s.step)}: {terminal.printable(s.detail)}")
