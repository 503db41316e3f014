"""Drain a reproducible mixed backlog from a real Dovecot and compare emaillog with the wire's floor.

    .venv/bin/python bench/backlog.py                      # 10,000 messages, 2 rounds, SQLite + PostgreSQL
    .venv/bin/python bench/backlog.py --quick              # 1,000 messages, 1 round: a fast check
    .venv/bin/python bench/backlog.py --messages 2000 --rounds 3 --backends sqlite
    .venv/bin/python bench/backlog.py --history            # also with 1,000,000 ledger rows + 100,000 contacts

What it does (issue 6, items 4 and 5):

1. Starts a throwaway Dovecot (emaillog.devmail) in a temp dir and seeds INBOX by writing maildir files
   (fixed random seed): ~70% multipart/alternative text+HTML of 5-30 KB, ~25% with a 100 KB-1 MB
   base64 attachment of random bytes, ~5% Gmail-style inline forwards. Senders are a handful of users
   created in the CRM before every run; recipients a few hundred customers on ~50 domains; every message
   is delivered to the BCC (or, for forwards, the forwarding) address, so nearly all get logged.
2. Interleaves, per round and backend, A then B:
   A  the floor: a plain imapclient fetch of every INBOX message, ``BODY.PEEK[]`` in UID batches of 200,
      with imaplib's debug formatting off (``client._imap.debug = 0``);
   B  emaillog draining INBOX with one ``--once`` pass, in a child process (so its peak RSS is its own):
      the child opens the store like ``emaillog run --once`` does and times only ``Runner.one_pass()``
      (connect, select, fetch, parse, decide, record, move). Its per-message log lines go to a file.
   After each B, everything is moved back to INBOX (one UID MOVE per folder) and read once untimed
   (Dovecot's first read of moved or newly seeded mail is ~40% slower while it fills its cache), and
   the next B gets a fresh database (a new SQLite file / a new PostgreSQL database).
3. ``--history``: builds, once per backend, a template database holding 1,000,000 ledger rows (another
   mailbox name and UIDVALIDITY), 200,000 logged emails (each on one contact), and 100,000 contacts with
   addresses (and 5,000 companies), disjoint from
   the backlog's customers so the drain does the same work; then runs B on a copy of it, adjacent to a B
   on an empty database, and prints the ratio.

Everything (Dovecot, PostgreSQL, temp dirs) is stopped and removed at the end, also on Ctrl-C.
"""

# ruff: noqa: E501 - MIME templates and the report lines read best unwrapped
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SEED = 20261102
COMPANY = "acme.example"
BCC = "log@" + COMPANY
FWD = "log+fwd@" + COMPANY
IMAP_USER = "bench"
IMAP_PASSWORD = "bench-password"
FLOOR_BATCH = 200
MB = 1_000_000

TARGET_RATIO = {"sqlite": 0.25, "postgresql": 0.2}
PROFILE_TO = ""  # --profile FILE: the drain child writes cProfile stats there (the last drain wins)
SERVER_PID = 0  # the Dovecot master's pid: the drain's server CPU is read from its process tree
TARGET_RSS_MB = 250
TARGET_HISTORY = 0.9
# When the last run removed its files (see settle_after_last_cleanup): one per user, whatever TMPDIR.
CLEANED_STAMP = Path.home() / ".cache" / "emaillog-bench-cleaned-at"
RECENTLY_DELETED_SECONDS = 305

HISTORY_LEDGER_ROWS = 1_000_000
HISTORY_CONTACTS = 100_000
HISTORY_COMPANIES = 5_000
# Logged emails behind part of the ledger rows, each on one history contact: the duplicate and
# thread lookups search them by fingerprint and Message-ID.
HISTORY_EMAILS = 200_000

