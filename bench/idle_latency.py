"""IMAP IDLE pickup latency: APPEND from another connection → committed ledger row (issue 5, item 2).

    .venv/bin/python bench/idle_latency.py                 # 200 messages, SQLite
    .venv/bin/python bench/idle_latency.py --messages 50 --database-url postgresql://…

It starts a throwaway Dovecot (emaillog.devmail; ``mailbox_idle_check_interval = 1 secs`` as in the
tests: Dovecot itself notices a new message within a second, its push reaching a client ~0.45 s after
the APPEND) and the real daemon, ``python daemon.py``, as a child process waiting in IDLE with its
polling and reconciliation far away (3,600 s and 300 s). Then, one at a time, it APPENDs a BCC'd
message over a second IMAP connection and polls the database every 2 ms until the message's ledger
row is ``logged`` (the recorder writes it in the batch's transaction, so a visible row is committed).
The next message is appended only after the previous one was seen, and ``--gap`` seconds more
(default 0.2 s, so the daemon is back in IDLE; with 0 many arrive while the previous pass still runs
and are caught at once by the look the daemon takes before it re-enters IDLE). It prints p50, p95 and max, and
the part of the time the daemon spent in its passes (from its per-message log lines).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402
from peewee import SqliteDatabase  # noqa: E402

from emaillog import admin  # noqa: E402
from emaillog.devmail import DevDovecot  # noqa: E402
from emaillog.settings import load  # noqa: E402
from emaillog.store import open_store  # noqa: E402

REP = "rita@acme.example"


def message(i: int) -> bytes:
    msg = EmailMessage()
    msg["Delivered-To"] = "log@acme.example"
    msg["From"] = f"Rita Rep <{REP}>"
    msg["To"] = f"Customer {i} <c{i}@globex.example>"
    msg["Subject"] = f"Proposal {i}"
    msg["Date"] = "Fri, 20 Nov 2026 10:30:00 +0000"
    msg["Message-ID"] = f"<idle-bench-{i}@acme.example>"
    msg.set_content("Hello, here is our proposal.\n" * 20)
    return bytes(msg)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def wait_ready(sock: socket.socket, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode}")
        try:
            if b"READY=1" in sock.recv(4096):
                return
        except TimeoutError:
            continue
    raise SystemExit("the daemon did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--database-url", help="default: a new SQLite file in the temp dir")
    parser.add_argument(
        "--gap",
        type=float,
        default=0.2,
        help="seconds to wait after a row appears before the next APPEND, so the daemon is "
        "back in IDLE (0: append at once, often caught by the pass still running)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="emaillog-idle-bench-"))
    tmp.chmod(0o755)
    dovecot = DevDovecot(tmp / "dovecot")
    proc: subprocess.Popen[bytes] | None = None
    try:
        dovecot.start()
        account = dovecot.add_user("bench", "bench-password")
        db_url = args.database_url or f"sqlite:///{tmp / 'data' / 'emaillog.sqlite3'}"
        values = {
            **account.settings(),
            "EMAILLOG_DATA_DIR": str(tmp / "data"),
            "EMAILLOG_DATABASE_URL": db_url,
            "EMAILLOG_BCC_ADDRESS": "log@acme.example",
            "EMAILLOG_FORWARD_ADDRESS": "log+fwd@acme.example",
            "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            "EMAILLOG_POLL_SECONDS": "3600",
        }
        env_file = tmp / "emaillog.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        settings = load(env_file, {})
        store = open_store(settings)
        admin.add_user(store, settings, REP, "Rita Rep", active=True, may_log=True)
        store.db.close()

        notify_path = tmp / "notify.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(0.5)
        log_path = tmp / "daemon.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(ROOT / "daemon.py"), "--env-file", str(env_file)],
                env={"PATH": os.environ.get("PATH", ""), "NOTIFY_SOCKET": str(notify_path)},
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(notify, proc)
        notify.close()  # nothing more to read; the daemon's later notifications fail quietly

        try:
            latencies = measure(args.messages, account, settings.database_url, args.gap)
        except SystemExit:
            print(log_path.read_text()[-3000:], file=sys.stderr)
            raise
        print(
            f"IDLE pickup, APPEND → committed ledger row, {len(latencies)} messages one at a time, "
            f"{args.gap}s apart ({'SQLite' if db_url.startswith('sqlite') else 'PostgreSQL'}):"
        )
        print(
            f"  p50 {statistics.median(latencies) * 1000:.0f} ms"
            f"   p95 {percentile(latencies, 95) * 1000:.0f} ms"
            f"   max {max(latencies) * 1000:.0f} ms   min {min(latencies) * 1000:.0f} ms"
        )
        ms = [
            float(part.split("=")[1])
            for line in log_path.read_text().splitlines()
            for part in line.split()
            if part.startswith("ms=")
        ]
        if ms:
            print(
                "  of which the daemon's per-message work (parse, decide): "
                f"p50 {statistics.median(ms):.1f} ms"
            )
        return 0 if percentile(latencies, 95) <= 1.0 else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        dovecot.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(count: int, account: object, database_url: str, gap: float) -> list[float]:
    client = IMAPClient(account.host, port=account.port, ssl=False)  # type: ignore[attr-defined]
    client.login(account.user, account.password)  # type: ignore[attr-defined]
    seen = _row_probe(database_url)
    latencies = []
    try:
        for i in range(count):
            raw = message(i)
            started = time.monotonic()
            client.append("INBOX", raw)
            while not seen(f"<idle-bench-{i}@acme.example>"):
                if time.monotonic() - started > 60:
                    raise SystemExit(f"message {i} was not logged within 60 s")
                time.sleep(0.002)
            latencies.append(time.monotonic() - started)
            time.sleep(gap)
    finally:
        client.logout()
    return latencies


def _row_probe(database_url: str):  # type: ignore[no-untyped-def]
    query = "SELECT 1 FROM ledger WHERE message_id = {p} AND outcome = 'logged'"
    if database_url.startswith("sqlite:///"):
        db = SqliteDatabase(database_url.removeprefix("sqlite:///"))
    else:
        from playhouse.db_url import connect

        db = connect(database_url)
    param = db.param

    def seen(message_id: str) -> bool:
        return db.execute_sql(query.format(p=param), (message_id,)).fetchone() is not None

    return seen


if __name__ == "__main__":
    sys.exit(main())
