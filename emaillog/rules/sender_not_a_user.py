"""SPEC §2: only a CRM user's message may be logged."""

from __future__ import annotations

from .model import Facts, Hit


class SenderNotAUser:
    name = "sender-not-a-user"

    def check(self, facts: Facts) -> Hit | None:
        if facts.attribution.user is not None:
            return None
        sender = facts.email.sender.address if facts.email.sender else None
        return Hit(self.name, f"{sender} is not the address of any CRM user", {"sender": sender})
