"""SPEC §2: which user a message belongs to, decided from its sending address in a fixed order."""

from __future__ import annotations

from .model import Attribution, Lookup


def attribute(key: str, lookup: Lookup) -> Attribution:
    """Apply rules 0–4 of §2 in order; the first that decides wins."""
    owner = lookup.team_inbox_owner(key)
    if owner is not None:
        return Attribution(owner, "team-inbox")
    connected = lookup.users_connected(key)
    if len(connected) == 1:
        return Attribution(connected[0][0], "connected")
    owner = lookup.user_by_login(key)
    if owner is not None:
        return Attribution(owner, "login")
    aliased = lookup.users_with_alias(key)
    if len(aliased) == 1:
        return Attribution(aliased[0], "alias")
    if connected:
        # Several users connected the same address: the one who connected it first keeps it.
        earliest = min(connected, key=lambda pair: (pair[1], pair[0].id))
        return Attribution(earliest[0], "connected-earliest")
    return Attribution(None, "none")
