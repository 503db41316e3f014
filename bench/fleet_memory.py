"""Memory of a fleet draining several backlogs at once: the daemon, its parser workers, the batches' memfds.

    .venv/bin/python bench/fleet_memory.py                        # 4 mailboxes of 1,000 messages, SQLite
    .venv/bin/python bench/fleet_memory.py --mailboxes 8 --messages 500 --passes 4

A throwaway Dovecot holds one INBOX per mailbox, each seeded with bench/backlog.py's mix (another seed
each); ``daemon.py`` runs the fleet over a mailboxes file (``EMAILLOG_MAX_PASSES_AT_ONCE`` passes at
once) until every INBOX is empty, then gets SIGTERM. Every 0.1 s the script reads, for the main process
and each parser worker: VmHWM and VmRSS (/proc/PID/status; a worker's RSS counts the memfd pages it
mapped, and the pages it shares with the daemon since the fork, so RSS summed over processes counts
them twice or more), PSS (/proc/PID/smaps_rollup: shared pages split between their sharers); and the
memfds the daemon holds (their size: pages the cgroup is charged for, whether mapped or not).

"charged" is what a systemd MemoryMax= compares against, estimated: the PSS of every process (the
memfd pages a worker mapped left out) plus the memfds' size.
"""

# ruff: noqa: E501 - the report lines read best unwrapped
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from backlog import BCC, COMPANY, FWD, USERS, Generator, imap_client  # noqa: E402

MB = 1024 * 1024


