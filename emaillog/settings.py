"""Settings: one frozen value built from the environment and an env file, validated all at once.

The names and defaults are part of the product's interface; ``config/emaillog.env`` documents each
one (a test keeps it in step with the table below). The real environment wins over the env file,
and every problem is reported together so an admin fixes them in one go.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from .addresses import address_key
from .databaseurl import database_url
from .envfile import read_values
from .envreader import Reader, is_loopback
from .envreader import SettingsError as SettingsError  # part of this module's interface
from .mailboxesfile import read_mailboxes
from .notices.build import is_hostname
from .opsettings import AUTH_MODES, read_ops, read_token_source
from .opsettings import OAuth2Settings as OAuth2Settings
from .opsettings import OpsSettings as OpsSettings
from .senderauth import TRUST_TOPMOST

SECURITY_MODES = ("ssl", "starttls", "none")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    user: str
    password: str = field(repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 60.0
    # password | xoauth2; with xoauth2 the token comes from a command or an OAuth2 provider (oauth.py).
    auth: str = "password"
    token_command: str | None = None
    oauth2: OAuth2Settings | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    user: str | None
    password: str | None = field(repr=False)
    verify_tls: bool = True
    timeout: float = 30.0
    ca_file: str | None = None  # a private CA's certificate(s), trusted besides the system store


@dataclass(frozen=True)
class NoticeSettings:
    """Where delivery-failure notices go out (SPEC §11); ``smtp`` None means notices are off."""

    smtp: SmtpSettings | None
    sender: str
    hostname: str
    daily_limit: int
    on_skipped: bool
    templates_dir: Path | None


@dataclass(frozen=True)
class Settings:
    """Everything the daemon and the command line need, read once at start-up."""

    imap: ImapSettings | None  # None: no mailbox configured, the demo mailbox is used
    intake_folder: str
    processed_folder: str
    error_folder: str
    data_dir: Path
    database_url: str = field(repr=False)  # its password, when it holds one
    bcc_address: str
    forward_address: str
    company_domains: frozenset[str]
    poll_seconds: int
    batch_size: int
    account: str
    mailbox_name: str
    case_sensitive_local_part: bool
    create_companies: bool
    max_body_bytes: int
    max_attachment_bytes: int
    max_message_bytes: int
    chain_file: Path | None = None
    notices: NoticeSettings | None = None
    # Several mailboxes (EMAILLOG_MAILBOXES_FILE): each a complete Settings of its own; empty means
    # this one Settings is the only mailbox.
    mailboxes: tuple[Settings, ...] = ()
    # In each mailbox of that file: the BCC and forwarding addresses of every mailbox, none of which
    # may be a user's (adminvalues.py). Not compared: a reload that adds or removes another mailbox
    # does not change this one (fleet.py restarts a mailbox whose settings differ).
    fleet_logging_addresses: frozenset[str] = dataclasses.field(default=frozenset(), compare=False)
    trusted_authserv_ids: frozenset[str] = frozenset()
    max_attempts: int = 3
    # Where the reps are (IANA names): a forwarded date written without a zone is read in the first
    # of these whose offset matches the forward's own Date, so daylight saving is right (SPEC §5).
    time_zones: tuple[ZoneInfo, ...] = ()
    ops: OpsSettings = field(default_factory=lambda: OpsSettings())

    @property
    def logging_addresses(self) -> frozenset[str]:
        return frozenset({self.key(self.bcc_address), self.key(self.forward_address)})

    @functools.cached_property
    def every_logging_address(self) -> frozenset[str]:
        """This mailbox's logging addresses and every other mailbox's of the same deployment."""
        return self.logging_addresses | {self.key(a) for a in self.fleet_logging_addresses}

    def key(self, address: str) -> str:
        return address_key(address, self.case_sensitive_local_part)

    def all_mailboxes(self) -> tuple[Settings, ...]:
        return self.mailboxes or (self,)

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


def _imap(r: Reader) -> ImapSettings | None:
    host = r.host("EMAILLOG_IMAP_HOST")
    if not host:
        # A login without its server is a mailbox half configured, not "none": the demo mailbox took
        # its place and put its sample users and emails into the company's database. (In a mailboxes
        # file each table names its server; its check is there.)
        if r.text("EMAILLOG_IMAP_USER") and not r.text("EMAILLOG_MAILBOXES_FILE"):
            r.problems.append(
                "EMAILLOG_IMAP_HOST: required when EMAILLOG_IMAP_USER is set "
                "(the demo mailbox runs only when no mailbox is configured)"
            )
        return None
    security = r.choice("EMAILLOG_IMAP_SECURITY", "ssl", SECURITY_MODES)
    user = r.text("EMAILLOG_IMAP_USER")
    password = r.secret("EMAILLOG_IMAP_PASSWORD")
    auth = r.choice("EMAILLOG_IMAP_AUTH", "password", AUTH_MODES)
    token_command, oauth2 = read_token_source(r, auth)
    if not user:
        r.problems.append("EMAILLOG_IMAP_USER: required when EMAILLOG_IMAP_HOST is set")
    if not password and auth == "password":
        r.problems.append("EMAILLOG_IMAP_PASSWORD: required when EMAILLOG_IMAP_HOST is set")
    if security == "none" and not is_loopback(host):
        r.problems.append(
            f"EMAILLOG_IMAP_SECURITY: none would send the login to {host} in clear; use ssl or starttls "
            "(none is for a server on this machine)"
        )
    return ImapSettings(
        host=host,
        port=r.port("EMAILLOG_IMAP_PORT", DEFAULT_PORTS.get(security, 993)),
        security=security,
        user=user,
        password=password,
        verify_tls=r.flag("EMAILLOG_IMAP_VERIFY_TLS", True),
        ca_file=r.ca_file("EMAILLOG_IMAP_CA_FILE") or None,
        timeout=float(r.number("EMAILLOG_IMAP_TIMEOUT", 60)),
        auth=auth,
        token_command=token_command,
        oauth2=oauth2,
    )


def _smtp(r: Reader) -> SmtpSettings | None:
    host = r.host("EMAILLOG_SMTP_HOST")
    if not host:
        return None
    security = r.choice("EMAILLOG_SMTP_SECURITY", "starttls", SECURITY_MODES)
    if security == "none" and r.text("EMAILLOG_SMTP_USER") and not is_loopback(host):
        r.problems.append(
            f"EMAILLOG_SMTP_SECURITY: none would send the relay login to {host} in clear; use ssl or "
            "starttls (or no EMAILLOG_SMTP_USER for a relay that takes mail without a login)"
        )
    user, password = r.text("EMAILLOG_SMTP_USER") or None, r.secret("EMAILLOG_SMTP_PASSWORD") or None
    if user and not password:
        # Without it the mailer would not log in at all, and the relay refuse every notice.
        r.problems.append("EMAILLOG_SMTP_PASSWORD: required when EMAILLOG_SMTP_USER is set")
    r.problems.extend(_not_ascii_login(user, password))
    return SmtpSettings(
        host=host,
        port=r.port("EMAILLOG_SMTP_PORT", {"ssl": 465, "starttls": 587, "none": 25}.get(security, 587)),
        security=security,
        user=user,
        password=password,
        verify_tls=r.flag("EMAILLOG_SMTP_VERIFY_TLS", True),
        ca_file=r.ca_file("EMAILLOG_SMTP_CA_FILE") or None,
    )


def _not_ascii_login(user: str | None, password: str | None) -> list[str]:
    """smtplib encodes every AUTH exchange as ASCII: a relay login that is not ASCII raised a
    UnicodeEncodeError at the first notice (a traceback in `check`). Never the password itself."""
    if not user:
        return []
    return [
        f"{name}: holds characters outside ASCII, which SMTP AUTH (Python's smtplib) cannot send"
        for name, value in (("EMAILLOG_SMTP_USER", user), ("EMAILLOG_SMTP_PASSWORD", password or ""))
        if not value.isascii()
    ]


def _notices(r: Reader, bcc_address: str) -> NoticeSettings:
    domain = bcc_address.rpartition("@")[2] or "localhost"
    templates = r.text("EMAILLOG_NOTICE_TEMPLATES_DIR")
    if templates and not Path(templates).is_dir():
        # Every notice silently went out in the built-in words instead of the admin's.
        r.problems.append(f"EMAILLOG_NOTICE_TEMPLATES_DIR: {templates} does not exist or is not a directory")
    return NoticeSettings(
        smtp=_smtp(r),
        sender=r.address("EMAILLOG_NOTICE_FROM", f"mailer-daemon@{domain}"),
        hostname=_hostname(r),
        daily_limit=r.number("EMAILLOG_NOTICE_DAILY_LIMIT", 10, minimum=0),
        on_skipped=r.flag("EMAILLOG_NOTICE_ON_SKIPPED", False),
        templates_dir=Path(templates) if templates else None,
    )


def _hostname(r: Reader) -> str:
    """The name in notices' Message-ID and Reporting-MTA (not in EHLO: smtplib says getfqdn() there).
    One a header cannot hold (a newline, a blank) passed here, and NoticeRequest then refused it: the
    decision on every message owed a notice crashed with a ValueError traceback in the log."""
    value = r.text("EMAILLOG_HOSTNAME")
    if not value:
        fqdn = socket.getfqdn()
        return fqdn if is_hostname(fqdn) else "localhost"
    if not is_hostname(value):
        r.problems.append(
            f"EMAILLOG_HOSTNAME: {value!r} is not a host name "
            "(letters, digits, - and . only: mail.example.com)"
        )
    return value


def _authserv_ids(r: Reader) -> frozenset[str]:
    ids = frozenset(
        i.strip().lower() for i in r.text("EMAILLOG_TRUSTED_AUTHSERV_IDS").split(",") if i.strip()
    )
    for bad in sorted(i for i in ids if i != TRUST_TOPMOST and _NOT_IN_AN_AUTHSERV_ID.search(i)):
        # It matched no header: every message was rejected as unauthenticated (SPEC §12 fails
        # closed) while the admin believed authentication configured.
        r.problems.append(
            f"EMAILLOG_TRUSTED_AUTHSERV_IDS: {bad!r} is not an authserv-id (the name before the first "
            f'";" of your server\'s Authentication-Results, such as mx.google.com; several are separated '
            f"by commas; {TRUST_TOPMOST} trusts the top-most header)"
        )
    return ids


# An authserv-id is an RFC 2045 token (RFC 8601 §2.2): no blank and none of these "tspecials".
_NOT_IN_AN_AUTHSERV_ID = re.compile(r'[\s()<>@,;:\\"/\[\]?=]')


def _folders(r: Reader) -> tuple[str, str, str]:
    names = (
        r.text("EMAILLOG_INTAKE_FOLDER", "INBOX"),
        r.text("EMAILLOG_PROCESSED_FOLDER", "Processed"),
        r.text("EMAILLOG_ERROR_FOLDER", "Error"),
    )
    if len({n.lower() for n in names}) != 3:
        r.problems.append("EMAILLOG_INTAKE_FOLDER, _PROCESSED_FOLDER and _ERROR_FOLDER must all differ")
    return names


def _mailbox_name(r: Reader) -> str:
    """The name keys the ledger and names the lease and state files under the data dir: one with a
    "/" took the lease in another directory (../../x) or failed on a FileNotFoundError traceback."""
    name = r.text("EMAILLOG_MAILBOX_NAME", "default")
    if name in (".", "..") or any(c == "/" or not c.isprintable() for c in name):
        r.problems.append(f"EMAILLOG_MAILBOX_NAME: {name!r} cannot name a file (no / or control characters)")
    elif len(name.encode()) > 200:
        r.problems.append("EMAILLOG_MAILBOX_NAME: longer than 200 bytes, too long to name a file")
    return name


def _build(r: Reader) -> Settings:
    data_dir = Path(r.text("EMAILLOG_DATA_DIR", "data")).expanduser().absolute()
    intake, processed, error = _folders(r)
    mb = 1024 * 1024
    bcc_address = r.address("EMAILLOG_BCC_ADDRESS", "log@emaillog.invalid")
    return Settings(
        imap=_imap(r),
        intake_folder=intake,
        processed_folder=processed,
        error_folder=error,
        data_dir=data_dir,
        database_url=database_url(r, data_dir),
        bcc_address=bcc_address,
        forward_address=r.address("EMAILLOG_FORWARD_ADDRESS", "log+fwd@emaillog.invalid"),
        company_domains=r.domains("EMAILLOG_COMPANY_DOMAINS"),
        poll_seconds=r.number("EMAILLOG_POLL_SECONDS", 60),
        batch_size=r.number("EMAILLOG_BATCH_SIZE", 200),
        account=r.text("EMAILLOG_ACCOUNT", "default"),
        mailbox_name=_mailbox_name(r),
        case_sensitive_local_part=r.flag("EMAILLOG_CASE_SENSITIVE_LOCAL_PART", False),
        create_companies=r.flag("EMAILLOG_CREATE_COMPANIES", True),
        max_body_bytes=r.number("EMAILLOG_MAX_BODY_MB", 2) * mb,
        max_attachment_bytes=r.number("EMAILLOG_MAX_ATTACHMENT_MB", 50) * mb,
        max_message_bytes=r.number("EMAILLOG_MAX_MESSAGE_MB", 200) * mb,
        chain_file=Path(r.text("EMAILLOG_CHAIN_FILE")) if r.text("EMAILLOG_CHAIN_FILE") else None,
        notices=_notices(r, bcc_address),
        trusted_authserv_ids=_authserv_ids(r),
        time_zones=r.time_zones("EMAILLOG_TIME_ZONES"),
        ops=read_ops(r),
    )


def _check_data_dir(data_dir: Path, problems: list[str]) -> None:
    """The data dir exists and is writable, or can be created: else nothing could be stored."""
    existing = data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        problems.append(f"EMAILLOG_DATA_DIR: {data_dir} cannot be created: {existing} is not a directory")
    elif not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == data_dir else f"cannot be created in {existing}"
        problems.append(f"EMAILLOG_DATA_DIR: {data_dir} {what}")


def _check_chain_file(path: Path | None, problems: list[str]) -> None:
    from .rules import ChainError, load_chain

    if path is None:
        return
    try:
        load_chain(path)
    except ChainError as exc:
        problems.append(f"EMAILLOG_CHAIN_FILE: {exc}")


def load(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings or raise SettingsError naming every problem."""
    problems: list[str] = []
    if env_file is not None and not env_file.is_file():
        problems.append(f"--env-file: {env_file} does not exist or is not a file")
        env_file = None
    values = read_values(env_file, os.environ if environ is None else environ, problems)
    reader = Reader(values, problems)
    settings = _build(reader)
    _check_data_dir(settings.data_dir, problems)
    _check_chain_file(settings.chain_file, problems)
    mailboxes_file = reader.text("EMAILLOG_MAILBOXES_FILE")
    if mailboxes_file:
        mailboxes = read_mailboxes(Path(mailboxes_file), values, problems, _build)
        every = frozenset(a for box in mailboxes for a in (box.bcc_address, box.forward_address))
        mailboxes = tuple(dataclasses.replace(box, fleet_logging_addresses=every) for box in mailboxes)
        settings = dataclasses.replace(settings, mailboxes=mailboxes)
    if problems:
        raise SettingsError(problems)
    return settings
