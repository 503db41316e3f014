"""SPEC §5: a forward in which no forwarded message can be found is refused with advice."""

from __future__ import annotations

from .model import Facts, Hit


class ForwardNotRecognised:
    name = "forward-not-recognised"

    def check(self, facts: Facts) -> Hit | None:
        if facts.route != "forward" or facts.forward_found:
            return None
        return Hit(self.name, "no forwarded message was found in the body or as an attachment")
