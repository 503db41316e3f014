"""The demo mailbox: with no IMAP server configured, emaillog starts a private Dovecot under the
data dir, seeds it with sample BCC'd and forwarded emails, and adds demo users to the CRM, so a
newcomer sees mail being logged within seconds of the first run."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from .admin import add_deal, add_user, connect_address
from .devmail import DevDovecot, DevDovecotError, dovecot_available, write_private
from .lease import FileLeases
from .settings import ImapSettings, Settings
from .store import Store
from .store.models import Deal

log = logging.getLogger("emaillog.demo")
DOMAIN = "demo-company.example"
REPS = (("alice@" + DOMAIN, "Alice Rep"), ("bob@" + DOMAIN, "Bob Rep"))


class DemoUnavailable(RuntimeError):
    """Dovecot is not installed, so there is no demo mailbox to start."""


class DemoBusy(RuntimeError):
    """Another emaillog process is starting the demo mailbox this very moment."""


def demo_settings(settings: Settings, host: str, port: int, password: str) -> Settings:
    imap = ImapSettings(host=host, port=port, security="none", user="log", password=password)
    return dataclasses.replace(
        settings,
        imap=imap,
        bcc_address="log@" + DOMAIN,
        forward_address="log+fwd@" + DOMAIN,
        company_domains=frozenset({DOMAIN}),
    )


def start_demo(settings: Settings, cleanup: ExitStack) -> Settings:
    """The settings of the demo mailbox: its Dovecot started (and seeded the first time), stopped by
    ``cleanup``; or the one another emaillog process runs on this data dir.

    One process at a time starts the Dovecot under a data dir, under a lock held while it runs.
    A second one (``run --once`` beside ``make run``) started another there: it rewrote the running
    server's configuration (another port), died on Dovecot's pid file, and the process exited 78
    with Dovecot's log. It now uses the running server; the mailbox's own lease then decides, as for
    any mailbox, whether it may work it (a dry run may, a ``--once`` is told who works it).
    """
    if not dovecot_available():
        raise DemoUnavailable(
            "no mailbox is configured (EMAILLOG_IMAP_HOST) and Dovecot is not installed "
            "for the demo mailbox: run scripts/bootstrap, or configure a mailbox"
        )
    root = settings.data_dir / "demo-mailbox"
    # Not private.private_dir: run as root, the demo's Dovecot serves the mail as its own user, who
    # must be able to search down to it (what emaillog keeps beside it is made private all the same).
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLeases(root)
    if not lock.acquire("demo", "demo-mailbox"):  # the account is not in a file lease's name
        return _running_demo(settings, root, lock.holder("demo-mailbox"))
    cleanup.callback(lock.release_all)
    address = root / "address"
    address.unlink(missing_ok=True)  # a server stopped with its process: none is up until written
    password_file = root / "password"
    first_run = not password_file.exists()
    if first_run:
        write_private(password_file, secrets.token_urlsafe(16))
    password_file.chmod(0o600)  # one an older emaillog wrote world-readable too
    password = password_file.read_text().strip()
    server = DevDovecot(root / "dovecot")
    try:
        server.start()
    except DevDovecotError as exc:
        raise DemoUnavailable(f"the demo mailbox could not start: {exc}") from exc
    cleanup.callback(server.stop)
    server.add_user("log", password)
    if first_run:
        server.seed_maildir("log", "INBOX", sample_messages())
        log.info("demo mailbox seeded with %d sample emails", len(sample_messages()))
    address.write_text(f"{server.host}:{server.port}\n")
    log.info("demo mailbox: imap://log@%s:%d (Dovecot under %s)", server.host, server.port, root)
    return demo_settings(settings, server.host, server.port, password)


def _running_demo(settings: Settings, root: Path, pid: int | None) -> Settings:
    """The demo mailbox that the process ``pid`` serves, from the address it wrote once it was up."""
    try:
        host, _, port = (root / "address").read_text().strip().rpartition(":")
        password = (root / "password").read_text().strip()
    except OSError:
        by = f" (pid {pid})" if pid else ""
        raise DemoBusy(
            f"the demo mailbox is being started by another emaillog process{by}: try again"
        ) from None
    log.info("demo mailbox: imap://log@%s:%s, served by another emaillog process (pid %s)", host, port, pid)
    return demo_settings(settings, host, int(port), password)


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
