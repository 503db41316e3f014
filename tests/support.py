"""Helpers shared by the tests: settings for a temp dir, messages built like real clients send
them, and a small "world" that delivers into a real Dovecot mailbox and runs passes."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from emaillog import admin
from emaillog.devmail import DevDovecot, ImapAccount
from emaillog.imapmailbox import ImapMailbox
from emaillog.poll import Pass, PassReport
from emaillog.settings import Settings, load
from emaillog.store import Store, open_store

COMPANY = "acme.example"
REP = "rita@acme.example"  # the CRM user most tests send as
BCC = "log@" + COMPANY
FWD = "log+fwd@" + COMPANY


def mailboxes_toml(
    accounts: dict[str, ImapAccount], common: dict[str, str] | None = None, **own: dict[str, str]
) -> str:
    """An EMAILLOG_MAILBOXES_FILE with one table per account: its login, log@NAME.example as the BCC
    address and NAME.example as the company domain, then ``common`` and the mailbox's ``own`` values."""
    lines = []
    for name, account in accounts.items():
        values = (
            account.settings()
            | {"EMAILLOG_BCC_ADDRESS": f"log@{name}.example", "EMAILLOG_COMPANY_DOMAINS": f"{name}.example"}
            | (common or {})
            | own.get(name, {})
        )
        lines += [f"[mailbox.{name}]", *(f'{key} = "{value}"' for key, value in values.items()), ""]
    return "\n".join(lines)


# Mailboxes for commands that never reach IMAP (port 1): each its own account, as a fleet has them.
_OFFLINE_TABLE = """[mailbox.{name}]
EMAILLOG_IMAP_HOST = "127.0.0.1"
EMAILLOG_IMAP_PORT = "1"
EMAILLOG_IMAP_SECURITY = "none"
EMAILLOG_IMAP_USER = "{name}"
EMAILLOG_IMAP_PASSWORD = "pw"
EMAILLOG_BCC_ADDRESS = "log@{name}.example"
EMAILLOG_COMPANY_DOMAINS = "{name}.example"
"""


def offline_mailboxes_toml(*names: str) -> str:
    return "\n".join(_OFFLINE_TABLE.format(name=n) for n in names)


def addresses_env(database_url: str | None = None) -> dict[str, str]:
    """The tests' logging addresses and company domain (and database, if given), as settings."""
    values = {
        "EMAILLOG_BCC_ADDRESS": BCC,
        "EMAILLOG_FORWARD_ADDRESS": FWD,
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
    }
    if database_url:
        values["EMAILLOG_DATABASE_URL"] = database_url
    return values


def make_settings(
    tmp_path: Path, database_url: str | None = None, account: ImapAccount | None = None, **env: str
) -> Settings:
    values = {"EMAILLOG_DATA_DIR": str(tmp_path / "data"), **addresses_env(database_url)}
    if account is not None:
        values.update(account.settings())
    values.update(env)
    return load(None, values)


# Notices switched on, sent to a relay on loopback (for tests that plan notices without sending).
NOTICES_ON = {
    "EMAILLOG_SMTP_HOST": "127.0.0.1",
    "EMAILLOG_SMTP_SECURITY": "none",
    "EMAILLOG_NOTICE_FROM": "mailer-daemon@acme.example",
    "EMAILLOG_HOSTNAME": "crm.acme.example",
}


def crm_with_rep(
    tmp_path: Path, rep: str = REP, name: str = "Rita Rep", **env: str
) -> tuple[Store, Settings]:
    """A CRM on SQLite in ``tmp_path`` whose one user is ``rep``, allowed to log; ``env``: settings."""
    settings = make_settings(tmp_path, **env)
    store = open_store(settings)
    admin.add_user(store, settings, rep, name, active=True, may_log=True)
    return store, settings


def message(
    sender: str = "Rita Rep <rita@acme.example>",
    to: Sequence[str] = ("Carl Customer <carl@globex.example>",),
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    subject: str = "Proposal",
    body: str = "Hello, here is our proposal.",
    message_id: str | None = "<m1@acme.example>",
    delivered_to: str | None = BCC,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    msg = EmailMessage()
    if delivered_to:
        msg["Delivered-To"] = delivered_to
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2026, 11, 20, 10, 30, tzinfo=UTC))
    if message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return bytes(msg)


def forwarded_as_attachment(sender: str, notice_raw: bytes, to: str = FWD) -> bytes:
    """``notice_raw`` forwarded by ``sender`` as an attachment, as an Outlook rule or client does."""
    forward = EmailMessage()
    forward["From"], forward["To"], forward["Delivered-To"] = sender, to, to
    forward["Subject"], forward["Message-ID"] = "FW: Not logged: Proposal", "<fw-1@acme.example>"
    forward["Date"] = "Fri, 20 Nov 2026 10:40:00 +0000"
    forward.set_content("See attached.")
    forward.add_attachment(message_from_bytes(notice_raw, policy=default_policy))
    return bytes(forward)


