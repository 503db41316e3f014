"""SPEC §12: when the receiving server's verdict is trusted, only authenticated senders may log."""

from __future__ import annotations

from .model import Facts, Hit


class Unauthenticated:
    name = "unauthenticated"

    def check(self, facts: Facts) -> Hit | None:
        verdict = facts.authentication
        if verdict is None or verdict.passed:
            return None
        return Hit(
            self.name,
            f"the sender's domain did not pass authentication ({verdict.reason})",
            {"verdict": verdict.reason, **verdict.evidence},
        )
