"""Time, peak RSS and bytes fetched of `emaillog errors list` (or `retry --all`) over a full Error folder.

    .venv/bin/python bench/errors_list.py                        # 2,000 messages, 40 of 5 MB, one of 50 MB
    .venv/bin/python bench/errors_list.py --against /tmp/old     # also another checkout's, same folder
    .venv/bin/python bench/errors_list.py --retry --messages 500 --large 0 --huge-mb 0

A misconfigured week leaves thousands of messages in Error, some of them large. The bench starts a
throwaway Dovecot, writes the messages into INBOX (maildir files, a fixed random seed), and runs one
`emaillog run --once` pass untimed: no sender is a user, so every message is rejected and moved to
Error with its ledger row, as the daemon writes them. Then it runs `emaillog errors list --json` in a
child process (peak RSS: the child's own VmHWM) through a loopback proxy that counts the bytes the
server sent, and checks that every row was found in the folder. With --against, each round runs
that checkout's command and this one's, taking turns going first.

--retry times `emaillog errors retry --all --no-pass` instead, on messages without a Message-ID (each
told by its bytes alone), and checks that all were moved back to INBOX; an untimed `run --once`
rejects them into Error again (new ledger rows) for the next measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from faultproxy import FaultProxy  # noqa: E402

from emaillog.devmail import DevDovecot  # noqa: E402

SEED = 20261120
MB = 1024 * 1024
# The child reads its own VmHWM at exit: getrusage's figure carries the parent's over fork and exec.
PEAK_WRAPPER = """
import atexit, runpy, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK_KB " + line.split()[1] + "\\n")
atexit.register(report)
# runpy puts the module's path in sys.argv[0], where -c stands: the arguments stay as given
runpy.run_module("emaillog", run_name="__main__", alter_sys=True)
"""


def messages(count: int, large: int, large_mb: int, huge_mb: int, with_ids: bool = True) -> list[bytes]:
    """``count`` rejected messages: small text ones, ``large`` with a ``large_mb`` attachment, one huge;
    with a Message-ID each unless ``with_ids`` is false."""
    from support import message

    rng = random.Random(SEED)
    every = count // large if large else count + 1
    raws = []
    for n in range(count):
        size = huge_mb if n == count // 2 and huge_mb else large_mb if n % every == every - 1 else 0
        attachments = [("data.bin", rng.randbytes(size * MB))] if size else []
        body = "Hello, here is our proposal. " * rng.randint(50, 1000)
        sender = f"someone{n % 97}@elsewhere.example"
        raws.append(
            message(
                sender=sender,
                message_id=f"<{n}@elsewhere.example>" if with_ids else None,
                body=body,
                attachments=attachments,
            )
        )
    return raws


def run_child(checkout: Path, env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of `emaillog ARGS` run from ``checkout``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *args],
        env={**env, "PYTHONPATH": str(checkout)},
        cwd=env["EMAILLOG_DATA_DIR"],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    if done.returncode != 0 or not peaks:
        raise RuntimeError(f"emaillog {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, peaks[-1] / 1024, done.stdout


def measure(checkout: Path, env: dict[str, str], server: DevDovecot, expected: int) -> str:
    with FaultProxy(server.host, server.port) as proxy:
        seconds, peak, out = run_child(
            checkout, {**env, "EMAILLOG_IMAP_PORT": str(proxy.port)}, "errors", "list", "--json"
        )
        fetched = proxy.from_server
    rows = json.loads(out)
    there = sum(1 for row in rows if row["in_error_folder"])
    if (len(rows), there) != (expected, expected):
        raise RuntimeError(f"{checkout}: {len(rows)} rows, {there} in the Error folder; expected {expected}")
    return f"{seconds:7.2f} s  peak RSS {peak:6.1f} MB  fetched {fetched / 1e6:8.1f} MB  ({checkout})"


def measure_retry(checkout: Path, env: dict[str, str], server: DevDovecot, expected: int) -> str:
    """`errors retry --all --no-pass` from ``checkout``; then a pass (untimed) fills Error again."""
    with FaultProxy(server.host, server.port) as proxy:
        seconds, peak, out = run_child(
            checkout, {**env, "EMAILLOG_IMAP_PORT": str(proxy.port)}, "errors", "retry", "--all", "--no-pass"
        )
        fetched = proxy.from_server
    if f"moved back to INBOX: {expected}; not found in Error: 0" not in out:
        raise RuntimeError(f"{checkout}: {out.strip()!r}; expected all {expected} moved")
    run_child(ROOT, env, "run", "--once")
    return f"{seconds:7.2f} s  peak RSS {peak:6.1f} MB  fetched {fetched / 1e6:8.1f} MB  ({checkout})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--large", type=int, default=40, help="how many carry a --large-mb attachment")
    parser.add_argument("--large-mb", type=int, default=5)
    parser.add_argument("--huge-mb", type=int, default=50, help="one message this large (0: none)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another checkout to measure on the same folder")
    parser.add_argument(
        "--retry", action="store_true", help="time errors retry --all on messages without a Message-ID"
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="emaillog-bench-errors-"))
    root.chmod(0o755)
    server = DevDovecot(root / "dovecot")
    server.start()
    try:
        account = server.add_user("bench", "bench-password")
        raws = messages(args.messages, args.large, args.large_mb, args.huge_mb, with_ids=not args.retry)
        total = sum(len(raw) for raw in raws)
        server.seed_maildir("bench", "INBOX", raws)
        del raws
        data = root / "data"
        data.mkdir()
        env = {
            **os.environ,
            **account.settings(),
            "EMAILLOG_DATA_DIR": str(data),
            "EMAILLOG_DATABASE_URL": f"sqlite:///{data / 'emaillog.sqlite3'}",
            "EMAILLOG_BCC_ADDRESS": "log@acme.example",
            "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            "EMAILLOG_MAX_ATTACHMENT_MB": str(max(args.large_mb, args.huge_mb) + 10),
        }
        seconds, _, _ = run_child(ROOT, env, "run", "--once")
        print(f"{args.messages} messages ({total / 1e6:.0f} MB) into Error by one pass in {seconds:.0f} s")
        checkouts = [ROOT] if args.against is None else [args.against.resolve(), ROOT]
        command, timed = (
            ("errors retry --all", measure_retry) if args.retry else ("errors list --json", measure)
        )
        for number in range(args.rounds):
            for checkout in checkouts if number % 2 == 0 else checkouts[::-1]:
                print(f"round {number + 1}: {command} {timed(checkout, env, server, args.messages)}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