def _status(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def _rollup(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024
    return values


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _memfds(pid: int) -> tuple[int, int]:
    """How many batch memfds the daemon holds, and their bytes."""
    count = size = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith("/memfd:emaillog-batch"):
                count += 1
                size += fd.stat().st_size
        except OSError:
            continue
    return count, size


class Sampler:
    """Peaks over the run, per process (main, then each worker by pid)."""

    def __init__(self, main: int) -> None:
        self.main = main
        self.peaks: dict[int, dict[str, int]] = {}
        self.memfd_count = self.memfd_bytes = self.charged = self.samples = 0
        self.alone = False  # only one mailbox has mail left
        self.alone_memfd_bytes = 0

    def sample(self) -> None:
        try:
            pids = [self.main, *_children(self.main)]
            count, size = _memfds(self.main)
        except OSError:
            return
        charged = size
        for pid in pids:
            try:
                status, rollup = _status(pid), _rollup(pid)
            except (OSError, ValueError):
                continue
            now = {
                "hwm": status.get("VmHWM", 0),
                "rss": status.get("VmRSS", 0),
                "rss_shmem": status.get("RssShmem", 0),
                "pss": rollup.get("Pss", 0),
                "pss_anon": rollup.get("Pss_Anon", 0),
                "pss_shmem": rollup.get("Pss_Shmem", 0),
            }
            peak = self.peaks.setdefault(pid, {})
            for key, value in now.items():
                peak[key] = max(peak.get(key, 0), value)
            charged += now["pss"] - now["pss_shmem"]
        self.memfd_count = max(self.memfd_count, count)
        if self.alone:
            self.alone_memfd_bytes = max(self.alone_memfd_bytes, size)
        self.memfd_bytes = max(self.memfd_bytes, size)
        self.charged = max(self.charged, charged)
        self.samples += 1


def seed(server: Any, names: list[str], count: int, first_times: int) -> tuple[dict[str, Any], int]:
    accounts = {}
    total = 0
    for i, name in enumerate(names):
        accounts[name] = server.add_user(name, f"{name}-password")
        generator = Generator(20261102 + i)
        raws = [generator.message(n)[1] for n in range(count * (first_times if i == 0 else 1))]
        total += sum(len(r) for r in raws)
        server.seed_maildir(name, "INBOX", raws)
    return accounts, total


def mailboxes_file(accounts: dict[str, Any]) -> str:
    lines: list[str] = []
    for name, account in accounts.items():
        values = account.settings() | {
            "EMAILLOG_BCC_ADDRESS": BCC,
            "EMAILLOG_FORWARD_ADDRESS": FWD,
            "EMAILLOG_COMPANY_DOMAINS": COMPANY,
        }
        lines += [f"[mailbox.{name}]", *(f'{k} = "{v}"' for k, v in values.items()), ""]
    return "\n".join(lines)


def prepare_crm(env: dict[str, str]) -> None:
    """The reps, in every mailbox's account (each mailbox is its own tenant)."""
    from emaillog import admin
    from emaillog.settings import load
    from emaillog.store import open_database, store_for

    settings = load(None, env)
    db = open_database(settings.database_url)
    try:
        for mailbox in settings.all_mailboxes():
            store = store_for(db, mailbox)
            for person, local in USERS:
                admin.add_user(store, mailbox, f"{local}@{COMPANY}", person, True, True)
    finally:
        db.close()


def left_in_inboxes(accounts: dict[str, Any]) -> list[int]:
    left = []
    for account in accounts.values():
        client = imap_client(account)
        try:
            left.append(int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"]))
        finally:
            client.logout()
    return left


def drain(workdir: Path, accounts: dict[str, Any], extra: dict[str, str]) -> tuple[Sampler, float]:
    data = workdir / "data"
    data.mkdir()
    (workdir / "mailboxes.toml").write_text(mailboxes_file(accounts))
    env = {
        "EMAILLOG_DATA_DIR": str(data),
        "EMAILLOG_DATABASE_URL": f"sqlite:///{data / 'emaillog.sqlite3'}",
        "EMAILLOG_MAILBOXES_FILE": str(workdir / "mailboxes.toml"),
        **extra,
    }
    prepare_crm(env)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILLOG_")} | env
    started = time.monotonic()
    with (workdir / "fleet.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "daemon.py")], env=child_env, cwd=workdir, stderr=log, stdout=log
        )
    sampler = Sampler(proc.pid)
    next_look = time.monotonic() + 2
    try:
        while proc.poll() is None:
            sampler.sample()
            if time.monotonic() >= next_look:
                left = left_in_inboxes(accounts)
                if not any(left):
                    break
                # One mailbox still draining: what the others' batches left behind shows now.
                sampler.alone = sum(1 for n in left if n) == 1
                next_look = time.monotonic() + 1
            time.sleep(0.1)
        seconds = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the fleet exited with {proc.returncode}: see {workdir / 'fleet.log'}")
    return sampler, seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--messages", type=int, default=1000, help="per mailbox (default 1,000)")
    parser.add_argument("--passes", type=int, default=4, help="EMAILLOG_MAX_PASSES_AT_ONCE (default 4)")
    parser.add_argument("--batch-size", type=int, default=200, help="EMAILLOG_BATCH_SIZE (default 200)")
    parser.add_argument(
        "--first-times",
        type=int,
        default=1,
        help="the first mailbox's backlog is this many times the others'",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line instead of the table")
    args = parser.parse_args(argv)

    from emaillog.devmail import DevDovecot

    workdir = Path(tempfile.mkdtemp(prefix="emaillog-fleetmem-"))
    workdir.chmod(0o755)
    (workdir / "dovecot").mkdir()
    (workdir / "dovecot").chmod(0o755)
    server = DevDovecot(workdir / "dovecot")
    try:
        server.start()
        names = [f"box{i}" for i in range(args.mailboxes)]
        accounts, total = seed(server, names, args.messages, args.first_times)
        extra = {"EMAILLOG_MAX_PASSES_AT_ONCE": str(args.passes), "EMAILLOG_BATCH_SIZE": str(args.batch_size)}
        sampler, seconds = drain(workdir, accounts, extra)
    finally:
        server.stop()
    main_peak = sampler.peaks.get(sampler.main, {})
    workers = [p for pid, p in sampler.peaks.items() if pid != sampler.main]
    result = {
        "mailboxes": args.mailboxes,
        "messages": args.messages,
        "backlog_mb": total / MB,
        "passes": args.passes,
        "seconds": seconds,
        "samples": sampler.samples,
        "main": {k: v / MB for k, v in main_peak.items()},
        "workers": [{k: v / MB for k, v in w.items()} for w in workers],
        "memfds": sampler.memfd_count,
        "memfd_mb": sampler.memfd_bytes / MB,
        "charged_mb": sampler.charged / MB,
        "alone_memfd_mb": sampler.alone_memfd_bytes / MB,
    }
    log = (workdir / "fleet.log").read_text(errors="replace")
    outcomes: dict[str, int] = {}
    for word in log.split():
        if word.startswith("outcome="):
            outcomes[word[8:]] = outcomes.get(word[8:], 0) + 1
    result["outcomes"] = outcomes
    result["passes_waited"] = log.count("waiting")
    if os.environ.get("KEEP"):
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.mailboxes} mailboxes x {args.messages} messages ({total / MB:.0f} MB), {args.passes} passes at once, "
        f"batch size {args.batch_size}: drained in {seconds:.1f}s ({sampler.samples} samples)"
    )
    print("peaks (MB)        VmHWM  VmRSS  RssShmem    PSS  Pss_Anon  Pss_Shmem")
    for label, peak in [("main", main_peak), *((f"worker {i}", w) for i, w in enumerate(workers))]:
        print(
            f"{label:<16} {peak.get('hwm', 0) / MB:6.0f} {peak.get('rss', 0) / MB:6.0f} {peak.get('rss_shmem', 0) / MB:9.0f} "
            f"{peak.get('pss', 0) / MB:6.0f} {peak.get('pss_anon', 0) / MB:9.0f} {peak.get('pss_shmem', 0) / MB:10.0f}"
        )
    print(f"outcomes: {outcomes}")
    print(f"batch memfds held at once: {sampler.memfd_count}, {sampler.memfd_bytes / MB:.0f} MB at most")
    print(f"batch memfds while one mailbox drained alone: {sampler.alone_memfd_bytes / MB:.0f} MB at most")
    print(
        f"charged to the cgroup (estimated: PSS less mapped memfd pages, plus the memfds): {sampler.charged / MB:.0f} MB at most"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
