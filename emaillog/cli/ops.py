"""The operator's commands: is the set-up right (`check`), how is the daemon doing (`status`), why
was a message handled as it was (`explain`), the Error folder (`errors list`, `errors retry`), and
the stored files against their rows (`attachments verify`).

`check` reads the settings itself, to report bad ones as its first step; `errors retry` moves
messages back to the intake folder and, unless --no-pass, runs one pass over them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from typing import Any

from .. import adminvalues, errors, terminal, views
from ..mailbox import FolderUnusable, LoginRefused, MailboxError
from ..runner import EXIT_USAGE, run, worked_elsewhere
from ..settings import Settings
from ..store import open_store
from ..store.db import open_database
from ..store.filecheck import Finding, Verified, verify
from ..store.models import Ledger
from .declare import add_command, add_group, print_json


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from .. import status

    data = status.gather(settings, open_store(settings), probe=not args.no_imap)
    if args.json:
        return print_json(data)
    print(status.render(data))
    return 0


def _check(args: argparse.Namespace, env_file: Any) -> int:
    from ..check import run_check
    from . import select_mailbox

    # --mailbox was ignored: every mailbox was checked, and a name in no table passed unnoticed.
    only = (lambda settings: select_mailbox(settings, args.mailbox)) if args.mailbox else None
    try:
        return run_check(env_file, create_folders=args.create_folders, as_json=args.json, only=only)
    except adminvalues.AdminError as exc:  # a name in no table: the usage error of every other command
        print(f"emaillog: {exc}", file=sys.stderr)
        return EXIT_USAGE


def add_check_commands(commands: Any) -> None:
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
    p.add_argument(
        "--no-imap",
        action="store_true",
        help="do not log in: no login check, no intake or Error folder count",
    )


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    row = errors.find_row(open_store(settings), args.which, as_uid=args.uid)
    if args.json:
        return print_json({**views.ledger_row(row), "trace": json.loads(row.trace_json or "[]")})
    print("\n".join(errors.explain(row)))
    return 0


def _errors_list(args: argparse.Namespace, settings: Settings) -> int:
    ledger = errors.error_rows(open_store(settings), settings)
    # The ledger says Error; the folder says what is still there (a person may have deleted some).
    # Nothing in the ledger's Error: nothing to look for there, and no login (a server away is no failure).
    there = None if args.no_imap or settings.imap is None or not ledger else _still_there(settings, ledger)
    rows = [
        {**views.ledger_row(r), "in_error_folder": None if there is None else r.id in there} for r in ledger
    ]
    if args.json:
        return print_json(rows)
    for row in rows:
        if row["in_error_folder"] is not False:
            _print_error_row(row)
    gone = [f"#{row['id']}" for row in rows if row["in_error_folder"] is False]
    if gone:
        print(
            f"{len(gone)} no longer in {settings.error_folder} (deleted or moved by hand), "
            f"though the ledger put them there: {', '.join(gone)}"
        )
    if there is None and rows:
        print(
            f"(from the ledger alone: the {settings.error_folder} folder was not looked at)", file=sys.stderr
        )
    return 0


def _still_there(settings: Settings, ledger: list[Ledger]) -> set[int]:
    try:
        return errors.still_in_error_folder(settings, ledger)
    except MailboxError as exc:
        if not isinstance(exc, FolderUnusable | LoginRefused):  # told as they are (78, 77)
            # The list itself is in the ledger: say how to have it while the server is away.
            exc.add_note(
                "`emaillog errors list --no-imap` lists what the ledger says without looking in the "
                f"{settings.error_folder} folder"
            )
        raise


def _print_error_row(row: dict[str, Any]) -> None:
    # The Message-ID and the detail are the sender's text: terminal.shown escapes control characters.
    print(
        f"#{row['id']}  uid={row['uid']}  {row['reason']}  {terminal.shown(row['owner'] or None)}  "
        f"{terminal.shown(row['message_id'] or None)}"
    )
    if row["detail"]:
        print(f"      {terminal.shown(row['detail'])}")


def _errors_retry(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    if args.all:
        rows = errors.error_rows(store, settings)
    elif args.id is None:
        raise adminvalues.AdminError("give a ledger id (see: emaillog errors list) or --all")
    else:
        rows = [errors.in_error_folder(errors.find_row(store, args.id), settings)]
    if settings.imap is None:
        raise adminvalues.AdminError("no mailbox is configured (EMAILLOG_IMAP_HOST)")
    report = errors.retry(store, settings, rows, _progress if sys.stderr.isatty() else None)
    print(
        f"moved back to {settings.intake_folder}: {len(report.moved)}; not found in "
        f"{settings.error_folder}: {len(report.missing)}"
    )
    if report.moved and not args.no_pass:
        if worked_elsewhere(settings):
            # The daemon's own pass (IDLE: at once) takes them; a pass of ours could only fail on
            # its lease, with an exit code saying the retry failed when it did not.
            print(f"the running daemon works {settings.mailbox_name}: it passes them now")
            return 0
        return run(settings, once=True, dry_run=False)
    return 0 if not report.missing else 1


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done}/{total}")
    sys.stderr.write("\n" if done == total else "")


def add_why_commands(commands: Any) -> None:
    p = add_command(
        commands, "explain", _explain, "show the rule trace of one message: why was it logged or not?"
    )
    p.add_argument("which", metavar="LEDGER-ID-or-UID", help="a ledger id, or uid:NUMBER for an IMAP UID")
    p.add_argument("--uid", action="store_true", help="read the number as a UID")
    p.add_argument("--json", action="store_true")
    group = add_group(commands, "errors", "messages in the Error folder")
    p = add_command(group, "list", _errors_list, "list them with their reasons")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--no-imap", action="store_true", help="list what the ledger says without logging in to look"
    )
    p = add_command(
        group, "retry", _errors_retry, "put messages back through the pipeline after fixing the cause"
    )
    # Both given, --all ran and the id was not looked at: which one the admin meant is not known.
    which = p.add_mutually_exclusive_group()
    which.add_argument("id", nargs="?", metavar="ID")
    which.add_argument("--all", action="store_true")
    p.add_argument("--no-pass", action="store_true", help="only move them back; the daemon picks them up")


def _attachments_verify(args: argparse.Namespace, settings: Settings) -> int:
    # Without --mailbox: every mailbox's account, as the data dir is the deployment's.
    accounts = {mailbox.account for mailbox in settings.all_mailboxes()}
    db = open_database(settings.database_url)
    try:
        result = verify(db, settings.attachments_dir, accounts, remove_orphans=args.remove_orphans)
    finally:
        db.close()
    if args.json:
        print_json({**asdict(result), "findings": [_finding_row(f) for f in result.findings]})
    else:
        for finding in result.findings:
            print(_finding_line(_finding_row(finding)))
        print(_verified_summary(result))
    return 0 if result.clean else 1


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {**asdict(finding), "path": str(finding.path)}


def _finding_line(row: dict[str, Any]) -> str:
    emails = " ".join(f"#{i}" for i in row["emails"])
    more = f" and {row['more_emails']} more" if row["more_emails"] else ""
    named = f"  (emails {emails}{more})" if emails else ""
    return f"{row['kind']:<10} {terminal.shown(row['path'])}  {row['detail']}{named}"


_KINDS = ("missing", "size", "sha256", "unreadable", "orphan", "removed", "unknown")


def _verified_summary(result: Verified) -> str:
    counts = Counter(f.kind for f in result.findings)
    found = ", ".join(f"{counts[kind]} {kind}" for kind in _KINDS if counts[kind]) or "nothing wrong"
    recent = f"; {result.recent} under an hour old that no row names yet, left alone" if result.recent else ""
    return f"{result.files} files checked ({result.bytes / 1e6:.1f} MB): {found}{recent}"


def add_file_commands(commands: Any) -> None:
    group = add_group(commands, "attachments", "the stored attachment files")
    p = add_command(
        group,
        "verify",
        _attachments_verify,
        "check each stored file against its rows (missing, size, SHA-256) and find files no row names",
    )
    p.add_argument(
        "--remove-orphans", action="store_true", help="delete files no row names (those over an hour old)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(every_mailbox=True)
