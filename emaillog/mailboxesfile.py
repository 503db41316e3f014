"""The mailboxes file (EMAILLOG_MAILBOXES_FILE): one [mailbox.NAME] table of TOML per mailbox,
each the shared settings with that mailbox's own on top, read and checked together."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .envreader import Reader
from .setting_names import unknown_names

if TYPE_CHECKING:
    from .settings import Settings

# Builds one mailbox's settings from its values (settings._build: passed in, as settings.py reads
# this file).
Build = Callable[[Reader], "Settings"]

# What a [mailbox.NAME] table may set: everything about one mailbox and its company, nothing shared
# by the deployment (database, data dir, SMTP relay, logging).
MAILBOX_SCOPED = (
    "EMAILLOG_IMAP_",
    "EMAILLOG_INTAKE_FOLDER",
    "EMAILLOG_PROCESSED_FOLDER",
    "EMAILLOG_ERROR_FOLDER",
    "EMAILLOG_BCC_ADDRESS",
    "EMAILLOG_FORWARD_ADDRESS",
    "EMAILLOG_COMPANY_DOMAINS",
    "EMAILLOG_ACCOUNT",
    "EMAILLOG_NOTICE_FROM",
    "EMAILLOG_TRUSTED_AUTHSERV_IDS",
    "EMAILLOG_CREATE_COMPANIES",
    "EMAILLOG_CASE_SENSITIVE_LOCAL_PART",
    "EMAILLOG_POLL_SECONDS",
    "EMAILLOG_TIME_ZONES",
)
_MAILBOX_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def read_mailboxes(
    path: Path, base: Mapping[str, str | None], problems: list[str], build: Build
) -> tuple[Settings, ...]:
    """Each [mailbox.NAME] table of the file: the shared settings with that mailbox's own on top."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Not UTF-8 was a traceback; TOML files are UTF-8 by definition.
        reason = f"not UTF-8 text ({exc.reason})" if isinstance(exc, UnicodeDecodeError) else exc
        problems.append(f"EMAILLOG_MAILBOXES_FILE: {path}: {reason}")
        return ()
    # A misspelt table ([mailboxs.globex]) left that mailbox out of the fleet without a word.
    problems.extend(
        f"EMAILLOG_MAILBOXES_FILE: {path}: {key!r} is not a [mailbox.NAME] table"
        for key in document
        if key != "mailbox"
    )
    tables = document.get("mailbox", {})
    if not isinstance(tables, dict) or not tables:
        problems.append(f"EMAILLOG_MAILBOXES_FILE: {path} declares no [mailbox.NAME] table")
        return ()
    mailboxes = tuple(_mailbox(name, table, base, problems, build) for name, table in tables.items())
    problems.extend(_shared_intake_folders(mailboxes))
    return mailboxes


def _shared_intake_folders(mailboxes: tuple[Settings, ...]) -> list[str]:
    """Two mailboxes whose intake folder is one folder of one login: each logged the other's mail
    under its own lease (or, intake against Processed, took in what the other had done)."""
    folders: dict[tuple[str, int, str, str], str] = {}
    for box in mailboxes:
        if box.imap is not None:
            login = (box.imap.host.lower(), box.imap.port, box.imap.user.lower())
            for folder in (box.processed_folder, box.error_folder):
                folders.setdefault((*login, folder.lower()), box.mailbox_name)
    found = []
    for box in mailboxes:
        if box.imap is None:
            continue
        intake = (box.imap.host.lower(), box.imap.port, box.imap.user.lower(), box.intake_folder.lower())
        other = folders.get(intake)
        if other is not None and other != box.mailbox_name:
            found.append(
                f"mailbox {box.mailbox_name}: its intake folder {box.intake_folder} is a folder of mailbox "
                f"{other} ({box.imap.user} at {box.imap.host}): give each mailbox folders of its own"
            )
        folders.setdefault(intake, box.mailbox_name)
    return found


def _mailbox(
    name: str, table: object, base: Mapping[str, str | None], problems: list[str], build: Build
) -> Settings:
    found: list[str] = []
    if not _MAILBOX_NAME.match(name):
        found.append("the name must be lower-case letters, digits, - or _")
    if not isinstance(table, dict):
        # mailbox.acme = "…" is no table: it ran as a mailbox with the shared settings alone.
        found.append(f'is not a table of settings ([mailbox.{name}] followed by NAME = "value" lines)')
        table = {}
    unknown = unknown_names(str(key) for key in table)
    found.extend(unknown)
    named = {problem.partition(":")[0] for problem in unknown}
    # A list (["a.example", "b.example"]) was written out as Python shows it and taken for one value.
    found.extend(
        f'{key}: a {type(value).__name__} is not a value here; write a string (several: "a, b")'
        for key, value in table.items()
        if not isinstance(value, str | int | float | bool)
    )
    for key in table:
        if str(key) in named:
            continue  # reported just above, with the setting it is nearest to
        if not any(
            key == scope or (scope.endswith("_") and key.startswith(scope)) for scope in MAILBOX_SCOPED
        ):
            found.append(f"{key} cannot be set per mailbox")
    # A mailbox is its own account (tenant) unless the table names one: two mailboxes of one company
    # may share an account, two companies never do by accident.
    values = {
        **base,
        "EMAILLOG_ACCOUNT": name,
        **{str(k): str(v) for k, v in table.items()},
        "EMAILLOG_MAILBOX_NAME": name,
    }
    settings = build(Reader(values, found, credential_prefix=f"{name}-"))
    if settings.imap is None:
        # The demo mailbox stands in only where no mailbox is configured; a fleet's mailbox without a
        # server failed its first pass on an assertion, after taking its lease.
        found.append(f"EMAILLOG_IMAP_HOST: required (in [mailbox.{name}] or shared by every mailbox)")
    problems.extend(f"mailbox {name}: {problem}" for problem in found)
    return settings
