"""SPEC §2: which user a message belongs to, decided from its sending address in a fixed order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .model import Attribution, Lookup, UserRef


def attribute(key: str, lookup: Lookup) -> Attribution:
    """Apply rules 0–4 of §2 in order; the first that decides wins.

    A deactivated user keeps no address from an active user who holds it too: a rep who left
    cannot be removed once they own logged email (admin.remove_user), and their earlier connection
    of a shared address would otherwise refuse its mail for everyone (``sender-not-permitted``).
    The order is then applied among the active users. Only a refusal changes: an address no active
    user holds still goes to the deactivated one, so the message is refused naming them.
    """
    everyone = _attribute(key, lookup, lambda user: True)
    if everyone.user is None or everyone.user.active:
        return everyone
    active = _attribute(key, lookup, lambda user: user.active)
    if active.user is None:
        return everyone
    return replace(active, passed_over=everyone.user.email)


def _attribute(key: str, lookup: Lookup, counts: Callable[[UserRef], bool]) -> Attribution:
    owner = lookup.team_inbox_owner(key)
    if owner is not None and counts(owner):
        return Attribution(owner, "team-inbox")
    connected = [pair for pair in lookup.users_connected(key) if counts(pair[0])]
    if len(connected) == 1:
        return Attribution(connected[0][0], "connected")
    owner = lookup.user_by_login(key)
    if owner is not None and counts(owner):
        return Attribution(owner, "login")
    aliased = [user for user in lookup.users_with_alias(key) if counts(user)]
    if len(aliased) == 1:
        return Attribution(aliased[0], "alias")
    if connected:
        # Several users connected the same address: the one who connected it first keeps it.
        earliest = min(connected, key=lambda pair: (pair[1], pair[0].id))
        return Attribution(earliest[0], "connected-earliest")
    return Attribution(None, "none")
