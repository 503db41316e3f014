"""What each outcome reason means in a notice: RFC 3463 status, RFC 3464 action, title, template.

The table is data: the rules name a reason code, and the notice builder and the suppression policy look
it up here. Status codes (RFC 3463 §3, with RFC 7372 for X.7.26):

- X.7.1 "Delivery not authorized, message refused" — the CRM refuses this sender (not a user, not
  allowed to log) or, for ``never-log``, refuses the original sender by per-recipient policy.
- X.6.0 "Other or undefined media error" — the content could not be understood (no forwarded message
  found; hostile or broken MIME structure).
- X.3.4 "Message too big for system" — the body is over the size limit.
- 2.6.4 "Conversion with loss performed" — RFC 3463 names it as the warning for a *successful*
  delivery that lost data, which is exactly an email logged without its oversized attachments. The
  action is ``delivered`` (RFC 3464 §2.3.3): a "delivered with warnings" notice, not a bounce.
- X.3.0 "Other or undefined mail system status" — our own failure; 4.3.0 while retries remain, 5.3.0
  once the message is given up (SPEC §10: after three attempts it goes to Error).
- X.1.0 "Other address status" — for ``no-recipients`` (a notice only with
  EMAILLOG_NOTICE_ON_SKIPPED): the addresses the email was sent to are what left it unlogged, every
  one of them internal or never-log.
- X.7.26 "Multiple authentication checks failed" (RFC 7372) — recorded for ``unauthenticated``, which
  never gets a notice: answering unauthenticated mail would be backscatter (SPEC §11, §12).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason code as it appears in a notice.

    ``template`` is the file name under the notices templates directory; ``None`` means the reason
    never gets a notice. ``transient_status`` is the status while the message is still retried.
    ``variants`` name other texts for the same reason, ``{code}-{variant}.txt``, chosen by the
    notice's ``variant`` detail: the status and the report stay the reason's own.
    """

    code: str
    status: str
    action: str
    title: str
    subject_prefix: str
    template: str | None
    transient_status: str | None = None
    variants: tuple[str, ...] = ()

    @property
    def notifies(self) -> bool:
        return self.template is not None

    def template_for(self, variant: str | None) -> str | None:
        """The template of ``variant`` (None: the reason's own); an unknown variant is a bug."""
        if variant is None or self.template is None:
            return self.template
        if variant not in self.variants:
            raise ValueError(f"reason {self.code!r} has no notice variant {variant!r}")
        return f"{self.code}-{variant}.txt"


def _reason(
    code: str,
    status: str,
    action: str,
    title: str,
    prefix: str,
    notifies: bool = True,
    variants: tuple[str, ...] = (),
) -> Reason:
    return Reason(code, status, action, title, prefix, f"{code}.txt" if notifies else None, variants=variants)


_NOT_LOGGED = "Not logged"

REASONS: Mapping[str, Reason] = MappingProxyType(
    {
        r.code: r
        for r in (
            _reason("sender-not-a-user", "5.7.1", "failed", "The sender is not a CRM user", _NOT_LOGGED),
            _reason("sender-not-permitted", "5.7.1", "failed", "The sender may not log email", _NOT_LOGGED),
            # "encrypted": the forward itself was encrypted, so nothing in it could be read.
            _reason(
                "forward-not-recognised",
                "5.6.0",
                "failed",
                "No forwarded message was found",
                _NOT_LOGGED,
                variants=("encrypted",),
            ),
            _reason("body-too-large", "5.3.4", "failed", "The email body is too large", _NOT_LOGGED),
            _reason(
                "attachment-too-large",
                "2.6.4",
                "delivered",
                "Logged without some attachments",
                "Logged without some attachments",
            ),
            _reason("malformed", "5.6.0", "failed", "The message could not be read", _NOT_LOGGED),
            _reason(
                "never-log",
                "5.7.1",
                "failed",
                "The original sender is on the never-log list",
                _NOT_LOGGED,
            ),
            _reason(
                "no-recipients",
                "5.1.0",
                "failed",
                "No recipient outside the company to log the email on",
                _NOT_LOGGED,
            ),
            Reason(
                "processing-failed",
                "5.3.0",
                "failed",
                "The message could not be processed",
                _NOT_LOGGED,
                "processing-failed.txt",
                transient_status="4.3.0",
            ),
            _reason(
                "unauthenticated",
                "5.7.26",
                "failed",
                "The sender could not be authenticated",
                _NOT_LOGGED,
                notifies=False,
            ),
        )
    }
)


def reason_for(code: str) -> Reason:
    """The table entry for ``code``; an unknown code is a programming error, not hostile input."""
    try:
        return REASONS[code]
    except KeyError:
        raise ValueError(f"unknown notice reason: {code!r}") from None
