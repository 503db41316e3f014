"""Memory and time for one message carrying a 60 MB attachment (issue 4, SPEC §8).

Prints the peak RSS and wall time of `python daemon.py --once` logging it, next to a baseline
measured in the same run: imapclient fetching the message whole and the stdlib parsing it.
Each runs in its own process, so the peak RSS is that run's alone. Target: emaillog under 100 MB.

    .venv/bin/python bench/large_message.py [--mb 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emaillog.devmail import DevDovecot  # noqa: E402

BASELINE = """
import sys
from email import policy
from email.parser import BytesParser
from imapclient import IMAPClient
host, port, user, password = sys.argv[1:5]
client = IMAPClient(host, port=int(port), ssl=False)
client.login(user, password)
client._imap.debug = 0
client.select_folder("INBOX", readonly=True)
for uid, data in client.fetch(client.search(), ["BODY.PEEK[]"]).items():
    msg = BytesParser(policy=policy.default).parsebytes(data[b"BODY[]"])
    for part in msg.iter_attachments():
        part.get_content()
client.logout()
"""


def big_message(megabytes: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "rita@acme.example", "carl@globex.example", "Specs"
    msg["Message-ID"], msg["Delivered-To"] = "<big@acme.example>", "log@acme.example"
    msg.set_content("The specs are attached.")
    msg.add_attachment(
        os.urandom(megabytes * 1024 * 1024), maintype="application", subtype="zip", filename="specs.zip"
    )
    return bytes(msg)


# Linux carries a process's peak RSS across fork and exec into getrusage's figures, so a child of
# this (large) process would report our peak. The child reads its own VmHWM at exit instead.
PEAK_WRAPPER = """
import atexit, runpy, sys
def report():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("PEAK_KB " + line.split()[1] + "\\n")
atexit.register(report)
sys.argv = sys.argv[1:]
if sys.argv[0] == "-c":
    sys.argv = sys.argv[1:]
    exec(compile(sys.argv[0], "<bench>", "exec"), {"__name__": "__main__"})
else:
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def child_run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *argv[1:]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    peaks = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    if done.returncode != 0 or not peaks:
        raise RuntimeError(f"{argv[1]} failed: {done.stderr[-2000:]}")
    return seconds, peaks[-1] / 1024


def measure(kind: str, megabytes: int) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="emaillog-bench-"))
    root.chmod(0o755)
    server = DevDovecot(root / "dovecot")
    server.start()
    try:
        account = server.add_user("bench", "bench")
        server.seed_maildir("bench", "INBOX", [big_message(megabytes)])
        if kind == "baseline":
            return child_run(
                [sys.executable, "-c", BASELINE, account.host, str(account.port), "bench", "bench"]
            )
        env = {
            **os.environ,
            "EMAILLOG_DATA_DIR": str(root / "data"),
            "EMAILLOG_IMAP_HOST": account.host,
            "EMAILLOG_IMAP_PORT": str(account.port),
            "EMAILLOG_IMAP_SECURITY": "none",
            "EMAILLOG_IMAP_USER": "bench",
            "EMAILLOG_IMAP_PASSWORD": "bench",
            "EMAILLOG_BCC_ADDRESS": "log@acme.example",
            "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            "EMAILLOG_MAX_ATTACHMENT_MB": str(megabytes + 10),
        }
        subprocess.run(
            [sys.executable, "-m", "emaillog", "users", "add", "rita@acme.example"],
            env=env,
            check=True,
            cwd=root,
        )
        return child_run([sys.executable, str(ROOT / "daemon.py"), "--once"], env={**env, "PWD": str(root)})
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=60, help="attachment size in MB")
    args = parser.parse_args()
    results = {}
    for kind in ("baseline", "emaillog"):
        results[kind] = measure(kind, args.mb)
    base, ours = results["baseline"], results["emaillog"]
    print(f"message with a {args.mb} MB attachment ({args.mb * 1.37:.0f} MB encoded)")
    print(f"  baseline (imapclient whole fetch + stdlib parse): {base[0]:6.2f} s  peak RSS {base[1]:6.1f} MB")
    print(f"  emaillog --once (sections, streamed to disk):     {ours[0]:6.2f} s  peak RSS {ours[1]:6.1f} MB")
    print(
        f"  emaillog / baseline: time {ours[0] / base[0]:.2f}x, memory {ours[1] / base[1]:.2f}x;"
        f" target peak RSS < 100 MB: {'met' if ours[1] < 100 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
