"""The torture harness: the real daemon (``python daemon.py``) against a seeded real Dovecot, with faults.

Shared by the CI-sized suite (tests/torture/test_torture.py) and the full-size command
(bench/torture.py). One run:

1. starts its own Dovecot (restartable), a fault proxy in front of it, an SMTP sink, and SQLite or
   its own PostgreSQL cluster (stoppable), and creates the CRM users;
2. seeds the intake folder with a mix of messages whose fate is known in advance — logged, logged
   again (same Message-ID), forwarded as attachment, skipped, rejected for each reason, malformed,
   and "poison" messages that crash the parser every time (a ``sitecustomize`` in the daemon's
   PYTHONPATH patches ``emaillog.message.parse`` to raise for them; no test hook in the product);
3. runs the daemon as a subprocess while injecting faults at random: ``kill -9`` (of its process
   group, as systemd would), Dovecot restarted, connections cut by the proxy (on demand and at
   random), the database unavailable (PostgreSQL stopped; SQLite held by another process's
   exclusive transaction), the SMTP relay down, the attachments directory unusable, the intake
   folder deleted and recreated (new UIDVALIDITY), and a second IMAP client that flips flags,
   expunges, and moves processed messages back into the intake folder; a daemon that exits is
   started again, as systemd's Restart= would;
4. lets things settle (faults undone, the daemon left alone until the intake folder is empty),
   then checks the invariant (``check``) and returns the figures.

Every message carries an ``X-Torture-ID`` header, so messages are told apart even when they share a
Message-ID on purpose; the raw bytes are unique, so ledger rows are matched by their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
for _path in (str(TESTS), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from faultproxy import FaultProxy  # noqa: E402
from pg import PgCluster  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

from emaillog import admin  # noqa: E402
from emaillog.devmail import DevDovecot  # noqa: E402
from emaillog.settings import load  # noqa: E402
from emaillog.store import open_store  # noqa: E402
from emaillog.store.files import attachment_path  # noqa: E402
from emaillog.store.models import Attachment, Ledger, LoggedEmail, Outbox, database_proxy  # noqa: E402

COMPANY = "acme.example"
BCC, FWD = "log@acme.example", "log+fwd@acme.example"
REP, GONE = "rita@acme.example", "gone@acme.example"
INTAKE, PROCESSED, ERROR = "Intake", "Processed", "Error"
POISON_HEADER = "X-Torture-Crash"
FAULT_KINDS = (
    "kill-9",
    "dovecot-restart",
    "connection-cut",
    "database-down",
    "smtp-down",
    "attachments-unwritable",
    "intake-recreated",
    "flags-flipped",
    "expunged",
    "moved-back",
)

SITECUSTOMIZE = f'''
# Written by tests/torture/harness.py: the parser crashes, every time, on a message carrying
# {POISON_HEADER}. Loaded by the daemon's interpreter (and its forked parser workers) at start-up.
import emaillog.message as _message

_parse = _message.parse


def parse(raw, limits, *args, **kwargs):
    if b"{POISON_HEADER}: yes" in raw[:8192]:
        raise RuntimeError("torture: this message crashes the parser")
    return _parse(raw, limits, *args, **kwargs)


_message.parse = parse
'''


# -- the messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One appended message and what must become of it."""

    tid: str  # X-Torture-ID
    kind: str
    raw: bytes
    message_id: str
    folder: str  # Processed or Error
    outcome: str
    reasons: frozenset[str | None]
    logs: str | None  # the Message-ID of the logged email it makes (None: nothing logged)
    notice: bool  # a notice is due to the rep

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")).hexdigest()


KINDS = [
    ("bcc", 50),
    ("bcc-attachment", 10),
    ("duplicate", 5),
    ("forward-attached", 6),
    ("skipped", 5),
    ("not-a-user", 8),
    ("not-permitted", 5),
    ("forward-not-recognised", 5),
    ("malformed", 4),
]


