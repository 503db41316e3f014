"""Time `emaillog deals import` (and `--dry-run`) of a large CSV on SQLite and PostgreSQL.

    .venv/bin/python bench/deals_import.py                          # 20,000 deals, 2 contacts each
    .venv/bin/python bench/deals_import.py --against /tmp/old       # also another checkout's, same file
    .venv/bin/python bench/deals_import.py --deals 2000 --backends sqlite

Each deal's contacts are checked against the account's users, team inboxes, company domains and
never-log list (SPEC §4; adminvalues.contact_address_key). The bench writes one CSV (a fixed random
seed): --deals deals, each naming --contacts addresses drawn from a pool of customers on 500 domains,
so that contacts recur across deals as they do in a CRM export. Per round, backend and checkout it
makes a fresh database (a SQLite file, or a database in a throwaway durable PostgreSQL cluster), adds
20 users with an alias each, 5 team inboxes and 200 never-log entries (half addresses, half domains)
with that checkout's own `users import`, `team-inboxes add` and `never-log import`, then times, each
in its own `emaillog` process (start-up included): `deals import --dry-run` (everything to create),
`deals import` (everything created) and `deals import` again (everything unchanged). With --against
the two checkouts take turns going first; the summary gives the median of each figure and the ratio
this checkout / the other.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SEED = 20261206
COMPANY = "acme.example"
STEPS = ("dry-run", "import", "again")
CRM = "20 users with an alias each, 5 team inboxes, 200 never-log entries"


def write_files(workdir: Path, deals: int, per_deal: int) -> dict[str, Path]:
    """The deals CSV and the CRM the account has before it: users, never-log entries."""
    rng = random.Random(SEED)
    pool = [f"customer{n}@client{n % 500}.example" for n in range(max(deals * per_deal // 2, per_deal))]
    files = {name: workdir / f"{name}.csv" for name in ("deals", "users", "never-log")}
    with files["deals"].open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "contacts", "closed", "created"])
        for n in range(deals):
            contacts = " ".join(rng.sample(pool, per_deal))
            out.writerow([f"Deal {n}", contacts, "yes" if n % 7 == 0 else "", f"2026-{n % 12 + 1:02d}-01"])
    with files["users"].open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "aliases"])
        for n in range(20):
            out.writerow([f"rep{n}@{COMPANY}", f"Rep {n}", f"rep{n}@partner{n}.example"])
    with files["never-log"].open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["value"])
        for n in range(100):
            out.writerow([f"noreply{n}@vendor{n}.example"])
            out.writerow([f"blocked{n}.example"])
    return files


def emaillog(checkout: Path, env: dict[str, str], *args: str) -> float:
    """Wall seconds of `emaillog ARGS` run by ``checkout``'s code in its own process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "emaillog", *args],
        env={**env, "PYTHONPATH": str(checkout)},
        cwd=env["EMAILLOG_DATA_DIR"],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{checkout}: emaillog {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    return seconds


class Databases:
    """A fresh database per measurement; PostgreSQL's in one throwaway durable cluster."""

    def __init__(self, workdir: Path, backends: list[str]) -> None:
        self.workdir, self.counter, self.pg = workdir, 0, None
        if "postgresql" in backends:
            from pg import PgCluster

            self.pg = PgCluster(durable=True)
            self.pg.start()

    def fresh(self, backend: str) -> tuple[str, Any]:
        """A database URL and what removes it."""
        self.counter += 1
        if backend == "sqlite":
            path = self.workdir / f"run{self.counter}.sqlite3"
            return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
        name = f"bench_deals{self.counter}"
        assert self.pg is not None
        return self.pg.create_database(name), lambda: self.pg.drop_database(name)

    def close(self) -> None:
        if self.pg is not None:
            self.pg.stop()


def measure(checkout: Path, url: str, data: Path, files: dict[str, Path]) -> dict[str, float]:
    """Seconds of each step, on a database with the account's users and never-log list."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILLOG_")} | {
        "EMAILLOG_DATA_DIR": str(data),
        "EMAILLOG_DATABASE_URL": url,
        "EMAILLOG_BCC_ADDRESS": f"log@{COMPANY}",
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
    }
    emaillog(checkout, env, "users", "import", str(files["users"]))
    for n in range(5):
        emaillog(
            checkout,
            env,
            "team-inboxes",
            "add",
            f"team{n}@partner{n}.example",
            "--connected-by",
            f"rep{n}@{COMPANY}",
        )
    emaillog(checkout, env, "never-log", "import", str(files["never-log"]))
    deals = str(files["deals"])
    return {
        "dry-run": emaillog(checkout, env, "deals", "import", deals, "--dry-run"),
        "import": emaillog(checkout, env, "deals", "import", deals),
        "again": emaillog(checkout, env, "deals", "import", deals),
    }


def _median(rounds: list[dict[str, float]], step: str) -> float:
    return statistics.median(r[step] for r in rounds)


def commit_of(checkout: Path) -> str:
    found = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() or checkout.name


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20000)
    parser.add_argument("--contacts", type=int, default=2, help="contact addresses per deal")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--against", type=Path, help="another checkout to measure on the same file")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    checkouts = [ROOT] + ([args.against.resolve()] if args.against else [])
    names = {checkout: commit_of(checkout) for checkout in checkouts}
    workdir = Path(tempfile.mkdtemp(prefix="emaillog-bench-deals-"))
    databases = Databases(workdir, backends)
    results: dict[tuple[str, Path], list[dict[str, float]]] = {}
    try:
        files = write_files(workdir, args.deals, args.contacts)
        print(f"{args.deals} deals, {args.contacts} contacts each; {CRM}")
        for number in range(args.rounds):
            for backend in backends:
                for checkout in checkouts if number % 2 == 0 else checkouts[::-1]:
                    url, remove = databases.fresh(backend)
                    try:
                        figures = measure(checkout, url, workdir, files)
                    finally:
                        remove()
                    results.setdefault((backend, checkout), []).append(figures)
                    shown = "  ".join(f"{step} {figures[step]:7.2f} s" for step in STEPS)
                    print(f"round {number + 1} {backend:<10} @{names[checkout]}: {shown}", flush=True)
        print("\nsummary (median over rounds, seconds; ratio = this checkout / the other)")
        for backend in backends:
            for checkout in checkouts:
                rounds = results[(backend, checkout)]
                medians = {step: _median(rounds, step) for step in STEPS}
                shown = "  ".join(f"{step} {medians[step]:7.2f}" for step in STEPS)
                print(f"  {backend:<10} @{names[checkout]}: {shown}")
            if args.against:
                mine, other = results[(backend, ROOT)], results[(backend, checkouts[1])]
                ratios = "  ".join(
                    f"{step} {_median(mine, step) / _median(other, step):.3f}" for step in STEPS
                )
                print(f"  {backend:<10} ratio @{names[ROOT]} / @{names[checkouts[1]]}: {ratios}")
    finally:
        databases.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