USERS = [
    ("Rita Rep", "rita"),
    ("Sam Seller", "sam"),
    ("Tina Trader", "tina"),
    ("Uma Upsell", "uma"),
    ("Victor Vendor", "victor"),
]
FIRST = [
    "Carl",
    "Dana",
    "Eve",
    "Frank",
    "Grace",
    "Hugo",
    "Ines",
    "Jon",
    "Kim",
    "Lena",
    "Mark",
    "Nora",
    "Otto",
    "Paula",
    "Quinn",
    "Rosa",
    "Stan",
    "Tara",
    "Ugo",
    "Vera",
    "Walt",
    "Xena",
    "Yann",
    "Zoe",
]
LAST = [
    "Miller",
    "Novak",
    "Okafor",
    "Petit",
    "Quist",
    "Rossi",
    "Sato",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Xu",
    "Young",
    "Zimmer",
    "Andersen",
    "Brandt",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
]
WORDS = [
    "proposal",
    "pricing",
    "licence",
    "renewal",
    "contract",
    "meeting",
    "quarter",
    "budget",
    "team",
    "seats",
    "onboarding",
    "support",
    "invoice",
    "discount",
    "timeline",
    "integration",
    "security",
    "review",
    "legal",
    "signature",
    "pilot",
    "rollout",
    "training",
    "feature",
    "roadmap",
    "question",
    "follow",
    "up",
    "thanks",
    "regards",
    "call",
    "Friday",
    "Monday",
    "next",
    "week",
    "attached",
    "deck",
    "numbers",
    "forecast",
    "scope",
    "phase",
    "milestone",
    "approval",
    "procurement",
    "vendor",
    "terms",
    "net",
    "thirty",
    "annual",
    "monthly",
    "users",
    "admins",
    "migration",
    "data",
    "export",
    "import",
    "dashboard",
    "report",
    "the",
    "a",
    "of",
    "to",
    "and",
    "for",
    "with",
    "on",
    "in",
    "we",
    "you",
    "our",
    "your",
    "this",
    "that",
    "will",
    "can",
    "please",
    "let",
    "me",
    "know",
]


# -- the backlog ---------------------------------------------------------------------------------------


@dataclass
class Backlog:
    messages: int
    bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Generator:
    """Builds the raw messages; the same seed and count give the same bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.lines = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(9, 14))).capitalize() + "."
            for _ in range(3000)
        ]
        domains = [
            f"{rng.choice(['globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'stark'])}{i}."
            f"{rng.choice(['example', 'example.com', 'example.org'])}"
            for i in range(50)
        ]
        self.customers: list[str] = []
        seen: set[str] = set()
        while len(self.customers) < 300:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            address = f"{first.lower()}.{last.lower()}@{rng.choice(domains)}"
            if address not in seen:
                seen.add(address)
                self.customers.append(f"{first} {last} <{address}>")
        self.base_date = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

    def _paragraphs(self, size: int) -> list[str]:
        out: list[str] = []
        total = 0
        while total < size:
            line = self.rng.choice(self.lines)
            out.append(line)
            total += len(line) + 1
        return out

    def _alternative(self, boundary: str, size: int) -> str:
        """A multipart/alternative body of about ``size`` bytes (text 40%, HTML 60%)."""
        text = self._paragraphs(int(size * 0.4))
        html_lines = self._paragraphs(int(size * 0.5))
        html = "".join(f'<p style="margin:0 0 8px 0;font-family:Arial">{line}</p>\n' for line in html_lines)
        return (
            f'--{boundary}\nContent-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 7bit\n\n'
            + "\n".join(text)
            + "\n\n"
            f'--{boundary}\nContent-Type: text/html; charset="UTF-8"\nContent-Transfer-Encoding: 7bit\n\n'
            f'<html><head><meta charset="utf-8"></head><body><div dir="ltr">\n{html}</div></body></html>\n\n'
            f"--{boundary}--\n"
        )

    def _headers(
        self,
        i: int,
        sender: str,
        to: list[str],
        cc: list[str],
        delivered_to: str,
        subject: str,
        content_type: str,
    ) -> str:
        date = format_datetime(self.base_date + timedelta(seconds=37 * i))
        lines = [
            f"Return-Path: <{sender.split('<')[1].rstrip('>')}>",
            f"Delivered-To: {delivered_to}",
            f"From: {sender}",
            f"To: {', '.join(to)}",
        ]
        if cc:
            lines.append(f"Cc: {', '.join(cc)}")
        lines += [
            f"Subject: {subject}",
            f"Date: {date}",
            f"Message-ID: <bench-{i}-{self.rng.getrandbits(48):x}@{COMPANY}>",
            "MIME-Version: 1.0",
            f"Content-Type: {content_type}",
        ]
        return "\n".join(lines) + "\n\n"

    def message(self, i: int) -> tuple[str, bytes]:
        rng = self.rng
        name, local = rng.choice(USERS)
        sender = f"{name} <{local}@{COMPANY}>"
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize()
        roll = rng.random()
        if roll < 0.05:
            return "forward", self._forward(i, sender, subject)
        to = rng.sample(self.customers, rng.choice([1, 1, 1, 2, 3]))
        cc = rng.sample(self.customers, 1) if rng.random() < 0.2 else []
        alt = f"alt-{i}-{rng.getrandbits(32):x}"
        if roll < 0.30:
            mixed = f"mix-{i}-{rng.getrandbits(32):x}"
            size = rng.randint(100_000, 1_000_000)
            payload = base64.encodebytes(rng.randbytes(size)).decode("ascii")
            filename = f"{rng.choice(['quote', 'deck', 'contract', 'report'])}-{i}.{rng.choice(['pdf', 'xlsx', 'zip'])}"
            body = (
                f'--{mixed}\nContent-Type: multipart/alternative; boundary="{alt}"\n\n'
                + self._alternative(alt, rng.randint(2_000, 8_000))
                + f'\n--{mixed}\nContent-Type: application/octet-stream; name="{filename}"\n'
                f'Content-Disposition: attachment; filename="{filename}"\n'
                f"Content-Transfer-Encoding: base64\n\n{payload}\n--{mixed}--\n"
            )
            head = self._headers(i, sender, to, cc, BCC, subject, f'multipart/mixed; boundary="{mixed}"')
            return "attachment", (head + body).encode("ascii")
        head = self._headers(i, sender, to, cc, BCC, subject, f'multipart/alternative; boundary="{alt}"')
        return "alternative", (head + self._alternative(alt, rng.randint(5_000, 30_000))).encode("ascii")

    def _forward(self, i: int, sender: str, subject: str) -> bytes:
        """A rep forwards a customer's email to the forwarding address, Gmail-style (text and HTML)."""
        rng = self.rng
        customer = rng.choice(self.customers)
        when = self.base_date - timedelta(hours=rng.randint(1, 200))
        gmail_when = when.strftime("%a, %b %d, %Y at %I:%M %p").replace(" 0", " ")
        note = rng.choice(self.lines)
        original = self._paragraphs(rng.randint(1_000, 6_000))
        block = (
            "---------- Forwarded message ---------\n"
            f"From: {customer}\nDate: {gmail_when}\nSubject: Re: {subject}\nTo: {sender}\n\n"
        )
        text = f"{note}\n\n{block}" + "\n".join(original) + "\n"
        html_block = block.replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>\n")
        html = (
            f'<html><body><div dir="ltr">{note}<br><br><div class="gmail_quote"><div dir="ltr" '
            f'class="gmail_attr">{html_block}</div><br><br>'
            + "".join(f"<div>{line}</div>\n" for line in original)
            + "</div></div></body></html>\n"
        )
        alt = f"fwd-{i}-{rng.getrandbits(32):x}"
        head = self._headers(
            i, sender, [FWD], [], FWD, f"Fwd: Re: {subject}", f'multipart/alternative; boundary="{alt}"'
        )
        body = (
            f'--{alt}\nContent-Type: text/plain; charset="UTF-8"\nContent-Transfer-Encoding: 7bit\n\n{text}\n'
            f'--{alt}\nContent-Type: text/html; charset="UTF-8"\nContent-Transfer-Encoding: 7bit\n\n{html}\n'
            f"--{alt}--\n"
        )
        return (head + body).encode("ascii")