def _base(
    tid: str,
    sender: str,
    to: list[str],
    subject: str,
    message_id: str | None,
    delivered_to: str,
    date: datetime,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Delivered-To"] = delivered_to
    if sender:
        msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    if message_id:
        msg["Message-ID"] = message_id
    msg["X-Torture-ID"] = tid
    return msg


def _done(
    tid: str,
    kind: str,
    msg: EmailMessage,
    folder: str,
    outcome: str,
    reasons: frozenset[str | None],
    logs: str | None,
    notice: bool,
) -> Planned:
    return Planned(tid, kind, bytes(msg), str(msg["Message-ID"]), folder, outcome, reasons, logs, notice)


def plan_messages(count: int, poison: int, seed: int) -> list[Planned]:
    rng = random.Random(seed)
    names, weights = zip(*KINDS, strict=True)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    planned: list[Planned] = []
    logged_ids: list[tuple[str, datetime]] = []  # (Message-ID, Date) of each BCC'd email
    poison_at = set(rng.sample(range(count), min(poison, count)))
    for i in range(count):
        tid = f"t{i}-{seed}"
        date = start + timedelta(minutes=i)
        customer = f"Customer {i} <c{i}@customer{i % 40}.example>"
        kind = "poison" if i in poison_at else rng.choices(names, weights)[0]
        if kind == "duplicate" and not logged_ids:
            kind = "bcc"
        planned.append(_planned(kind, tid, i, customer, date, rng, logged_ids))
        if kind in ("bcc", "bcc-attachment"):
            logged_ids.append((f"<m{i}-{seed}@acme.example>", date))
    return planned


def _planned(
    kind: str,
    tid: str,
    i: int,
    customer: str,
    date: datetime,
    rng: random.Random,
    logged_ids: list[tuple[str, datetime]],
) -> Planned:
    mid = f"<m{tid.split('-')[0][1:]}-{tid.split('-')[1]}@acme.example>"
    any_reason: frozenset[str | None] = frozenset({None, "duplicate"})
    if kind in ("bcc", "bcc-attachment", "poison"):
        msg = _base(tid, f"Rita Rep <{REP}>", [customer], f"Proposal {i}", mid, BCC, date)
        msg.set_content(f"Hello, proposal number {i}.\n")
        if kind == "bcc-attachment":
            msg.add_attachment(
                rng.randbytes(rng.randint(100, 40_000)),
                maintype="application",
                subtype="octet-stream",
                filename=f"quote-{i}.bin",
            )
        if kind == "poison":
            msg[POISON_HEADER] = "yes"
            failed: frozenset[str | None] = frozenset({"processing-failed"})
            return _done(tid, kind, msg, ERROR, "rejected", failed, None, True)
        return _done(tid, kind, msg, PROCESSED, "logged", any_reason, mid, False)
    if kind == "duplicate":
        # A second copy of a logged email carries its From and Date: under the same Message-ID
        # with another Date it would be another email that reused the id (SPEC §9, sameness.py).
        again, sent = rng.choice(logged_ids)
        msg = _base(tid, f"Rita Rep <{REP}>", [customer], f"Proposal again {i}", again, BCC, sent)
        msg.set_content("The same email, BCC'd a second time.\n")
        return _done(tid, kind, msg, PROCESSED, "logged", any_reason, again, False)
    if kind == "forward-attached":
        original_id = f"<o{i}-{tid}@customer.example>"
        original = _base(tid + "-original", customer, [REP], f"Question {i}", original_id, REP, date)
        del original["Delivered-To"], original["X-Torture-ID"]
        original.set_content(f"Can you tell me more about item {i}?\n")
        msg = _base(tid, f"Rita Rep <{REP}>", [FWD], f"Fwd: Question {i}", mid, FWD, date)
        msg.set_content("Forwarding this as an attachment.\n")
        msg.add_attachment(original)
        return _done(tid, kind, msg, PROCESSED, "logged", any_reason, str(original["Message-ID"]), False)
    if kind == "skipped":
        msg = _base(tid, f"Rita Rep <{REP}>", [f"colleague{i}@{COMPANY}"], f"Internal {i}", mid, BCC, date)
        msg.set_content("Internal only.\n")
        return _done(tid, kind, msg, PROCESSED, "skipped", frozenset({"no-recipients"}), None, False)
    if kind == "not-a-user":
        msg = _base(tid, f"Stranger <s{i}@stranger.example>", [customer], f"Hi {i}", mid, BCC, date)
        msg.set_content("Who am I?\n")
        return _done(tid, kind, msg, ERROR, "rejected", frozenset({"sender-not-a-user"}), None, False)
    if kind == "not-permitted":
        msg = _base(tid, f"Gone <{GONE}>", [customer], f"Old seat {i}", mid, BCC, date)
        msg.set_content("I left.\n")
        return _done(tid, kind, msg, ERROR, "rejected", frozenset({"sender-not-permitted"}), None, True)
    if kind == "forward-not-recognised":
        msg = _base(tid, f"Rita Rep <{REP}>", [FWD], f"Fwd: nothing {i}", mid, FWD, date)
        msg.set_content("I forgot to forward anything.\n")
        unrecognised: frozenset[str | None] = frozenset({"forward-not-recognised"})
        return _done(tid, kind, msg, ERROR, "rejected", unrecognised, None, True)
    assert kind == "malformed"
    msg = _base(tid, "", [customer], f"No sender {i}", mid, BCC, date)
    msg.set_content("No From at all.\n")
    return _done(tid, kind, msg, ERROR, "rejected", frozenset({"malformed"}), None, False)


# -- the servers ------------------------------------------------------------------------------------


class DurablePgCluster(PgCluster):
    """The test cluster with synchronous_commit on: stopped with -m immediate (a crash) it must keep
    every commit it acknowledged, as a production server does. With it off (the suite's speed
    setting), a crash drops acknowledged commits and the torture run reports messages lost that
    the product had recorded."""

    def _server_options(self) -> str:
        return super()._server_options().replace("synchronous_commit=off", "synchronous_commit=on")


def pg_stop(cluster: PgCluster) -> None:
    cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "immediate", "-w", "stop")


