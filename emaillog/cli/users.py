"""The `users` and `team-inboxes` commands: who the account's users are, which addresses are theirs
(aliases, connected personal addresses) and which shared addresses a user connected.

Each handler checks and writes through admin.py, the same as the CSV import of users.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import admin, formercontacts, views
from ..settings import Settings
from ..store import open_store
from .declare import add_command, add_group, import_command, iso_time, list_command, print_notes

# What the `list` commands print a line of per row; --json prints every field.
USER_COLUMNS = ("email", "name", "active", "may_log", "aliases", "connected", "team_inboxes", "emails")
INBOX_COLUMNS = ("address", "connected_by", "connected_at")


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    user = admin.add_user(store, settings, args.email, args.name, not args.inactive, not args.no_logging)
    print_notes(formercontacts.as_internal(store, [user.email], formercontacts.AS_USER))
    return 0


def _users_connect(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    key = admin.connect_address(store, settings, args.email, args.address, args.at)
    print_notes(formercontacts.as_internal(store, [key], formercontacts.AS_USER))
    return 0


def _users_alias(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    key = admin.add_alias(store, settings, args.email, args.address)
    print_notes(formercontacts.as_internal(store, [key], formercontacts.AS_USER))
    return 0


def _users_disconnect(args: argparse.Namespace, settings: Settings) -> int:
    admin.remove_user_address(open_store(settings), settings, args.email, args.address, "connected")
    return 0


def _users_unalias(args: argparse.Namespace, settings: Settings) -> int:
    admin.remove_user_address(open_store(settings), settings, args.email, args.address, "alias")
    return 0


def _users_remove(args: argparse.Namespace, settings: Settings) -> int:
    admin.remove_user(open_store(settings), settings, args.email)
    return 0


def _team_inbox_add(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)
    key = admin.add_team_inbox(store, settings, args.address, args.connected_by, args.at)
    print_notes(formercontacts.as_internal(store, [key], formercontacts.AS_TEAM_INBOX))
    return 0


def _team_inbox_remove(args: argparse.Namespace, settings: Settings) -> int:
    admin.remove_team_inbox(open_store(settings), settings, args.address)
    return 0


def add_commands(commands: Any) -> None:
    users = add_group(commands, "users", "CRM users and their addresses")
    p = add_command(users, "add", _users_add, "add or update a user")
    p.add_argument("email")
    p.add_argument("--name")
    p.add_argument(
        "--inactive",
        action="store_true",
        help="deactivate the user: their email is no longer logged, what was logged stays (the way to retire "
        "a user who owns logged email; `users add EMAIL` again reactivates)",
    )
    p.add_argument("--no-logging", action="store_true", help="the user's seat may not log email")
    import_command(users, "users", "email, name, active, may_log, aliases, connected")
    p = add_command(users, "connect", _users_connect, "connect a personal address to a user")
    p.add_argument("email")
    p.add_argument("address")
    p.add_argument("--at", type=iso_time, help="when it was connected (ISO 8601; default now)")
    p = add_command(users, "alias", _users_alias, "add an alias to a user")
    p.add_argument("email")
    p.add_argument("address")
    list_command(
        users, "users, their aliases, connected addresses and team inboxes", views.users, USER_COLUMNS
    )
    p = add_command(users, "disconnect", _users_disconnect, "disconnect a personal address from a user")
    p.add_argument("email")
    p.add_argument("address")
    p = add_command(users, "unalias", _users_unalias, "remove an alias of a user")
    p.add_argument("email")
    p.add_argument("address")
    p = add_command(
        users,
        "remove",
        _users_remove,
        "remove a user who owns no logged email and no team inbox (otherwise: users add --inactive)",
    )
    p.add_argument("email")
    inboxes = add_group(commands, "team-inboxes", "shared addresses connected by a user")
    p = add_command(inboxes, "add", _team_inbox_add, "add or re-connect a team inbox")
    p.add_argument("address")
    p.add_argument("--connected-by", required=True, metavar="EMAIL")
    p.add_argument("--at", type=iso_time)
    list_command(inboxes, "team inboxes and who connected them", views.team_inboxes, INBOX_COLUMNS)
    add_command(inboxes, "remove", _team_inbox_remove, "remove a team inbox").add_argument("address")
