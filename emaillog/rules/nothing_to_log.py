"""SPEC §4: when every recipient is internal or never-log there is nothing to log."""

from __future__ import annotations

from .model import Facts, Hit


class NothingToLog:
    name = "no-recipients"

    def check(self, facts: Facts) -> Hit | None:
        if any(plan.contacts for plan in facts.plans):
            return None
        left_out = {r.key: r.excluded or "not a contact" for r in facts.recipients}
        return Hit(self.name, "no recipient is left to log the email on", {"left_out": left_out})
