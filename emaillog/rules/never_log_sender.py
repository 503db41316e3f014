"""SPEC §6: a forwarded reply whose original sender is on the never-log list is not logged."""

from __future__ import annotations

from .model import Facts, Hit


class NeverLogSender:
    name = "never-log"

    def check(self, facts: Facts) -> Hit | None:
        sender = facts.original_sender
        if sender is None or sender.excluded != "never-log":
            return None
        return Hit(
            self.name, f"the original sender {sender.key} is on the never-log list", {"sender": sender.key}
        )
