"""The `contacts`, `emails` and `ledger` commands: reading what the daemon logged and decided, a list
per group and one record in full (`show`). They only read, through views.py; terminal.py prints
the sender's text with its control characters escaped.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import adminvalues, terminal, views
from ..settings import Settings
from ..store import open_store
from .declare import add_command, add_group, list_command, print_json, row_id


def _emails_show(args: argparse.Namespace, settings: Settings) -> int:
    email = views.email_detail(open_store(settings), args.id)
    if email is None:
        raise adminvalues.AdminError(f"no logged email with the id {args.id} (see: emaillog emails list)")
    if args.json:
        return print_json(email)
    print("\n".join(terminal.email_lines(email, html=args.html)))
    return 0


def _contacts_show(args: argparse.Namespace, settings: Settings) -> int:
    key = adminvalues.email_key(settings, args.address)
    contact = views.contact_detail(open_store(settings), key)
    if contact is None:
        raise adminvalues.AdminError(f"no contact with the address {key} (see: emaillog contacts list)")
    if args.json:
        return print_json(contact)
    print("\n".join(terminal.contact_lines(contact)))
    return 0


def add_commands(commands: Any) -> None:
    groups: dict[str, Any] = {}
    for group, what, view, columns in (
        ("contacts", "contacts: list, show", views.contacts, ("id", "addresses", "name", "company")),
        (
            "emails",
            "logged emails: list, show",
            views.emails,
            ("id", "route", "direction", "owner", "subject", "contacts"),
        ),
        (
            "ledger",
            "list the ledger",
            views.ledger,
            ("id", "uid", "message_id", "outcome", "reason", "folder"),
        ),
    ):
        groups[group] = add_group(commands, group, what)
        list_command(groups[group], group, view, columns)
    p = add_command(groups["emails"], "show", _emails_show, "everything about one logged email")
    p.add_argument("id", type=row_id, metavar="ID", help="its id (see: emaillog emails list)")
    p.add_argument("--json", action="store_true", help="as JSON, with the sanitised HTML body")
    p.add_argument("--html", action="store_true", help="also print the sanitised HTML body")
    p = add_command(
        groups["contacts"], "show", _contacts_show, "one contact: its company, deals and logged emails"
    )
    p.add_argument("address", metavar="ADDRESS", help="any of its addresses")
    p.add_argument("--json", action="store_true")
