"""The admin command line: ``emaillog COMMAND …`` (also ``python -m emaillog``).

Every command reads the same settings as the daemon. A mistake the admin can correct gets one
line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imapclient.exceptions import IMAPClientError
from peewee import InterfaceError, OperationalError

from .. import admin, errors, terminal, views
from ..mailbox import FolderUnusable, LoginRefused, MailboxError
from ..runner import EXIT_CONFIG, EXIT_LOGIN, EXIT_TEMPFAIL, EXIT_USAGE, run, setup_logging
from ..settings import Settings, SettingsError, load
from ..store import open_store
from . import browse, crm, users
from .declare import (
    add_command,
    add_group,
    print_json,
)

# -- handlers ----------------------------------------------------------------------------------


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # SIGHUP reads the same env file (and environment) again.
    return run(
        settings,
        once=args.once,
        dry_run=args.dry_run,
        reload_settings=lambda: load(default_env_file(args.env_file)),
    )


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from .. import status

    data = status.gather(settings, open_store(settings), probe=not args.no_imap)
    if args.json:
        return print_json(data)
    print(status.render(data))
    return 0


def _check(args: argparse.Namespace, env_file: Any) -> int:
    from ..check import run_check

    return run_check(env_file, create_folders=args.create_folders, as_json=args.json)


def _ops(commands: Any) -> None:
    p = add_command(
        commands, "check", _check, "check the set-up step by step: settings, IMAP, folders, database, SMTP"
    )
    p.add_argument("--create-folders", action="store_true", help="create missing Processed/Error folders")
    p.add_argument("--json", action="store_true")
    p.set_defaults(own_settings=True)
    p = add_command(
        commands, "status", _status, "last pass, messages by outcome, Error folder, outbox, login state"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-imap", action="store_true", help="do not log in to count the Error folder")


# -- the parser ---------------------------------------------------------------------------------


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    row = errors.find_row(open_store(settings), args.which, as_uid=args.uid)
    if args.json:
        return print_json({**views.ledger_row(row), "trace": json.loads(row.trace_json or "[]")})
    print("\n".join(errors.explain(row)))
    return 0


def _errors_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [views.ledger_row(r) for r in errors.error_rows(open_store(settings), settings)]
    if args.json:
        return print_json(rows)
    for row in rows:
        # The Message-ID and the detail are the sender's text: terminal.shown escapes control characters.
        print(
            f"#{row['id']}  uid={row['uid']}  {row['reason']}  {terminal.shown(row['owner'] or None)}  "
            f"{terminal.shown(row['message_id'] or None)}"
        )
        if row["detail"]:
            print(f"      {terminal.shown(row['detail'])}")
    return 0


def _errors_retry(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    if args.all:
        rows = errors.error_rows(store, settings)
    elif args.id is None:
        raise admin.AdminError("give a ledger id (see: emaillog errors list) or --all")
    else:
        rows = [errors.find_row(store, args.id)]
    if settings.imap is None:
        raise admin.AdminError("no mailbox is configured (EMAILLOG_IMAP_HOST)")
    report = errors.retry(store, settings, rows, _progress if sys.stderr.isatty() else None)
    print(
        f"moved back to {settings.intake_folder}: {len(report.moved)}; not found in "
        f"{settings.error_folder}: {len(report.missing)}"
    )
    if report.moved and not args.no_pass:
        return run(settings, once=True, dry_run=False)
    return 0 if not report.missing else 1


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done}/{total}")
    sys.stderr.write("\n" if done == total else "")


def _why(commands: Any) -> None:
    p = add_command(
        commands, "explain", _explain, "show the rule trace of one message: why was it logged or not?"
    )
    p.add_argument("which", metavar="LEDGER-ID-or-UID", help="a ledger id, or uid:NUMBER for an IMAP UID")
    p.add_argument("--uid", action="store_true", help="read the number as a UID")
    p.add_argument("--json", action="store_true")
    group = add_group(commands, "errors", "messages in the Error folder")
    add_command(group, "list", _errors_list, "list them with their reasons").add_argument(
        "--json", action="store_true"
    )
    p = add_command(
        group, "retry", _errors_retry, "put messages back through the pipeline after fixing the cause"
    )
    p.add_argument("id", nargs="?", metavar="ID")
    p.add_argument("--all", action="store_true")
    p.add_argument("--no-pass", action="store_true", help="only move them back; the daemon picks them up")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emaillog", description="Log BCC'd and forwarded email into the CRM."
    )
    parser.add_argument(
        "--env-file", type=Path, metavar="PATH", help="settings file (default: ./.env if present)"
    )
    parser.add_argument(
        "--mailbox",
        metavar="NAME",
        help="with EMAILLOG_MAILBOXES_FILE: the [mailbox.NAME] (and its account) a command works on",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(commands, "run", _run, "run the daemon (the same as python daemon.py)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--dry-run", action="store_true", help="report decisions; write, move and send nothing")
    users.add_commands(commands)
    crm.add_commands(commands)
    _ops(commands)
    browse.add_commands(commands)
    _why(commands)
    return parser


def select_mailbox(settings: Settings, name: str | None) -> Settings:
    """The settings of the mailbox a command works on: each [mailbox.NAME] is an account of its own,
    so users, addresses, the ledger and the Error folder are those of one mailbox."""
    if not settings.mailboxes:
        if name is not None and name != settings.mailbox_name:
            raise admin.AdminError(f"no mailbox {name!r}: EMAILLOG_MAILBOXES_FILE is not set")
        return settings
    by_name = {m.mailbox_name: m for m in settings.mailboxes}
    names = ", ".join(sorted(by_name))
    if name is None:
        if len(by_name) == 1:
            return settings.mailboxes[0]
        raise admin.AdminError(f"several mailboxes are configured: give --mailbox NAME ({names})")
    if name not in by_name:
        raise admin.AdminError(f"no mailbox {name!r} in EMAILLOG_MAILBOXES_FILE ({names})")
    return by_name[name]


def default_env_file(given: Path | None) -> Path | None:
    if given is not None:
        return given
    return Path(".env") if Path(".env").is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    if getattr(args, "own_settings", False):
        # check reports bad settings as its first step rather than stopping before it starts.
        code: int = args.handler(args, default_env_file(args.env_file))
        return code
    try:
        settings = load(default_env_file(args.env_file))
    except SettingsError as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if args.handler is not _run:
            settings = select_mailbox(settings, args.mailbox)
        code = args.handler(args, settings)
    except (admin.AdminError, errors.NotFound) as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OperationalError, InterfaceError) as exc:
        # SPEC §13: an unreachable database is a temporary failure (75), told in one line.
        print(f"emaillog: database unavailable: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_TEMPFAIL
    except LoginRefused as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_LOGIN
    except FolderUnusable as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (MailboxError, IMAPClientError, imaplib.IMAP4.error) as exc:
        print(f"emaillog: mailbox unavailable: {exc}", file=sys.stderr)
        return EXIT_TEMPFAIL
    return code