def seed_backlog(server: Any, count: int, seed: int) -> Backlog:
    backlog = Backlog(count)
    generator = Generator(seed)

    def raws() -> Iterator[bytes]:
        for i in range(count):
            kind, raw = generator.message(i)
            backlog.kinds[kind] = backlog.kinds.get(kind, 0) + 1
            backlog.bytes += len(raw)
            yield raw

    server.seed_maildir(IMAP_USER, "INBOX", raws())
    return backlog


# -- A: the floor ---------------------------------------------------------------------------------------


def imap_client(account: Any) -> Any:
    from imapclient import IMAPClient

    client = IMAPClient(account.host, port=account.port, ssl=False)
    client._imap.debug = 0  # imapclient's default (5) formats a repr of every literal: most of the CPU
    client.login(account.user, account.password)
    return client


@dataclass
class Floor:
    messages: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def measure_floor(account: Any) -> Floor:
    started = time.perf_counter()
    client = imap_client(account)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        count = size = 0
        for start in range(0, len(uids), FLOOR_BATCH):
            response = client.fetch(uids[start : start + FLOOR_BATCH], ["BODY.PEEK[]"])
            for data in response.values():
                count += 1
                size += len(data[b"BODY[]"])
    finally:
        client.logout()
    return Floor(count, size, time.perf_counter() - started)


def restore_inbox(account: Any, expected: int) -> None:
    """Put every message back into INBOX: one UID MOVE per folder the drain moved messages to."""
    client = imap_client(account)
    try:
        for folder in ("Processed", "Error"):
            if client.folder_exists(folder):
                info = client.select_folder(folder)
                if int(info.get(b"EXISTS", 0)):
                    client.move("1:*", "INBOX")
        found = int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
    finally:
        client.logout()
    if found != expected:
        raise RuntimeError(f"INBOX holds {found} messages after the restore, expected {expected}")


# -- B: emaillog's drain, in a child process ----------------------------------------------------------------


