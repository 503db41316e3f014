"""The `never-log`, `companies` and `deals` commands: the CRM records an admin keeps by hand beside
what logged email creates: the never-log list (SPEC §6), companies (§7) and deals (§4).

Each handler checks and writes through admin.py, the same as the CSV import of these kinds.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import admin, adminvalues, formercontacts, terminal, views
from ..settings import Settings
from ..store import open_store
from .declare import (
    Handler,
    add_command,
    add_group,
    import_command,
    iso_time,
    list_command,
    print_json,
    print_notes,
    row_id,
)

# What the `list` commands print a line of per row; --json prints every field.
COMPANY_COLUMNS = ("domain", "name", "contacts")
DEAL_COLUMNS = ("id", "name", "state", "created", "contacts")


def _never_log_add(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    entry = admin.add_never_log(store, settings, args.value)
    print(terminal.shown(entry))
    print_notes(formercontacts.on_never_log(store, entry))
    return 0


def _never_log_remove(args: argparse.Namespace, settings: Settings) -> int:
    if not admin.remove_never_log(open_store(settings), settings, args.value):
        # A usage error (2), like any other name the admin got wrong; 1 is for the unexpected.
        raise adminvalues.AdminError(
            f"{args.value} is not on the never-log list (see: emaillog never-log list)"
        )
    return 0


def _never_log_list(args: argparse.Namespace, settings: Settings) -> int:
    entries = admin.list_never_log(open_store(settings))
    if args.json:
        return print_json(entries)
    # An address keeps a bidi override or a zero-width space it was given: escaped, as in every list.
    print("\n".join(terminal.shown(e) for e in entries))
    return 0


def _companies_add(args: argparse.Namespace, settings: Settings) -> int:
    admin.add_company(open_store(settings), args.domain, args.name)
    return 0


def _deals_add(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    admin.add_deal(store, settings, args.name, args.contact, args.closed, args.created, args.another)
    return 0


def _deal_state(is_open: bool) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        admin.set_deal_open(open_store(settings), args.id, is_open)
        return 0

    return handler


def add_commands(commands: Any) -> None:
    never = add_group(commands, "never-log", "addresses and domains never logged (SPEC §6)")
    add_command(never, "add", _never_log_add, "add an address or a domain").add_argument("value")
    add_command(never, "remove", _never_log_remove, "remove an entry").add_argument("value")
    add_command(never, "list", _never_log_list, "list the entries").add_argument(
        "--json", action="store_true"
    )
    import_command(never, "never-log", "value")
    companies = add_group(commands, "companies", "companies")
    p = add_command(companies, "add", _companies_add, "add a company by domain")
    p.add_argument("domain")
    p.add_argument("--name")
    import_command(companies, "companies", "domain, name")
    list_command(companies, "companies and their number of contacts", views.companies, COMPANY_COLUMNS)
    deals = add_group(commands, "deals", "deals")
    p = add_command(deals, "add", _deals_add, "add a deal; missing contacts are created")
    p.add_argument("name")
    p.add_argument("--contact", action="append", required=True, metavar="EMAIL")
    p.add_argument("--closed", action="store_true")
    p.add_argument("--created", type=iso_time)
    p.add_argument(
        "--another", action="store_true", help="add it even when a deal of that name exists already"
    )
    import_command(deals, "deals", "name, contacts, closed, created")
    list_command(deals, "deals, open or closed, with their contacts", views.deals, DEAL_COLUMNS)
    add_command(
        deals, "close", _deal_state(False), "close a deal: no more email is linked to it"
    ).add_argument("id", type=row_id, metavar="ID")
    add_command(deals, "reopen", _deal_state(True), "reopen a closed deal").add_argument(
        "id", type=row_id, metavar="ID"
    )