def pg_start(cluster: PgCluster) -> None:
    cluster._run(
        "pg_ctl",
        "-D",
        str(cluster.data),
        "-l",
        str(cluster.log_path),
        "-w",
        "-t",
        "60",
        "-o",
        cluster._server_options(),
        "start",
    )


@dataclass
class Config:
    messages: int = 300
    kills: int = 10
    poison: int = 2
    database: str = "sqlite"  # or "postgresql"
    seed: int = 7
    batch_size: int = 50
    drop_rate: float = 0.002  # the proxy cuts a connection after this share of relayed chunks
    faults: tuple[str, ...] = FAULT_KINDS
    first_wave: int = 100  # seeded before the daemon starts; the rest arrive in waves, one per round
    fault_rounds: int = 9  # rounds of faults other than kill -9 (each kind at least once)
    round_seconds: float = 1.5  # a fault comes at a random moment up to this long after a wave
    # SQLite held locked for up to this long; over the daemon's busy_timeout (30 s), writes fail.
    sqlite_lock_seconds: float = 4.0
    max_seconds: float = 600.0  # the chaos phase ends after this long even if rounds are left
    settle_seconds: float = 180.0
    verbose: bool = False


@dataclass
class Report:
    messages: int = 0
    kills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    misplaced: list[str] = field(default_factory=list)
    wrong_outcome: list[str] = field(default_factory=list)
    ledger_problems: list[str] = field(default_factory=list)
    notice_problems: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    daemon_exits: Counter[int] = field(default_factory=Counter)
    notices_sent: int = 0
    notices_resent: int = 0
    expunged: int = 0
    moved_back: int = 0
    poison: list[tuple[str | None, str | None, int, str | None]] = field(default_factory=list)
    fault_errors: Counter[str] = field(default_factory=Counter)
    copied_by_race: list[str] = field(default_factory=list)
    expunge_raced: list[str] = field(default_factory=list)
    stale_rows: int = 0
    undisposed: int = 0
    seconds: float = 0.0
    log_tail: str = ""

    @property
    def problems(self) -> list[str]:
        return (
            self.lost
            + self.doubled
            + self.misplaced
            + self.wrong_outcome
            + self.ledger_problems
            + self.notice_problems
            + self.file_problems
        )

    def summary(self) -> str:
        faults = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        exits = ", ".join(f"{code}: {n}" for code, n in sorted(self.daemon_exits.items()))
        return "\n".join(
            [
                f"messages:   {self.messages}",
                f"kills:      {self.kills}",
                f"faults:     {sum(self.faults.values())} ({faults})",
                f"lost:       {len(self.lost)}",
                f"doubled:    {len(self.doubled)}",
                f"misplaced:  {len(self.misplaced)}",
                f"wrong outcome: {len(self.wrong_outcome)}; ledger problems: {len(self.ledger_problems)}; "
                f"notice problems: {len(self.notice_problems)}; missing files: {len(self.file_problems)}",
                f"expunged by the other client: {self.expunged}; "
                f"moved back into the intake: {self.moved_back}",
                f"notices received: {self.notices_sent} (same-Message-ID resends: {self.notices_resent})",
                f"daemon exits other than by kill -9 (code: count): {exits or 'none'}",
                f"chaos steps the server broke off (then repaired): {dict(self.fault_errors) or 'none'}",
                f"copied twice by the other client's MOVE racing the daemon's (one copy per delivery, "
                f"nothing logged twice): {len(self.copied_by_race)}",
                f"expunges that lost the race to the daemon's MOVE (the message is where it belongs, "
                f"once): {len(self.expunge_raced)}",
                f"ledger rows of earlier deliveries: {self.stale_rows}; latest rows moved but not marked "
                f"disposed (answer cut off): {self.undisposed}",
                f"seconds:    {self.seconds:.1f}",
            ]
        )


