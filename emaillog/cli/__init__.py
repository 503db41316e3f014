"""The admin command line: ``emaillog COMMAND …`` (also ``python -m emaillog``).

Every command reads the same settings as the daemon. A mistake the admin can correct gets one
line on stderr and a non-zero exit code, never a traceback.

This module is the way in: the top of the parser and `run`, the choice of the mailbox a command
works on, and which failure is which exit code. The commands themselves are declared by area
(users.py, crm.py, browse.py, ops.py) with the pieces in declare.py.
"""

from __future__ import annotations

import argparse
import imaplib
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from imapclient.exceptions import IMAPClientError
from peewee import DatabaseError, InterfaceError, OperationalError

from .. import adminvalues, errors
from ..mailbox import FolderUnusable, LoginRefused, MailboxError
from ..runner import (
    EXIT_CONFIG,
    EXIT_LOGIN,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    database_unusable,
    run,
    setup_logging,
)
from ..settings import Settings, SettingsError, load
from ..store.schema import SchemaTooNew
from . import browse, crm, ops, users
from .declare import add_command

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _run(args: argparse.Namespace, settings: Settings) -> int:
    # Every mailbox, unless --mailbox names one: then that one alone, as every other command does
    # (it ran all of them, and an admin trying one tenant's set-up logged the others' mail too).
    # SIGHUP reads the same env file (and environment) again, and the same mailbox from it.
    return run(
        select_mailbox(settings, args.mailbox) if args.mailbox else settings,
        once=args.once,
        dry_run=args.dry_run,
        reload_settings=lambda: _reloaded(args),
    )


def _reloaded(args: argparse.Namespace) -> Settings:
    settings = load(default_env_file(args.env_file))
    if not args.mailbox:
        return settings
    try:
        return select_mailbox(settings, args.mailbox)
    except adminvalues.AdminError as exc:  # taken out of the file: the daemon keeps the settings it has
        raise SettingsError([str(exc)]) from None


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
        help="with EMAILLOG_MAILBOXES_FILE: the [mailbox.NAME] (and its account) a command works on; "
        "`run`, `check` and `attachments verify` work every mailbox without it",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(commands, "run", _run, "run the daemon (the same as python daemon.py)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--dry-run", action="store_true", help="report decisions; write, move and send nothing")
    users.add_commands(commands)
    crm.add_commands(commands)
    ops.add_check_commands(commands)
    browse.add_commands(commands)
    ops.add_why_commands(commands)
    ops.add_file_commands(commands)
    return parser


def select_mailbox(settings: Settings, name: str | None) -> Settings:
    """The settings of the mailbox a command works on: each [mailbox.NAME] is an account of its own,
    so users, addresses, the ledger and the Error folder are those of one mailbox."""
    if not settings.mailboxes:
        if name is not None and name != settings.mailbox_name:
            raise adminvalues.AdminError(f"no mailbox {name!r}: EMAILLOG_MAILBOXES_FILE is not set")
        return settings
    by_name = {m.mailbox_name: m for m in settings.mailboxes}
    names = ", ".join(sorted(by_name))
    if name is None:
        if len(by_name) == 1:
            return settings.mailboxes[0]
        raise adminvalues.AdminError(f"several mailboxes are configured: give --mailbox NAME ({names})")
    if name not in by_name:
        raise adminvalues.AdminError(f"no mailbox {name!r} in EMAILLOG_MAILBOXES_FILE ({names})")
    return by_name[name]


def default_env_file(given: Path | None) -> Path | None:
    if given is not None:
        return given
    return Path(".env") if Path(".env").is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    _escape_what_cannot_be_shown()
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    try:
        code = _handled(args)
        sys.stdout.flush()  # a reader gone away shows here for what is still buffered
    except BrokenPipeError:
        if args.handler is _run:
            raise  # the daemon writes nothing to stdout: a broken pipe there is not a reader's doing
        # The program reading the output stopped early (`emaillog users list | head -1`): nothing is
        # wrong and nothing more can be written. Stdout goes to /dev/null, so that the interpreter's
        # last flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if args.handler is _run:
            raise  # the daemon and a pass stop on SIGINT themselves
        # Ctrl-C in a long import was a KeyboardInterrupt traceback. Each command writes in one
        # transaction, which the interruption rolled back.
        print("emaillog: interrupted: what the command had not committed was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _escape_what_cannot_be_shown() -> None:
    """A stored name the output's encoding cannot write (PYTHONIOENCODING=latin-1, a
    latin-1 locale) is written escaped ("\\u5c71"): it was a UnicodeEncodeError traceback, exit 1."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # not when a caller replaced it with its own
            stream.reconfigure(errors="backslashreplace")


def _handled(args: argparse.Namespace) -> int:
    """Run the command; each failure an admin can act on is one line and its exit code (SPEC §13)."""
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
        # A command over the whole deployment (every_mailbox) works on one mailbox if --mailbox names it.
        if args.handler is not _run and (args.mailbox or not getattr(args, "every_mailbox", False)):
            settings = select_mailbox(settings, args.mailbox)
        code = args.handler(args, settings)
    except (adminvalues.AdminError, errors.NotFound) as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OperationalError, InterfaceError) as exc:
        # SPEC §13: an unreachable database is a temporary failure (75), told in one line.
        print(f"emaillog: database unavailable: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_TEMPFAIL
    except DatabaseError as exc:
        return _database_unusable(exc)
    except (SchemaTooNew, FolderUnusable) as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LoginRefused as exc:
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_LOGIN
    except (MailboxError, IMAPClientError, imaplib.IMAP4.error) as exc:
        return _mailbox_unavailable(exc)
    return code


def _database_unusable(exc: DatabaseError) -> int:
    if type(exc) is not DatabaseError:  # IntegrityError, DataError …: a bug, its traceback wanted
        raise exc
    # SQLite's "file is not a database": a traceback and exit 1 before.
    print(f"emaillog: {database_unusable(exc)}", file=sys.stderr)
    return EXIT_CONFIG


def _mailbox_unavailable(exc: Exception) -> int:
    print(f"emaillog: mailbox unavailable: {exc}", file=sys.stderr)
    for note in getattr(exc, "__notes__", ()):  # what the command can do without the mailbox
        print(f"emaillog: {note}", file=sys.stderr)
    return EXIT_TEMPFAIL
