"""Delivery-failure notices to reps (SPEC §11): reasons, RFC 3464 reports, and when never to send.

Pure code: building a notice and deciding whether it may be sent. Queueing and SMTP live elsewhere.
"""

from emaillog.notices.build import NoticeRequest, build_notice
from emaillog.notices.policy import NoticeFacts, SuppressionVerdict, notice_allowed
from emaillog.notices.reasons import REASONS, Reason, reason_for

__all__ = [
    "REASONS",
    "NoticeFacts",
    "NoticeRequest",
    "Reason",
    "SuppressionVerdict",
    "build_notice",
    "notice_allowed",
    "reason_for",
]
