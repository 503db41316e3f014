"""SPEC §2: an inactive user, or one whose seat may not log email, is refused."""

from __future__ import annotations

from .model import Facts, Hit


class SenderNotPermitted:
    name = "sender-not-permitted"

    def check(self, facts: Facts) -> Hit | None:
        user = facts.attribution.user
        if user is None or (user.active and user.may_log):
            return None
        why = "is deactivated" if not user.active else "has a seat that may not log email"
        return Hit(
            self.name,
            f"the user {user.email} {why}",
            {"user": user.email, "active": user.active, "may_log": user.may_log},
        )
