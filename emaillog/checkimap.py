"""The IMAP steps of ``emaillog check`` (check.py), for one mailbox: DNS, connect and TLS, the
capabilities after login, the intake folder writable, the Processed and Error folders. The login
itself is Checker's (check.py): these steps take the mailbox it opened."""

from __future__ import annotations

import imaplib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from imapclient.exceptions import IMAPClientError

from .checkstep import EXIT_CONFIG, EXIT_TEMPFAIL, OK, WARN, Step, StepFailed
from .imapmailbox import ImapMailbox
from .imapsession import server_words
from .mailbox import FolderUnusable
from .settings import ImapSettings, Settings
from .tls import tls_context, untrusted


@dataclass
class ImapSteps:
    """The steps that talk to the IMAP server (the order they run in: ``check.Checker``)."""

    settings: Settings
    create_folders: bool = False

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


def _issuer(cert: Any) -> str:
    for rdn in cert.get("issuer", ()):
        for key, value in rdn:
            if key == "organizationName":
                return str(value)
    return "?"
