"""SPEC §5: a forward in which no forwarded message can be found is refused with advice.

A forward that is itself encrypted (or opaquely S/MIME-wrapped) cannot be read at all: the same
rejection, but its detail and data say so, and the rep's notice then explains encryption instead of
listing mail clients (``notices.plan``).
"""

from __future__ import annotations

from .model import Facts, Hit


class ForwardNotRecognised:
    name = "forward-not-recognised"

    def check(self, facts: Facts) -> Hit | None:
        if facts.route != "forward" or facts.forward_found:
            return None
        sealed = facts.email.sealed
        if sealed is not None and sealed.encrypted:
            detail = f"the forward was encrypted ({sealed.kind}), so no forwarded message could be read"
            return Hit(self.name, detail, {"encrypted": sealed.kind})
        if sealed is not None:
            detail = (
                f"the forward came in an S/MIME {sealed.form} wrapper that is not unpacked, "
                "so no forwarded message could be read"
            )
            return Hit(self.name, detail, {"wrapped": sealed.form})
        return Hit(self.name, "no forwarded message was found in the body or as an attachment")