class Daemon:
    """``python daemon.py`` in its own process group; restarted when it exits, as systemd would."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env = work, env
        self.log_path = work / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: Counter[int] = Counter()
        self.starts = 0

    def start(self, *args: str) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "daemon.py"), *args],
                env=self.env,
                cwd=self.work,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reap(self) -> None:
        """Note how a daemon that ended by itself exited, and start it again."""
        if self.proc is not None and self.proc.poll() is not None:
            self.exits[self.proc.returncode] += 1
            self._end_group()
            self.start()

    def kill9(self) -> None:
        assert self.proc is not None
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._end_group()
        self.proc = None  # not an exit to count or to restart: the caller starts the next one

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.exits[-999] += 1  # did not stop within a minute of SIGTERM
                self.kill9()
                return
            if self.proc.returncode not in (0, -signal.SIGTERM):
                self.exits[self.proc.returncode] += 1
        self._end_group()
        self.proc = None

    def _end_group(self) -> None:
        # Forked parser workers of a killed daemon would otherwise linger (systemd kills the cgroup).
        if self.proc is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Torture:
    def __init__(self, config: Config, work: Path | None = None) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.work = Path(work or tempfile.mkdtemp(prefix="emaillog-torture-"))
        self.work.chmod(0o755)
        self.report = Report()
        self.expunged: set[str] = set()
        self.deliveries: dict[str, int] = {}
        self.cleanup: list[Callable[[], None]] = []

    # -- set-up -----------------------------------------------------------------------------------

    def setup(self) -> None:
        c = self.config
        self.dovecot = DevDovecot(self.work / "dovecot")
        self.dovecot.start()
        self.cleanup.append(self.dovecot.stop)
        self.account = self.dovecot.add_user("torture", uuid.uuid4().hex)
        self.proxy = FaultProxy(self.account.host, self.account.port, drop_rate=c.drop_rate, seed=c.seed)
        self.proxy.start()
        self.cleanup.append(self.proxy.stop)
        self.sink = SmtpSink()
        self.sink.start()
        self.cleanup.append(self.sink.stop)
        self.cluster: PgCluster | None = None
        if c.database == "postgresql":
            self.cluster = DurablePgCluster()
            self.cluster.start()
            self.cleanup.append(self.cluster.stop)
            self.database_url = self.cluster.create_database("torture")
        else:
            self.database_url = f"sqlite:///{self.work / 'data' / 'emaillog.sqlite3'}"
        self.env_values = self._env()
        self.settings = load(None, self.env_values)
        self._create_crm()
        self.planned = plan_messages(c.messages, c.poison, c.seed)
        self.report.messages = len(self.planned)
        self.first_wave = min(len(self.planned), c.first_wave)
        self._delivered_in_wave = 0
        self._seed_intake()

    def _env(self) -> dict[str, str]:
        return {
            "EMAILLOG_IMAP_HOST": self.proxy.host,
            "EMAILLOG_IMAP_PORT": str(self.proxy.port),
            "EMAILLOG_IMAP_SECURITY": "none",
            "EMAILLOG_IMAP_USER": self.account.user,
            "EMAILLOG_IMAP_PASSWORD": self.account.password,
            "EMAILLOG_IMAP_TIMEOUT": "10",
            "EMAILLOG_DATA_DIR": str(self.work / "data"),
            "EMAILLOG_DATABASE_URL": self.database_url,
            "EMAILLOG_BCC_ADDRESS": BCC,
            "EMAILLOG_FORWARD_ADDRESS": FWD,
            "EMAILLOG_COMPANY_DOMAINS": COMPANY,
            "EMAILLOG_INTAKE_FOLDER": INTAKE,
            "EMAILLOG_PROCESSED_FOLDER": PROCESSED,
            "EMAILLOG_ERROR_FOLDER": ERROR,
            "EMAILLOG_BATCH_SIZE": str(self.config.batch_size),
            "EMAILLOG_POLL_SECONDS": "2",
            "EMAILLOG_RECONCILE_SECONDS": "3",
            "EMAILLOG_RECONNECT_MIN_SECONDS": "1",
            "EMAILLOG_RECONNECT_MAX_SECONDS": "2",
            "EMAILLOG_SMTP_HOST": self.sink.host,
            "EMAILLOG_SMTP_PORT": str(self.sink.port),
            "EMAILLOG_SMTP_SECURITY": "none",
            "EMAILLOG_NOTICE_FROM": "mailer-daemon@acme.example",
            "EMAILLOG_HOSTNAME": "crm.acme.example",
            "EMAILLOG_NOTICE_DAILY_LIMIT": "100000",
        }

    def _daemon_env(self) -> dict[str, str]:
        hook = self.work / "hook"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)]),
            **self.env_values,
        }
        return env

    def _create_crm(self) -> None:
        store = open_store(self.settings)
        admin.add_user(store, self.settings, REP, "Rita Rep", active=True, may_log=True)
        admin.add_user(store, self.settings, GONE, "Gone", active=False, may_log=True)
        store.db.close()

    def _seed_intake(self) -> None:
        with self.imap() as client:
            for folder in (INTAKE, PROCESSED, ERROR):
                if not client.folder_exists(folder):
                    client.create_folder(folder)
        self.dovecot.seed_maildir(self.account.user, INTAKE, [p.raw for p in self.planned[: self.first_wave]])

    @contextmanager
    def imap(self) -> Iterator[IMAPClient]:
        """The other IMAP client: straight to Dovecot, not through the proxy."""
        client = IMAPClient(self.account.host, port=self.account.port, ssl=False, timeout=30)
        client.login(self.account.user, self.account.password)
        try:
            yield client
        finally:
            with suppress(Exception):
                client.logout()

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        try:
            self.setup()
            self.daemon = Daemon(self.work, self._daemon_env())
            self.daemon.start()
            self._chaos()
            self._settle()
            self.check()
        finally:
            self.report.seconds = time.monotonic() - started
            if hasattr(self, "daemon"):
                self.daemon.stop()
                self.report.daemon_exits = self.daemon.exits
                self.report.log_tail = self.daemon.log_tail()
            for step in reversed(self.cleanup):
                with suppress(Exception):
                    step()
        return self.report

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    def _say(self, text: str) -> None:
        if self.config.verbose:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def _chaos(self) -> None:
        """Rounds of: deliver the next wave of messages, wait a random moment, inject one fault.

        Messages arrive in waves so that every fault lands while there is work in flight. Each
        kind of fault comes at least once; kills are spread among the rounds.
        """
        c = self.config
        others = [f for f in c.faults if f != "kill-9"]
        kills = c.kills if "kill-9" in c.faults else 0
        rounds = ["kill-9"] * kills + others * max(1, c.fault_rounds // max(1, len(others)))
        self.rng.shuffle(rounds)
        waves = _split(self.planned[self.first_wave :], max(1, len(rounds)))
        deadline = time.monotonic() + c.max_seconds
        for kind, wave in zip(rounds, waves + [[]] * (len(rounds) - len(waves)), strict=True):
            if time.monotonic() > deadline:
                break
            self._deliver(wave)
            self._pause(self.rng.uniform(0.0, c.round_seconds))
            if kind == "kill-9":
                self._kill()
            else:
                self._fault(kind)
        self._deliver([p for wave in waves[len(rounds) :] for p in wave])

    def _deliver(self, wave: list[Planned]) -> None:
        """APPEND a wave straight to Dovecot, as a mail server delivers (retried while it restarts)."""
        for attempt in range(60):
            try:
                with self.imap() as client:
                    for p in wave[self._delivered_in_wave :]:
                        client.append(INTAKE, p.raw)
                        self._delivered_in_wave += 1
                self._delivered_in_wave = 0
                return
            except Exception:
                if attempt == 59:
                    raise
                time.sleep(0.5)

    def _pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.daemon.reap()
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def _kill(self) -> None:
        if not self.daemon.alive():
            # It ended by itself (exit 75) since the last look: the one started in its place is
            # killed instead, a kill during start-up, so that every run has all its kills.
            self.daemon.reap()
        self.daemon.kill9()
        self.report.kills += 1
        self._say(f"kill -9 #{self.report.kills}")
        self._pause(self.rng.uniform(0.0, 0.3))
        self.daemon.start()

    def _fault(self, kind: str) -> None:
        self._say(kind)
        action = getattr(self, "_" + kind.replace("-", "_"))
        try:
            done = action()
        except Exception as exc:  # the server may refuse a step while others run
            # Counted (the fault happened, if only in part), said, and the folders put right.
            self._say(f"{kind} did not finish: {exc!r}")
            self.report.fault_errors[kind] += 1
            self._repair()
            done = True
        if done is not False:
            self.report.faults[kind] += 1

    def _repair(self) -> None:
        """After a chaos step broke off: the intake folder exists, and nothing is left in Hold."""
        for attempt in range(30):
            try:
                with self.imap() as client:
                    if not client.folder_exists(INTAKE):
                        client.create_folder(INTAKE)
                    if client.folder_exists("Hold"):
                        client.select_folder("Hold")
                        uids = client.search(["ALL"])
                        if uids:
                            client.move(uids, INTAKE)
                        client.close_folder()
                        client.delete_folder("Hold")
                return
            except Exception:  # Dovecot may be restarting
                if attempt == 29:
                    raise
                time.sleep(0.5)

    def _dovecot_restart(self) -> None:
        self.dovecot.restart()

    def _connection_cut(self) -> None:
        self.proxy.cut_all()

    def _database_down(self) -> None:
        seconds = self.rng.uniform(1.0, 4.0)
        if self.cluster is None and self.config.sqlite_lock_seconds > 4.0 and self.rng.random() < 0.5:
            seconds = self.rng.uniform(4.0, self.config.sqlite_lock_seconds)
        if self.cluster is not None:
            pg_stop(self.cluster)
            self._pause(seconds)
            pg_start(self.cluster)
            return
        # SQLite: another process holds an exclusive transaction; writers wait (busy_timeout) or fail.
        path = self.database_url.removeprefix("sqlite:///")
        script = (
            "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\nprint('locked', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "c.execute('ROLLBACK')\n"
        )
        holder = subprocess.Popen([sys.executable, "-c", script, path, str(seconds)], stdout=subprocess.PIPE)
        assert holder.stdout is not None
        holder.stdout.readline()
        holder.wait(timeout=seconds + 60)

    def _smtp_down(self) -> None:
        self.sink.stop()
        self._pause(self.rng.uniform(1.0, 4.0))
        self.sink.start()

    def _attachments_unwritable(self) -> None:
        """The attachments directory replaced by a file for a while: every write under it fails."""
        target = self.settings.attachments_dir
        away = target.with_name("attachments.away")
        target.mkdir(parents=True, exist_ok=True)
        os.rename(target, away)
        # If the daemon made it again in between, it stays writable and this round is a no-op.
        with suppress(IsADirectoryError, FileExistsError):
            target.write_bytes(b"not a directory")
        # Long enough for more failed passes (and daemon restarts) than the attempt limit.
        self._pause(self.rng.uniform(3.0, 6.0))
        if target.is_file():
            target.unlink()
        if target.is_dir():
            for item in target.rglob("*"):
                if item.is_file():
                    dest = away / item.relative_to(target)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(item, dest)
            shutil.rmtree(target)
        os.rename(away, target)

    def _intake_recreated(self) -> None:
        """Intake deleted and created again: its messages come back under a new UIDVALIDITY."""
        with self.imap() as client:
            if not client.folder_exists("Hold"):
                client.create_folder("Hold")
            client.select_folder(INTAKE)
            uids = client.search(["ALL"])
            if uids:
                client.move(uids, "Hold")
            client.close_folder()
            client.delete_folder(INTAKE)
            client.create_folder(INTAKE)
            client.select_folder("Hold")
            uids = client.search(["ALL"])
            if uids:
                client.move(uids, INTAKE)
            client.close_folder()
            client.delete_folder("Hold")

    def _flags_flipped(self) -> None:
        with self.imap() as client:
            for folder in (INTAKE, PROCESSED):
                client.select_folder(folder)
                uids = client.search(["ALL"])
                chosen = self.rng.sample(uids, min(len(uids), 20))
                if chosen:
                    client.add_flags(chosen, [b"\\Seen", b"\\Flagged", b"$Chaos"])
                    client.remove_flags(chosen[::2], [b"\\Seen"])
                client.close_folder()

    def _expunged(self) -> bool:
        """The other client expunges a few messages: waiting in the intake folder if any, else processed."""
        with self.imap() as client:
            for folder in (INTAKE, PROCESSED):
                client.select_folder(folder)
                uids = client.search(["ALL"])
                chosen = self.rng.sample(uids, min(len(uids), self.rng.randint(1, 3)))
                if chosen:
                    found = client.fetch(chosen, ["BODY.PEEK[HEADER.FIELDS (X-TORTURE-ID)]"])
                    self.expunged |= {t for t in (_tid(data) for data in found.values()) if t}
                    client.add_flags(chosen, [b"\\Deleted"])
                    client.uid_expunge(chosen)
                client.close_folder()
                if chosen:
                    break
        self.report.expunged = len(self.expunged)
        return bool(chosen)

    def _moved_back(self) -> bool:
        # Early in a run (or just after a kill) the daemon may not have filed anything yet: wait a
        # little for Processed to hold something, so that this kind of fault does happen every run.
        count, deadline = self.rng.randint(1, 10), time.monotonic() + 15.0
        while not self._move_back(count):
            if time.monotonic() > deadline:
                return False
            self._pause(0.25)
        return True

    def _move_back(self, count: int, *, counted: bool = True) -> bool:
        with self.imap() as client:
            client.select_folder(PROCESSED)
            uids = client.search(["ALL"])
            chosen = self.rng.sample(uids, min(len(uids), count))
            if chosen:
                client.move(chosen, INTAKE)
            client.close_folder()
        if counted:
            self.report.moved_back += len(chosen)
        return bool(chosen)

    def _intake_count(self) -> int:
        with self.imap() as client:
            return int(client.folder_status(INTAKE, [b"MESSAGES"])[b"MESSAGES"])

    def _settle(self) -> None:
        """Faults off; let the daemon finish the intake folder, then one last --once pass."""
        self.proxy.drop_rate = 0.0
        self.proxy.refuse = False
        deadline = time.monotonic() + self.config.settle_seconds
        while time.monotonic() < deadline:
            self._pause(1.0)
            if self._intake_count() == 0 and self._outbox_settled():
                break
        self.daemon.stop()
        once = Daemon(self.work, self._daemon_env())
        once.start("--once")
        assert once.proc is not None
        once.proc.wait(timeout=300)
        self._say(f"settled; final --once pass exited {once.proc.returncode}")

    def _outbox_settled(self) -> bool:
        try:
            self._open_db()
            return Outbox.select().where(Outbox.status == "pending", Outbox.attempts == 0).count() == 0
        finally:
            self._close_db()

    def _open_db(self) -> None:
        self.store = open_store(self.settings, migrate=False)

    def _close_db(self) -> None:
        with suppress(Exception):
            database_proxy.close()

    # -- the invariant -------------------------------------------------------------------------------

    def check(self) -> None:
        located = self._locate()
        self._open_db()
        try:
            self._check_ledger()
            self._check_folders(located)
            self._check_logged()
            self._check_notices()
            self._check_files()
        finally:
            self._close_db()

    def _locate(self) -> dict[str, list[str]]:
        where: dict[str, list[str]] = defaultdict(list)
        with self.imap() as client:
            for folder in client.list_folders():
                name = folder[2]
                client.select_folder(name, readonly=True)
                uids = client.search(["ALL"])
                for start in range(0, len(uids), 500):
                    found = client.fetch(
                        uids[start : start + 500], ["BODY.PEEK[HEADER.FIELDS (X-TORTURE-ID)]"]
                    )
                    for data in found.values():
                        tid = _tid(data)
                        if tid:
                            where[tid].append(name)
                client.close_folder()
        return where

    def _check_folders(self, located: dict[str, list[str]]) -> None:
        r = self.report
        for p in self.planned:
            folders = located.get(p.tid, [])
            if p.tid in self.expunged:
                # The other client read the message in the intake folder, then flagged and expunged
                # it; if the daemon's MOVE came in between, the expunge found nothing to remove and
                # the message is where it belongs. Anywhere else, or twice, is a fault.
                if folders == [p.folder]:
                    r.expunge_raced.append(f"{p.tid} ({p.kind}) is in {folders}")
                elif folders:
                    r.misplaced.append(f"{p.tid} ({p.kind}) was expunged but is in {folders}")
                continue
            if not folders:
                r.lost.append(f"{p.tid} ({p.kind}) is in no folder")
            elif len(set(folders)) == 1 < len(folders) <= self.deliveries.get(p.tid, 0):
                # Dovecot's MOVE is copy + expunge: when the other client moved the message out of the
                # intake folder while the daemon moved it to its folder, both copies survived; the
                # second came back as a new delivery and was handled again (no email logged twice).
                r.copied_by_race.append(f"{p.tid} ({p.kind}) is in {folders}")
            elif len(folders) > 1:
                r.doubled.append(f"{p.tid} ({p.kind}) is in {folders}")
            elif folders[0] != p.folder:
                r.misplaced.append(f"{p.tid} ({p.kind}) is in {folders[0]}, expected {p.folder}")

    def _check_ledger(self) -> None:
        rows: dict[str, list[Ledger]] = defaultdict(list)
        for row in Ledger.select().order_by(Ledger.id):
            rows[row.sha256 or ""].append(row)
        for p in self.planned:
            mine = rows.get(p.sha256, [])
            if mine:
                self._check_rows(p, mine)
            elif p.tid not in self.expunged:
                self.report.ledger_problems.append(f"{p.tid} ({p.kind}) has no ledger row")

    def _check_rows(self, p: Planned, mine: list[Ledger]) -> None:
        """The latest delivery's row is the expected one; every row of the message is final and done."""
        r = self.report
        gone = p.tid in self.expunged
        latest = max(mine, key=lambda row: (row.updated_at, row.id))
        if p.kind == "poison":
            r.poison.append((latest.outcome, latest.reason, latest.attempts, latest.detail))
            if latest.attempts != 3 and not self.config.kills:
                r.ledger_problems.append(f"{p.tid}: given up after {latest.attempts} attempts, not 3")
        # The other client expunged it between the daemon's FETCH and MOVE: the MOVE took nothing, and
        # the row says the message left the intake folder (no folder), not that it was moved.
        left_before_the_move = gone and latest.folder is None and latest.disposed
        wrong = (
            latest.outcome != p.outcome
            or latest.reason not in p.reasons
            or (latest.folder != p.folder and not left_before_the_move)
        )
        if wrong and not (gone and latest.outcome not in ("logged", "skipped", "rejected")):
            r.wrong_outcome.append(
                f"{p.tid} ({p.kind}): {latest.outcome}/{latest.reason} in "
                f"{latest.folder}, expected {p.outcome}/{sorted(map(str, p.reasons))} "
                f"in {p.folder} "
                f"({latest.detail}){' (expunged by the other client)' if gone else ''}"
            )
        # Rows of earlier deliveries may stay pending (the intake folder was recreated under them) and
        # a row's disposed flag stays unset when the MOVE went through but its answer was cut off:
        # neither loses or doubles anything (the folders are checked on their own). Counted only.
        if latest.outcome not in ("logged", "skipped", "rejected") and not gone:
            r.ledger_problems.append(
                f"{p.tid} ({p.kind}): latest row {latest.uidvalidity}/{latest.uid} is {latest.outcome}"
            )
        r.stale_rows += sum(1 for row in mine if row is not latest)
        r.undisposed += int(not latest.disposed)
        self.deliveries[p.tid] = len(mine)

    def _check_logged(self) -> None:
        r = self.report
        counts = Counter(mid for (mid,) in LoggedEmail.select(LoggedEmail.message_id).tuples())
        expected = {p.logs for p in self.planned if p.logs and p.tid not in self.expunged}
        optional = {p.logs for p in self.planned if p.logs and p.tid in self.expunged}
        for mid in sorted(expected):
            if counts[mid] == 0:
                r.lost.append(f"logged email {mid} is missing")
        for mid, n in sorted(counts.items()):
            if n > 1:
                r.doubled.append(f"logged email {mid} is logged {n} times")
            if mid not in expected and mid not in optional:
                r.doubled.append(f"logged email {mid} was not expected at all")

    def _check_notices(self) -> None:
        r = self.report
        received = self.sink.messages
        r.notices_sent = len(received)
        by_notice_id = Counter()
        originals: dict[str, set[str]] = defaultdict(set)
        for m in received:
            notice = message_from_bytes(m.raw, policy=policy.default)
            nid, original = str(notice["Message-ID"]), str(notice["In-Reply-To"])
            by_notice_id[nid] += 1
            originals[original].add(nid)
        r.notices_resent = sum(n - 1 for n in by_notice_id.values())
        deliveries = Counter(mid for (mid,) in Ledger.select(Ledger.message_id).tuples())
        keys = {
            f"{self.settings.account}|{row.mailbox}/{row.uidvalidity}/{row.uid}": row.message_id
            for row in Ledger.select()
        }
        queued = {keys.get(row.ledger_key) for row in Outbox.select(Outbox.ledger_key)}
        due = {p.message_id: p for p in self.planned if p.notice}
        for original, notice_ids in originals.items():
            if original not in due:
                r.notice_problems.append(f"a notice about {original}, which needs none")
            elif len(notice_ids) > deliveries[original]:
                r.notice_problems.append(
                    f"{len(notice_ids)} different notices about {original} "
                    f"({deliveries[original]} deliveries)"
                )
        for mid, p in due.items():
            if p.tid not in self.expunged and mid not in queued and mid not in originals:
                r.notice_problems.append(f"no notice queued or sent about {mid} ({p.kind})")

    def _check_files(self) -> None:
        root = self.settings.attachments_dir
        for row in Attachment.select().where(Attachment.logged == True):  # noqa: E712 - peewee expression
            path = attachment_path(root, row.sha256)
            if not path.is_file() or path.stat().st_size != row.size:
                self.report.file_problems.append(
                    f"attachment {row.sha256[:12]} of email {row.email_id} is missing or short on disk"
                )


def _split(items: list[Planned], parts: int) -> list[list[Planned]]:
    size = -(-len(items) // parts) if items else 0
    return [items[i : i + size] for i in range(0, len(items), size)] if size else []


def _tid(data: dict[bytes, Any]) -> str | None:
    for key, value in data.items():
        if key.startswith(b"BODY[HEADER.FIELDS"):
            text = bytes(value).decode(errors="replace")
            if ":" in text:
                return text.split(":", 1)[1].strip() or None
    return None