@dataclass
class World:
    """One test's mailbox, database and settings."""

    settings: Settings
    store: Store
    account: ImapAccount

    def client(self) -> IMAPClient:
        client = IMAPClient(self.account.host, port=self.account.port, ssl=False)
        client.login(self.account.user, self.account.password)
        return client

    def deliver(self, *raws: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            for raw in raws:
                client.append(folder, raw)
        finally:
            client.logout()

    def run_pass(self, **kwargs: Any) -> PassReport:
        mailbox = ImapMailbox(self.settings.imap)  # type: ignore[arg-type]
        try:
            return Pass(self.settings, mailbox, self.store, **kwargs).run()
        finally:
            mailbox.close()

    def folder_counts(self) -> dict[str, int]:
        client = self.client()
        try:
            names = [self.settings.intake_folder, self.settings.processed_folder, self.settings.error_folder]
            return {
                n: (client.folder_status(n, [b"MESSAGES"])[b"MESSAGES"] if client.folder_exists(n) else 0)
                for n in names
            }
        finally:
            client.logout()


# The start of a CMS EnvelopedData (RFC 5652 §6): a BER SEQUENCE of indefinite length, then the
# envelopedData OID. The rest of a "p7m" in these tests is noise: a parser sees nothing more.
CMS_ENVELOPED = bytes.fromhex("308006092a864886f70d010703a0803080020100")


def smime_encrypted(
    sender: str = "Rita Rep <rita@acme.example>",
    to: str = "Carl Customer <carl@globex.example>",
    subject: str = "Contract terms",
    message_id: str = "<smime-1@acme.example>",
    delivered_to: str | None = BCC,
    smime_type: str | None = "enveloped-data",
    content: bytes = CMS_ENVELOPED + bytes(range(256)) * 4,
) -> bytes:
    """An S/MIME encrypted email as Outlook and Thunderbird send it: the whole body one smime.p7m."""
    params = f"; smime-type={smime_type}" if smime_type else ""
    head = [f"Delivered-To: {delivered_to}"] if delivered_to else []
    head += [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Fri, 20 Nov 2026 10:30:00 +0000",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: application/pkcs7-mime{params};\r\n name="smime.p7m"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="smime.p7m"',
        "Content-Description: S/MIME Encrypted Message",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + base64.encodebytes(content).replace(b"\n", b"\r\n")


def attached_forward(
    *inners: EmailMessage,
    note: str = "Please log.",
    sender: str = "rep@ourco.example",
    subject: str = "FW: Proposal",
    delivered_to: str | None = FWD,
) -> bytes:
    """A rep's forward to the forwarding address with each of ``inners`` attached as message/rfc822."""
    outer = EmailMessage()
    if delivered_to:
        outer["Delivered-To"] = delivered_to
    outer["From"] = sender
    outer["To"] = FWD
    outer["Subject"] = subject
    outer["Date"] = "Fri, 20 Nov 2026 11:00:00 +0100"
    outer["Message-ID"] = "<outer-att@ourco.example>"
    outer.set_content(note + "\n")
    for inner in inners:
        outer.add_attachment(inner, filename="original.eml")
    return outer.as_bytes(policy=SMTP)


PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PICTURE_HTML = '<p>See the screenshot:</p><img src="cid:image001.png@01DA" width="300"><p>Rita</p>'


def with_picture(content_ids: Sequence[bytes], html: str = PICTURE_HTML, picture: bytes = PICTURE) -> bytes:
    """An HTML email as Outlook writes a pasted screenshot: multipart/related, the picture inline
    with ``Content-ID`` fields written as given (raw bytes: hostile ones included)."""
    head = (
        b"Delivered-To: log@acme.example\r\nFrom: Rita Rep <rita@acme.example>\r\n"
        b"To: Carl Customer <carl@globex.example>\r\nSubject: Screenshot\r\n"
        b"Date: Fri, 20 Nov 2026 10:30:00 +0000\r\nMessage-ID: <shot@acme.example>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="rel"\r\n\r\n'
    )
    body = b'--rel\r\nContent-Type: text/html; charset="utf-8"\r\n\r\n' + html.encode() + b"\r\n"
    picture = (
        b'--rel\r\nContent-Type: image/png; name="image001.png"\r\n'
        + b"".join(b"Content-ID: " + cid + b"\r\n" for cid in content_ids)
        + b'Content-Disposition: inline; filename="image001.png"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(picture).replace(b"\n", b"\r\n")
    )
    return head + body + picture + b"--rel--\r\n"


def customer_email(subject: str, message_id: str) -> EmailMessage:
    """The header of a customer's email to Rita, for a test to give a body and forward."""
    original = EmailMessage()
    original["From"] = "Carl Customer <carl@globex.example>"
    original["To"] = "rita@acme.example"
    original["Subject"] = subject
    original["Date"] = "Fri, 20 Nov 2026 10:30:00 +0000"
    original["Message-ID"] = message_id
    return original


def forward_with_a_file(data: bytes) -> bytes:
    """A rep's forward of a customer's email that carries ``data`` as contract.pdf."""
    original = customer_email("The contract", "<contract@globex.example>")
    original.set_content("Signed copy attached.")
    original.add_attachment(data, maintype="application", subtype="pdf", filename="contract.pdf")
    return attached_forward(original, sender="Rita Rep <rita@acme.example>")


def forward_with_a_picture() -> bytes:
    """A rep's forward (as attachment) of a customer's HTML email showing its logo by ``cid:logo@globex``."""
    original = customer_email("Our logo", "<logo@globex.example>")
    original.set_content('<p>Logo:</p><img src="cid:logo@globex">', subtype="html")
    original.add_related(PICTURE, maintype="image", subtype="png", cid="<logo@globex>", filename="logo.png")
    return attached_forward(original, sender="Rita Rep <rita@acme.example>")


def make_world(
    tmp_path: Path, database_url: str, account: ImapAccount, rep: str | None = REP, **env: str
) -> World:
    """A mailbox, a database and settings; ``rep`` (a CRM user who may log) is added unless None."""
    settings = make_settings(tmp_path, database_url, account, **env)
    world = World(settings, open_store(settings), account)
    if rep is not None:
        from emaillog import admin

        admin.add_user(world.store, settings, rep, "Rita Rep", active=True, may_log=True)
    return world


def hold_recording_until_the_main_thread_moves_on(monkeypatch: Any) -> None:
    """Hold each batch on the recording thread until the main thread has either decided another
    batch or started waiting for this one, and only then record it.

    A pass that decides a batch before the one ahead of it has committed then always decides it
    against the CRM without that batch; a pass that waits lets the batch go at once. No timing is
    involved: the condition is what the main thread does next.
    """
    import threading

    from emaillog import poll
    from emaillog.batch import process
    from emaillog.stages import Stages

    moved_on = threading.Condition()
    steps = [0]

    def step() -> None:
        with moved_on:
            steps[0] += 1
            moved_on.notify_all()

    def deciding(*args: Any, **kwargs: Any) -> Any:
        try:
            return process(*args, **kwargs)
        finally:
            step()

    def waiting(self: Any) -> Any:
        step()
        return hold_recorded(self)

    def starting(self: Any, keys: Any, results: Any, record: Callable[[Any], None]) -> None:
        seen = steps[0]  # on the main thread, as the batch is handed over

        def held(batch: Any) -> None:
            with moved_on:
                moved_on.wait_for(lambda: steps[0] > seen, timeout=30)
            record(batch)

        start_recording(self, keys, results, held)

    hold_recorded, start_recording = Stages.hold_recorded, Stages.start_recording
    monkeypatch.setattr(poll, "process", deciding)
    monkeypatch.setattr(Stages, "hold_recorded", waiting)
    monkeypatch.setattr(Stages, "start_recording", starting)


def two_mailboxes_of_one_account(
    tmp_path: Path, database_url: str, dovecot: DevDovecot, **env: str
) -> tuple[Settings, Settings]:
    """The mailboxes sales and support of the account acme (SPEC §14), each with its own login and
    logging addresses (sales@acme.example, sales+fwd@acme.example …), from a mailboxes file; ``env``
    holds the settings they share."""
    logins = {name: dovecot.add_user(f"{name}-{tmp_path.name[-8:]}", "pw") for name in ("sales", "support")}
    mailboxes = tmp_path / "mailboxes.toml"
    common = {"EMAILLOG_ACCOUNT": "acme", "EMAILLOG_COMPANY_DOMAINS": "acme.example"}
    own = {
        name: {
            "EMAILLOG_BCC_ADDRESS": f"{name}@acme.example",
            "EMAILLOG_FORWARD_ADDRESS": f"{name}+fwd@acme.example",
        }
        for name in logins
    }
    mailboxes.write_text(mailboxes_toml(logins, common, **own))
    values = {
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        "EMAILLOG_DATABASE_URL": database_url,
        "EMAILLOG_MAILBOXES_FILE": str(mailboxes),
        **env,
    }
    sales, support = load(None, values).all_mailboxes()
    return sales, support


_ledger_uids = iter(range(1, 1_000_000))


def log_message(raw: bytes, mailbox: str | None = None) -> int:
    """Record ``raw`` as a pass would (parse, decide, record) with the settings in the environment
    (of ``mailbox``, with a mailboxes file); the id of the logged email. No IMAP."""
    from emaillog.cli import select_mailbox
    from emaillog.limits import Limits
    from emaillog.message import parse
    from emaillog.rules import decide
    from emaillog.store.ledger import LedgerKey
    from emaillog.store.models import LoggedEmail
    from emaillog.store.recorder import Result

    settings = select_mailbox(load(), mailbox)
    store = open_store(settings)
    email = parse(raw, Limits(max_message_bytes=settings.max_message_bytes))
    decision = decide(email, settings, store.lookup)
    assert decision.outcome == "logged", (decision.reason, decision.detail)
    key = LedgerKey(settings.mailbox_name, 1, next(_ledger_uids))
    store.recorder.record([Result(key, email.sha256, email.message_id, decision, settings.processed_folder)])
    return int(LoggedEmail.select().order_by(LoggedEmail.id.desc()).get().id)


def deliver(settings: Settings, *raws: bytes) -> None:
    """APPEND ``raws`` to the intake folder of ``settings``' mailbox, as mail arriving does."""
    imap = settings.imap
    assert imap is not None
    client = IMAPClient(imap.host, port=imap.port, ssl=False)
    client.login(imap.user, imap.password)
    for raw in raws:
        client.append(settings.intake_folder, raw)
    client.logout()


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> float:
    """Poll ``predicate`` until it holds (returns the seconds waited) or fail after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        waited = time.monotonic() - started
        if waited >= timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def waiting_in_sql(thread: threading.Thread, statement: str, within: str) -> bool:
    """Whether ``thread`` is inside peewee's ``execute_sql`` of a statement starting ``statement``,
    called from the function named ``within``: polled while another connection holds the lock that
    statement takes, it says the thread is waiting there (uncontended, a BEGIN IMMEDIATE or a LOCK
    TABLE is over in microseconds)."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    at_statement = False
    while frame is not None:
        sql = frame.f_locals.get("sql") if frame.f_code.co_name == "execute_sql" else None
        at_statement = at_statement or (isinstance(sql, str) and sql.startswith(statement))
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return at_statement and within in names


class NotifySocket:
    """A datagram socket playing systemd's part for a daemon run as a process: set NOTIFY_SOCKET to
    ``path``. Read all the time, as systemd does: an unread AF_UNIX datagram queue holds only about
    ten messages, after which the daemon's next sd_notify would be dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._messages: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._drain_loop, daemon=True)
        self._reader.start()

    def _drain_loop(self) -> None:
        while not self._closed:
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except (TimeoutError, OSError):
                return
            with self._lock:
                self._messages.append(data.decode())

    def messages(self) -> list[str]:
        with self._lock:
            return list(self._messages)

    def saw(self, text: str) -> bool:
        return any(text in m for m in self.messages())

    def count(self, text: str) -> int:
        return sum(text in m for m in self.messages())

    def close(self) -> None:
        """Once the daemon has exited: what it sent last (STOPPING=1) is queued, and read too."""
        self._closed = True
        self._reader.join(timeout=2)
        self._drain()
        self._sock.close()


@contextmanager
def throwaway_dovecot(name: str, **options: Any) -> Iterator[DevDovecot]:
    """A Dovecot of one's own (``options`` as ``DevDovecot`` takes them), removed afterwards.

    Not under pytest's tmp_path: as root, Dovecot serves mail as the ``dovecot`` user, which must be
    able to walk down to the mail, and pytest's base temp dir is 0700.
    """
    root = Path(tempfile.mkdtemp(prefix=f"emaillog-{name}-"))
    root.chmod(0o755)
    server = DevDovecot(root, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def cli_env(monkeypatch: Any, tmp_path: Path, settings: dict[str, str]) -> Path:
    """Commands run in ``tmp_path``, with their data dir there and ``settings`` (EMAILLOG_* names) in
    the environment; no env file of the checkout is read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def check_env(tmp_path: Path, account: ImapAccount, **extra: str) -> Path:
    """An env file for ``emaillog check`` against ``account`` (``extra`` settings on top)."""
    values = {
        **account.settings(),
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        "EMAILLOG_IMAP_TIMEOUT": "5",
        "EMAILLOG_TRUSTED_AUTHSERV_IDS": "mx.acme.example",
    }
    values.update(extra)
    path = tmp_path / "emaillog.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def run_checks(env_file: Path, capsys: Any, **kwargs: bool) -> tuple[int, dict[str, dict[str, Any]]]:
    """``emaillog check --json``: its exit code and its steps by name."""
    from emaillog.check import run_check

    code = run_check(env_file, as_json=True, **kwargs)
    return code, {s["step"]: s for s in json.loads(capsys.readouterr().out)}
