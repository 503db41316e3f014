"""The demo mailbox: with no IMAP server configured, emaillog starts a private Dovecot under the
data dir, seeds it with sample BCC'd and forwarded emails, and adds demo users to the CRM, so a
newcomer sees mail being logged within seconds of the first run."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .admin import add_deal, add_user, connect_address
from .devmail import DevDovecot, DevDovecotError, dovecot_available
from .settings import ImapSettings, Settings
from .store import Store
from .store.models import Deal

log = logging.getLogger("emaillog.demo")
DOMAIN = "demo-company.example"
REPS = (("alice@" + DOMAIN, "Alice Rep"), ("bob@" + DOMAIN, "Bob Rep"))


class DemoUnavailable(RuntimeError):
    """Dovecot is not installed, so there is no demo mailbox to start."""


def demo_settings(settings: Settings, server: DevDovecot, password: str) -> Settings:
    imap = ImapSettings(host=server.host, port=server.port, security="none", user="log", password=password)
    return dataclasses.replace(
        settings,
        imap=imap,
        bcc_address="log@" + DOMAIN,
        forward_address="log+fwd@" + DOMAIN,
        company_domains=frozenset({DOMAIN}),
    )


def start_demo(settings: Settings) -> tuple[DevDovecot, Settings]:
    """Start the demo Dovecot; seed it the first time. Returns the server and the settings to use."""
    if not dovecot_available():
        raise DemoUnavailable(
            "no mailbox is configured (EMAILLOG_IMAP_HOST) and Dovecot is not installed "
            "for the demo mailbox: run scripts/bootstrap, or configure a mailbox"
        )
    root = settings.data_dir / "demo-mailbox"
    root.mkdir(parents=True, exist_ok=True)
    password_file = root / "password"
    first_run = not password_file.exists()
    if first_run:
        password_file.write_text(secrets.token_urlsafe(16))
    password = password_file.read_text().strip()
    server = DevDovecot(root / "dovecot")
    try:
        server.start()
    except DevDovecotError as exc:
        raise DemoUnavailable(f"the demo mailbox could not start: {exc}") from exc
    server.add_user("log", password)
    if first_run:
        server.seed_maildir("log", "INBOX", sample_messages())
        log.info("demo mailbox seeded with %d sample emails", len(sample_messages()))
    log.info("demo mailbox: imap://log@%s:%d (Dovecot under %s)", server.host, server.port, root)
    return server, demo_settings(settings, server, password)


def seed_crm(store: Store, settings: Settings) -> None:
    """Demo users and a deal, so the samples land on real records (idempotent)."""
    for email, name in REPS:
        add_user(store, settings, email, name, active=True, may_log=True)
        connect_address(store, settings, email, email, None)
    if not Deal.select().where(Deal.account == store.account_id).exists():
        add_deal(store, settings, "Globex renewal 2027", ["jane@globex.example"], False, None)


def _message(
    sender: str, to: list[str], subject: str, body: str, cc: list[str] | None = None, age_days: int = 0
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), subject
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(days=age_days))
    msg["Message-ID"] = make_msgid(domain=DOMAIN)
    msg["Delivered-To"] = "log@" + DOMAIN
    msg.set_content(body)
    return bytes(msg)


def sample_messages() -> list[bytes]:
    alice, bob = REPS[0][0], REPS[1][0]
    forward = _message(
        bob,
        ["log+fwd@" + DOMAIN],
        "Fwd: Question about pricing",
        "FYI, logging this.\n\n---------- Forwarded message ---------\n"
        "From: Carol Customer <carol@initech.example>\nDate: Mon, 23 Nov 2026 at 09:15\n"
        "Subject: Question about pricing\nTo: Bob Rep <bob@demo-company.example>\n\n"
        "Hi Bob, what would 50 seats cost?\nCarol\n",
    )
    forward = forward.replace(b"Delivered-To: log@", b"Delivered-To: log+fwd@")
    return [
        _message(
            f"Alice Rep <{alice}>",
            ["Jane Smith <jane@globex.example>"],
            "Our proposal",
            "Hi Jane,\n\nplease find our proposal below.\n\nAlice",
            age_days=2,
        ),
        _message(
            f"Alice Rep <{alice}>",
            ["Jane Smith <jane@globex.example>"],
            "Re: Our proposal",
            "Hi Jane, following up on the proposal.\n\nAlice",
            cc=["Tom Jones <tom@globex.example>", bob],
            age_days=1,
        ),
        _message(
            f"Bob Rep <{bob}>",
            ["sam.personal@gmail.com"],
            "Lunch next week?",
            "Hi Sam, lunch next week?\nBob",
        ),
        _message(
            "Mallory <mallory@elsewhere.example>",
            ["someone@globex.example"],
            "Not a rep",
            "This sender is not a CRM user, so the message goes to the Error folder.",
        ),
        forward,
    ]
