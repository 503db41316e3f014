"""How a command of the command line is declared: its sub-parser and handler, the types of its
arguments, JSON output, and the `list` and `import` commands the data groups share.

Every area of commands builds its part of the parser with these, so each command's help and
answer read the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import adminvalues, terminal
from ..runner import EXIT_CONFIG
from ..settings import Settings
from ..store import Store, StoreNotReady, open_store
from ..store.models import MAX_ID

# A handler takes the parsed arguments and the settings, and returns the exit code.
Handler = Callable[[argparse.Namespace, Settings], int]


def iso_time(text: str) -> datetime:
    try:
        return adminvalues.parse_time(text)
    except adminvalues.AdminError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def row_id(text: str) -> int:
    """The id of a row (see the list commands), within what a database column holds."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a whole number)") from None
    if not 1 <= value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{text} is not an id (ids run from 1 to {MAX_ID})")
    return value


def print_json(data: Any) -> int:
    sys.stdout.write(terminal.json_text(data) + "\n")
    return 0


def print_notes(notes: list[str]) -> None:
    """What a command that succeeded tells the admin beside its answer (formercontacts.py): on stderr,
    as every other line of emaillog's own, so that stdout stays the answer a script reads."""
    for note in notes:
        print(f"emaillog: {note}", file=sys.stderr)


def add_command(parent: Any, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def add_group(parent: Any, name: str, help_text: str) -> Any:
    parser = parent.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def list_command(
    group: Any, what: str, view: Callable[[Store], list[dict[str, Any]]], columns: Sequence[str]
) -> None:
    add_command(group, "list", _listing(view, columns), f"list {what}").add_argument(
        "--json", action="store_true"
    )


def _listing(view: Callable[[Store], list[dict[str, Any]]], columns: Sequence[str]) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        rows = view(open_store(settings))
        if args.json:
            return print_json(rows)
        for row in rows:
            print(terminal.row_line(row, columns))
        return 0

    return handler


def import_command(group: Any, kind: str, columns: str) -> None:
    p = add_command(
        group, "import", _importer(kind), f"add or update {kind} from a CSV file (columns: {columns})"
    )
    p.add_argument("file", type=Path, metavar="FILE", help="UTF-8 CSV, comma or semicolon; a header row")
    p.add_argument("--dry-run", action="store_true", help="check the file and report; write nothing")


def _importer(kind: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        from ..csvimport import dry_run, import_file

        if not args.dry_run:
            summary, notes = import_file(open_store(settings), settings, kind, args.file, dry_run=False)
        else:
            try:
                summary, notes = dry_run(settings, kind, args.file)
            except StoreNotReady as exc:  # a schema to upgrade first: as `run --dry-run` says it
                print(f"emaillog: --dry-run: {exc}", file=sys.stderr)
                return EXIT_CONFIG
        print(summary)
        print_notes(notes)
        return 0

    return handler
