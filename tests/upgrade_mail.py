"""The mail of the old databases under tests/data/upgrades: what an older emaillog was given to log
(made by tests/data/upgrades/make_old_database.py), and copies of the same emails that reach the
current version after the upgrade, each through another path."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default

from support import FWD, message

RITA, SAM = "Rita Rep <rita@acme.example>", "Sam Seller <sam@acme.example>"
CARL, JANE = "Carl Customer <carl@globex.example>", "Jane Smith <jane@globex.example>"
# A plain-text table: its first 8,000 characters hold no letters, its words come after.
TABLE = ("| " + " | ".join(["--"] * 10) + " |\n") * 300 + "Figures above. Rita\n" + "word " * 600


def _on(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 30, tzinfo=UTC)


def inline_forward(
    sender: str, original_from: str, date: str, subject: str, to: str, body: str, mid: str
) -> bytes:
    text = (
        f"Please log this.\n\n---------- Forwarded message ---------\nFrom: {original_from}\n"
        f"Date: {date}\nSubject: {subject}\nTo: {to}\n\n{body}\n"
    )
    return message(
        sender=sender,
        to=[FWD],
        subject="Fwd: " + subject,
        body=text,
        message_id=mid,
        delivered_to=FWD,
        date=_on(21, 9),
    )


def attached_forward(sender: str, inner: bytes, mid: str) -> bytes:
    outer = EmailMessage()
    outer["Delivered-To"] = FWD
    outer["From"] = sender
    outer["To"] = FWD
    outer["Subject"] = "FW: attached"
    outer["Date"] = "Sat, 21 Nov 2026 11:00:00 +0100"
    outer["Message-ID"] = mid
    outer.set_content("Please log.\n")
    outer.add_attachment(message_from_bytes(inner, policy=default), filename="original.eml")
    return outer.as_bytes(policy=SMTP)


def _proposal(**extra: str) -> bytes:
    return message(
        sender=RITA,
        to=[CARL],
        subject="Proposal",
        body="Hello Carl,\nhere is our proposal.\nRita",
        message_id="<m1@acme.example>",
        date=_on(16, 10),
        headers=extra,
    )


def _pricing(mid: str) -> bytes:
    return inline_forward(
        RITA,
        CARL,
        "Wed, Nov 18, 2026 at 8:15 AM",
        "Pricing question",
        RITA,
        "Hi Rita, what would 50 seats cost?\nCarl",
        mid,
    )


def _bare_id(**extra: str) -> bytes:
    return message(
        sender=RITA,
        to=[JANE],
        subject="Bare id",
        body="Jane, this one has a bare Message-ID.",
        message_id="bare6@acme.example",
        date=_on(18, 10),
        headers=extra,
    )


def _no_id(**extra: str) -> bytes:
    return message(
        sender=SAM,
        to=[CARL],
        subject="No id at all",
        body="Carl, my client wrote no Message-ID.",
        message_id=None,
        date=_on(18, 11),
        headers=extra,
    )


def _table(**extra: str) -> bytes:
    return message(
        sender=RITA,
        to=[JANE],
        subject="Long table",
        body=TABLE,
        message_id=None,
        date=_on(18, 13),
        headers=extra,
    )


LUNCH = message(
    sender=SAM,
    to=["Pat <pat.personal@gmail.com>"],
    subject="Lunch next week?",
    body="Hi Pat, lunch next week?\nSam",
    message_id="<m3@acme.example>",
    date=_on(17, 12),
)
FOLLOW_UP_BODY = "Carl, following up on the proposal, with Jane in copy.\nRita"

# Given to the old version: users rita and sam may log, nina may not (a notice goes to the outbox).
OLD_BATCH = (
    message(
        sender="Nina <nina@acme.example>",
        to=[CARL],
        subject="Nina writes",
        body="Carl, Nina here.",
        message_id="<m10@acme.example>",
        date=_on(18, 14),
    ),
    _proposal(),
    message(
        sender=RITA,
        to=[CARL],
        cc=[JANE, "sam@acme.example"],
        subject="Re: Proposal",
        body=FOLLOW_UP_BODY,
        message_id="<m2@acme.example>",
        date=_on(17, 9),
        headers={"In-Reply-To": "<m1@acme.example>", "References": "<m1@acme.example>"},
    ),
    LUNCH,
    message(
        sender="Mallory <mallory@elsewhere.example>",
        to=["someone@globex.example"],
        subject="Not a rep",
        body="I am not a user.",
        message_id="<m4@elsewhere.example>",
        date=_on(17, 13),
    ),
    _pricing("<fwd5@acme.example>"),
    _bare_id(),
    _no_id(),
    message(
        sender=RITA,
        to=[CARL],
        subject="Contract",
        body="Carl, the contract is attached.",
        message_id="<m8@acme.example>",
        date=_on(18, 12),
        attachments=[("contract.pdf", b"%PDF-1.4 x" * 50)],
    ),
    _table(),
    _proposal(**{"X-Copy": "2"}),  # the same email delivered twice
)
# Delivered after OLD_BATCH's pass; the old version counted an attempt and was killed.
PENDING = message(
    sender=RITA,
    to=[JANE],
    subject="Mid-way",
    body="Jane, this one was mid-way at the upgrade.",
    message_id="<pending@acme.example>",
    date=_on(19, 9),
)

# After the upgrade: copies of emails the old version logged, then one new email.
COPIES = {
    "bcc-again": _proposal(**{"X-Copy": "3"}),
    "inline-forward-of-a-bcc": inline_forward(
        SAM,
        RITA,
        "Tue, Nov 17, 2026 at 9:30 AM",
        "Re: Proposal",
        CARL,
        FOLLOW_UP_BODY,
        "<fwd-m2@acme.example>",
    ),
    "attached-forward-of-a-bcc": attached_forward(SAM, LUNCH, "<att-m3@acme.example>"),
    "inline-forward-again": _pricing("<fwd5b@acme.example>"),
    "bare-message-id-again": _bare_id(**{"X-Copy": "2"}),
    "no-message-id-again": _no_id(**{"X-Copy": "2"}),
    "long-table-again": _table(**{"X-Copy": "2"}),
}
NEW = message(
    sender=RITA,
    to=[CARL],
    subject="Brand new",
    body="Carl, a new one after the upgrade.",
    message_id="<new@acme.example>",
    date=_on(20, 9),
)