@dataclass
class Drain:
    seconds: float
    wall: float
    seen: int
    moved: int
    outcomes: dict[str, int]
    maxrss_mb: float
    cpu_daemon: float  # CPU seconds of the daemon's own process during the pass (all its threads)
    cpu_workers: float  # CPU seconds of its parser worker processes
    cpu_imap: float = 0.0  # CPU seconds of Dovecot (all its processes) while the drain ran
    cpu_database: float = 0.0  # the same of PostgreSQL (SQLite runs in the daemon)

    @property
    def rate(self) -> float:
        return self.seen / self.seconds


def settings_env(account: Any, data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "EMAILLOG_DATA_DIR": str(data_dir),
        "EMAILLOG_DATABASE_URL": database_url,
        "EMAILLOG_BCC_ADDRESS": BCC,
        "EMAILLOG_FORWARD_ADDRESS": FWD,
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
        **account.settings(),
    }


def load_settings(env: dict[str, str]) -> Any:
    from emaillog.settings import load

    return load(None, env)


def prepare_crm(env: dict[str, str]) -> None:
    """Create the schema and the users, as an admin would with ``emaillog users add`` before the run."""
    from emaillog import admin
    from emaillog.store import open_store

    settings = load_settings(env)
    store = open_store(settings)
    try:
        for name, local in USERS:
            admin.add_user(store, settings, f"{local}@{COMPANY}", name, True, True)
    finally:
        store.db.close()


def prepare_crm_by(checkout: Path, env: dict[str, str]) -> None:
    """``prepare_crm`` by the emaillog of ``checkout``: the schema is then the one its code knows. An
    older checkout given with --against could not work on the schema this one's code creates (its
    ledger key changed with v11)."""
    if checkout == ROOT:
        prepare_crm(env)
        return
    script = "import os, runpy, sys; runpy.run_path(sys.argv[1])['prepare_crm'](dict(os.environ))"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILLOG_")} | env
    subprocess.run(
        [sys.executable, "-c", script, str(checkout / "bench" / "backlog.py")], env=child_env, check=True
    )


