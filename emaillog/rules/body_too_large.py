"""SPEC §8: a body (text and HTML, attachments not counted) over the limit is not logged."""

from __future__ import annotations

from .model import Facts, Hit


class BodyTooLarge:
    name = "body-too-large"

    def check(self, facts: Facts) -> Hit | None:
        size, limit = facts.email.body_bytes, facts.max_body_bytes
        if size <= limit:
            return None
        return Hit(
            self.name,
            f"the email body is {size:,} bytes, over the limit of {limit:,} bytes",
            {"body_bytes": size, "limit": limit},
        )