def drain_child() -> int:
    """The child: start up as ``emaillog run --once`` does, time the pass, print one JSON line."""
    from emaillog.rules import load_chain
    from emaillog.runner import Runner, setup_logging
    from emaillog.store import open_store

    setup_logging()
    settings = load_settings(dict(os.environ))
    store = open_store(settings)
    chain = load_chain(settings.chain_file)
    runner = Runner(settings, store, chain, False)
    profile_to = os.environ.get("BENCH_PROFILE")
    cpu_before = _cpu(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if profile_to:
        import cProfile

        with cProfile.Profile() as profiler:
            report = runner.one_pass()
        profiler.dump_stats(profile_to)
    else:
        report = runner.one_pass()
    seconds = time.perf_counter() - started
    cpu_daemon = _cpu(resource.RUSAGE_SELF) - cpu_before
    store.db.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "seen": report.seen,
                "moved": report.moved,
                "outcomes": report.outcomes,
                "hwm_kb": _vm_hwm_kb(),
                "cpu_daemon": cpu_daemon,
                # The pass closes its worker pool, so the workers are reaped children by now.
                "cpu_workers": _cpu(resource.RUSAGE_CHILDREN),
            }
        )
    )
    return 0


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def server_cpu(master: int) -> float:
    """CPU seconds (user + system) a server has used so far: its master process, the children it
    has reaped (an imap process or a PostgreSQL backend ends with its connection), and those still
    running. 0 for no server (pid 0)."""
    if not master:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile: counted in its parent's reaped children
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if master in (pid, parent):
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def _vm_hwm_kb() -> int:
    """This process's peak RSS since exec.

    Not getrusage: Linux carries ru_maxrss across fork and execve, so a child would report the
    parent's size at fork time if that were larger. VmHWM belongs to the exec'd image alone.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_drain(env: dict[str, str], workdir: Path, checkout: Path = ROOT) -> Drain:
    """One drain by the emaillog of ``checkout`` (this one, or the one given with --against)."""
    log_path = workdir / "emaillog.log"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILLOG_")} | env
    if PROFILE_TO:
        child_env["BENCH_PROFILE"] = PROFILE_TO
    started = time.perf_counter()
    with log_path.open("wb") as log:
        # cwd=workdir: no ./.env of the checkout is read; the settings are exactly those above.
        process = subprocess.Popen(
            [sys.executable, str(checkout / "bench" / "backlog.py"), "--drain-child"],
            cwd=workdir,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
        try:
            out = process.stdout.read() if process.stdout else b""
            process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the drain exited with {process.returncode}; log tail:\n{tail}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return Drain(
        result["seconds"],
        wall,
        result["seen"],
        result["moved"],
        result["outcomes"],
        result["hwm_kb"] / 1024,
        result["cpu_daemon"],
        result["cpu_workers"],
    )


# -- databases ----------------------------------------------------------------------------------------------


class Backends:
    """Fresh databases per run; templates with history for --history."""

    def __init__(self, workdir: Path, names: list[str], account: Any) -> None:
        self.workdir = workdir
        self.account = account
        self.pg: Any = None
        self.templates: dict[str, str] = {}
        self.counter = 0
        # Each run's files are removed at the end, not before the next run: on an ext4 without a
        # journal, every new file skips, one by one, the inodes freed in the last 1-6 minutes, so
        # deleting one run's 2,400 attachments made the next run's file creation quadratic (0.3-1 ms
        # of CPU a file, against 0.04 ms). A production data dir sees no such mass deletions.
        self.cleanups: list[Callable[[], None]] = []
        if "postgresql" in names:
            from pg import PgCluster

            # Durable, like SQLite's synchronous=FULL here and a production server: commits wait for
            # the disk.
            self.pg = PgCluster(durable=True)
            self.pg.start()

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()
        if self.pg is not None:
            self.pg.stop()

    def new_run(self, backend: str, history: bool, checkout: Path = ROOT) -> tuple[dict[str, str], Path]:
        """Settings for a run on an empty (or history) database and its work dir (removed by close());
        the users of an empty one are added by the emaillog of ``checkout``, which drains it."""
        self.counter += 1
        run_dir = self.workdir / f"run{self.counter}"
        data_dir = run_dir / "data"
        data_dir.mkdir(parents=True)
        if backend == "sqlite":
            path = data_dir / "emaillog.sqlite3"
            if history:
                shutil.copyfile(self.templates["sqlite"], path)
            env = settings_env(self.account, data_dir, f"sqlite:///{path}")

            def cleanup() -> None:
                shutil.rmtree(run_dir, ignore_errors=True)
        else:
            name = f"bench_run{self.counter}"
            if history:
                self._pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.templates["postgresql"]}"')
                url = self.pg.url(name)
            else:
                url = self.pg.create_database(name)
            env = settings_env(self.account, data_dir, url)

            def cleanup() -> None:
                self.pg.drop_database(name)
                shutil.rmtree(run_dir, ignore_errors=True)

        if history:
            # The copy leaves hundreds of MB of dirty pages: written back during the timed drain, they
            # delay its fsyncs (ext4 flushes other files' data with its journal) and the floor's reads.
            os.sync()
        else:
            prepare_crm_by(checkout, env)
        self.cleanups.append(cleanup)
        return env, run_dir

    def _pg_admin(self, statement: str) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.pg.port, user="postgres", dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def build_history(self, backend: str) -> float:
        """A template database with the users plus 1M ledger rows and 100k contacts; returns seconds."""
        started = time.perf_counter()
        template_dir = self.workdir / f"template-{backend}"
        template_dir.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            path = template_dir / "emaillog.sqlite3"
            env = settings_env(self.account, template_dir, f"sqlite:///{path}")
            self.templates["sqlite"] = str(path)
        else:
            name = "bench_history"
            env = settings_env(self.account, template_dir, self.pg.create_database(name))
            self.templates["postgresql"] = name
        prepare_crm(env)
        insert_history(env)
        return time.perf_counter() - started


def insert_history_emails(db: Any, account: int, contact_ids: list[int], when: Any, chunk: int) -> None:
    """HISTORY_EMAILS logged emails with fingerprints, Message-IDs and threads, one contact each."""
    from peewee import chunked

    from emaillog.store.models import EmailContact, LoggedEmail, User

    owner = User.select(User.id).where(User.account == account).order_by(User.id).first().id
    for start in range(0, HISTORY_EMAILS, 50_000):
        with db.atomic():
            rows = (
                dict(
                    account=account,
                    identity=f"mid:hist-{n}@hist.example",
                    fingerprint="fp:" + hashlib.sha256(f"hist-{n}".encode()).hexdigest(),
                    route="bcc",
                    direction="outgoing",
                    owner=owner,
                    message_id=f"<hist-{n}@hist.example>",
                    subject=f"History {n}",
                    date=when,
                    from_address=f"rita@{COMPANY}",
                    text_body=f"An email from the history, number {n}. " * 8,
                    in_reply_to=f"<hist-{n - 1}@hist.example>" if n % 4 else None,
                    created_at=when,
                )
                for n in range(start, min(start + 50_000, HISTORY_EMAILS))
            )
            for page in chunked(rows, chunk):
                LoggedEmail.insert_many(page).execute()
    emails = LoggedEmail.select(LoggedEmail.id).where(LoggedEmail.account == account).order_by(LoggedEmail.id)
    links = ((email.id, contact_ids[n % len(contact_ids)]) for n, email in enumerate(emails))
    with db.atomic():
        for page in chunked(links, chunk):
            EmailContact.insert_many(page, fields=[EmailContact.email, EmailContact.contact]).execute()


def insert_history(env: dict[str, str]) -> None:
    from peewee import chunked

    from emaillog.store import open_store
    from emaillog.store.models import (
        Company,
        Contact,
        ContactAddress,
        Ledger,
        utcnow,
    )

    settings = load_settings(env)
    store = open_store(settings)
    db, account = store.db, store.account_id
    rng = random.Random(SEED + 1)
    now = utcnow()
    old = now - timedelta(days=400)
    chunk = 2000 if settings.database_url.startswith("sqlite") else 5000
    ledger_fields = [
        Ledger.account,
        Ledger.mailbox,
        Ledger.uidvalidity,
        Ledger.uid,
        Ledger.sha256,
        Ledger.message_id,
        Ledger.outcome,
        Ledger.route,
        Ledger.owner,
        Ledger.trace_json,
        Ledger.folder,
        Ledger.attempts,
        Ledger.disposed,
        Ledger.first_seen,
        Ledger.updated_at,
    ]
    try:
        with db.atomic():
            companies = [
                dict(account=account, domain=f"hist{i}.example", name=f"History {i}", created_at=old)
                for i in range(HISTORY_COMPANIES)
            ]
            for rows in chunked(companies, chunk):
                Company.insert_many(rows).execute()
            company_ids = [
                c.id
                for c in Company.select(Company.id)
                .where((Company.account == account) & Company.domain.startswith("hist"))
                .order_by(Company.id)
            ]
            contacts = [
                dict(
                    account=account,
                    name=f"History Contact {i}",
                    company=company_ids[i % len(company_ids)],
                    created_at=old,
                )
                for i in range(HISTORY_CONTACTS)
            ]
            for rows in chunked(contacts, chunk):
                Contact.insert_many(rows).execute()
            contact_ids = [
                c.id
                for c in Contact.select(Contact.id)
                .where((Contact.account == account) & Contact.name.startswith("History Contact"))
                .order_by(Contact.id)
            ]
            addresses = [
                dict(account=account, contact=cid, address=f"contact{n}@hist{n % HISTORY_COMPANIES}.example")
                for n, cid in enumerate(contact_ids)
            ]
            for rows in chunked(addresses, chunk):
                ContactAddress.insert_many(rows).execute()
        insert_history_emails(db, account, contact_ids, old, chunk)
        for start in range(0, HISTORY_LEDGER_ROWS, 100_000):
            with db.atomic():
                rows_iter = (
                    (
                        account,
                        "history",
                        1_600_000_000,
                        uid,
                        f"{rng.getrandbits(256):064x}",
                        f"<hist-{uid}@hist.example>",
                        "logged",
                        "bcc",
                        f"rita@{COMPANY}",
                        "[]",
                        "Processed",
                        1,
                        True,
                        old,
                        old,
                    )
                    for uid in range(start + 1, min(start + 100_000, HISTORY_LEDGER_ROWS) + 1)
                )
                for rows in chunked(rows_iter, chunk):
                    Ledger.insert_many(rows, fields=ledger_fields).execute()
        if settings.database_url.startswith("sqlite"):
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            db.execute_sql("ANALYZE")
    finally:
        db.close()


# -- the run ------------------------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:8.1f} msg/s"


def check(value: float, target: float, higher: bool = True) -> str:
    ok = value >= target if higher else value <= target
    return "ok" if ok else "BELOW" if higher else "ABOVE"


def run_rounds(
    args: argparse.Namespace, backends: list[str], account: Any, backlog: Backlog, dbs: Backends
) -> dict[str, list[tuple[Floor, Drain]]]:
    """A then B per round, backend (and empty/history database, and checkout); prints one line per B."""
    results: dict[str, list[tuple[Floor, Drain]]] = {}
    print(
        f"{'round':<6}{'run':<22}{'floor':>14}{'MB/s':>9}{'emaillog':>16}{'ratio':>8}{'RSS MB':>9}"
        f"{'wall s':>8}{'CPU s d+w':>12}{'imap+db':>10}  outcomes"
    )
    checkouts = [(ROOT, "")] + ([(args.against, f" @{args.against_commit}")] if args.against else [])
    for round_no in range(1, args.rounds + 1):
        # With --against, the two checkouts take turns going first, so neither always runs second.
        order = checkouts if round_no % 2 else checkouts[::-1]
        for backend in backends:
            for history in [False, True] if args.history else [False]:
                for checkout, tag in order:
                    label = f"{backend}{' +history' if history else ''}{tag}"
                    floor, drain = measure_pair(account, backlog, dbs, backend, history, checkout)
                    results.setdefault(label, []).append((floor, drain))
                    outcomes = " ".join(f"{k}={v}" for k, v in sorted(drain.outcomes.items()))
                    print(
                        f"{round_no:<6}{label:<22}{fmt_rate(floor.rate):>14}{floor.bytes / MB / floor.seconds:9.1f}"
                        f"{fmt_rate(drain.rate):>16}{drain.rate / floor.rate:8.3f}{drain.maxrss_mb:9.1f}"
                        f"{drain.wall:8.1f}{drain.cpu_daemon:6.1f}+{drain.cpu_workers:<5.1f}"
                        f"{drain.cpu_imap:6.1f}+{drain.cpu_database:<3.1f}  {outcomes}",
                        flush=True,
                    )
    return results


def measure_pair(
    account: Any, backlog: Backlog, dbs: Backends, backend: str, history: bool, checkout: Path
) -> tuple[Floor, Drain]:
    """A (the floor), then B (a drain by ``checkout``), then everything back into INBOX."""
    floor = measure_floor(account)
    if floor.messages != backlog.messages:
        raise RuntimeError(f"the floor read {floor.messages} of {backlog.messages} messages")
    env, run_dir = dbs.new_run(backend, history, checkout)
    masters = (SERVER_PID, dbs.pg.pid if backend == "postgresql" else 0)
    before = [server_cpu(m) for m in masters]
    drain = run_drain(env, run_dir, checkout)
    imap, database = (server_cpu(m) - b for m, b in zip(masters, before, strict=True))
    drain = replace(drain, cpu_imap=imap, cpu_database=database)
    restore_inbox(account, backlog.messages)
    measure_floor(account)  # untimed warm-up: moved messages are read cold once
    return floor, drain


def settle_after_last_cleanup() -> None:
    """Wait until the last run's clean-up is RECENTLY_DELETED_SECONDS old.

    On an ext4 without a journal (this kind of VM's root), a new file skips, one by one, the
    inodes freed in the last 300 s once their table is written to again, as the drain's new files
    write it: the run after another paid it in each attachment it spooled (perf: ext4's
    ``recently_deleted`` 3 % of the drain's samples, against none 5 minutes later), and the floor,
    which makes no file, did not. Other mass deletions (a test suite's temp dirs) are not known here.
    """
    try:
        age = time.time() - float(CLEANED_STAMP.read_text())
    except (OSError, ValueError):
        return
    if 0 <= age < RECENTLY_DELETED_SECONDS:
        wait = RECENTLY_DELETED_SECONDS - age
        print(
            f"the last run deleted its files {age:.0f}s ago: waiting {wait:.0f}s (see settle_after_last_cleanup)",
            flush=True,
        )
        time.sleep(wait)


def file_creation_note(workdir: Path, files: int = 300) -> str:
    """What creating a file costs in the work dir: each spooled attachment is a new file.

    On an ext4 without a journal, a new inode skips those freed in the last minutes one by one, so
    a directory near many recent deletions (a busy /tmp: test suites, earlier benchmark runs) makes
    every new file cost up to a millisecond of CPU; the drains' figures are then pessimistic.
    """
    probe = workdir / "file-creation-probe"
    probe.mkdir()
    started = time.process_time()
    for n in range(files):
        (probe / str(n)).touch()
    ms = (time.process_time() - started) * 1000 / files
    verdict = (
        "ok" if ms < 0.2 else "HIGH: recent deletions nearby; use a TMPDIR away from them for fair figures"
    )
    return f"creating a file in {workdir.parent}: {ms:.3f} ms of CPU ({verdict})"


def commit_of(checkout: Path) -> str:
    """The short commit of a git checkout, or its directory name."""
    found = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or checkout.name


def print_summary(
    args: argparse.Namespace, backends: list[str], results: dict[str, list[tuple[Floor, Drain]]]
) -> None:
    print("\nsummary (median over rounds; ratio = emaillog / the floor measured just before it)")
    for backend in backends:
        runs = results[backend]
        ratio = statistics.median(d.rate / f.rate for f, d in runs)
        rate = statistics.median(d.rate for _, d in runs)
        floor_rate = statistics.median(f.rate for f, _ in runs)
        rss = max(d.maxrss_mb for _, d in runs)
        print(
            f"  {backend:<11} emaillog {rate:8.1f} msg/s   floor {floor_rate:8.1f} msg/s   "
            f"ratio {ratio:.3f} (target >= {TARGET_RATIO[backend]}: {check(ratio, TARGET_RATIO[backend])})   "
            f"peak RSS {rss:.0f} MB (target <= {TARGET_RSS_MB}: {check(rss, TARGET_RSS_MB, higher=False)})"
        )
        if args.against:
            other = results[f"{backend} @{args.against_commit}"]
            paired = statistics.median(
                (d.rate / f.rate) / (od.rate / of.rate) for (f, d), (of, od) in zip(runs, other, strict=True)
            )
            print(
                f"  {backend:<11} against {args.against_commit}: ratio {statistics.median(od.rate / of.rate for of, od in other):.3f}; "
                f"this checkout's ratio / theirs, median over rounds: {paired:.3f}"
            )
        if args.history:
            hist = results[f"{backend} +history"]
            raw = statistics.median(h.rate / e.rate for (_, e), (_, h) in zip(runs, hist, strict=True))
            normalised = statistics.median(
                (h.rate / hf.rate) / (e.rate / ef.rate) for (ef, e), (hf, h) in zip(runs, hist, strict=True)
            )
            print(
                f"  {backend:<11} with history: {statistics.median(h.rate for _, h in hist):8.1f} msg/s, "
                f"ratio to empty {raw:.3f} (floor-normalised {normalised:.3f}; target >= {TARGET_HISTORY}: "
                f"{check(raw, TARGET_HISTORY)})   peak RSS {max(h.maxrss_mb for _, h in hist):.0f} MB"
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="backlog size (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds per backend (default 2)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument(
        "--history",
        action="store_true",
        help="also drain onto 1,000,000 ledger rows and 100,000 contacts; print the ratio",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 messages, 1 round (a fast check)")
    parser.add_argument("--profile", metavar="FILE", help="write the drain's cProfile stats to FILE")
    parser.add_argument(
        "--against",
        type=lambda path: Path(path).resolve(),
        metavar="DIR",
        help="another checkout (e.g. a git worktree of an older commit): its drains take turns with this one's",
    )
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    parser.add_argument("--drain-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drain_child:
        return drain_child()
    if args.quick:
        args.messages, args.rounds = 1_000, 1
    if args.profile:
        global PROFILE_TO
        PROFILE_TO = str(Path(args.profile).resolve())
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(TARGET_RATIO)
    if unknown or not backends or args.messages < 1 or args.rounds < 1:
        parser.error(f"bad --backends {sorted(unknown)} / --messages / --rounds")
    if args.against and not (args.against / "bench" / "backlog.py").is_file():
        parser.error(f"--against {args.against}: no bench/backlog.py there")
    args.against_commit = commit_of(args.against) if args.against else None

    from emaillog.devmail import DevDovecot

    if not args.quick:
        settle_after_last_cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="emaillog-bench-"))
    workdir.chmod(0o755)  # as root, Dovecot serves the mail as `dovecot`, which must reach it
    server = DevDovecot(workdir / "dovecot")
    (workdir / "dovecot").mkdir()
    (workdir / "dovecot").chmod(0o755)
    dbs: Backends | None = None
    try:
        server.start()
        global SERVER_PID
        SERVER_PID = server.pid or 0
        account = server.add_user(IMAP_USER, IMAP_PASSWORD)
        started = time.perf_counter()
        backlog = seed_backlog(server, args.messages, args.seed)
        seeded = time.perf_counter() - started
        # The seeded maildir is ~2 GB of dirty pages: left to the kernel's 30 s writeback, it was
        # written out during the first drain (vmstat: 2 GB in 2 s, 43% iowait), delaying its fsyncs.
        os.sync()
        measure_floor(account)  # untimed warm-up: Dovecot builds its index cache on the first read
        kinds = ", ".join(f"{backlog.kinds.get(k, 0)} {k}" for k in ("alternative", "attachment", "forward"))
        print(
            f"backlog: {backlog.messages} messages, {backlog.bytes / MB:.1f} MB ({kinds}); seed {args.seed}; "
            f"seeded in {seeded:.1f}s"
        )
        print(
            f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; rounds {args.rounds}; "
            f"backends {','.join(backends)}{'; history' if args.history else ''}"
        )
        print(file_creation_note(workdir))
        dbs = Backends(workdir, backends, account)
        if args.history:
            for backend in backends:
                seconds = dbs.build_history(backend)
                print(
                    f"history template ({backend}): {HISTORY_LEDGER_ROWS} ledger rows, {HISTORY_EMAILS} logged "
                    f"emails, {HISTORY_CONTACTS} contacts, {HISTORY_COMPANIES} companies inserted in {seconds:.1f}s"
                )
        print()
        results = run_rounds(args, backends, account, backlog, dbs)
        print_summary(args, backends, results)
        return 0
    finally:
        if dbs is not None:
            dbs.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        CLEANED_STAMP.parent.mkdir(parents=True, exist_ok=True)
        CLEANED_STAMP.write_text(str(time.time()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
