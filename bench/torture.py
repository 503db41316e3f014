"""The full-size torture run (issue 7): 10,000 messages, at least 200 kill -9, every kind of fault.

    .venv/bin/python bench/torture.py                                  # SQLite, 10,000 messages, 200 kills
    .venv/bin/python bench/torture.py --database postgresql
    .venv/bin/python bench/torture.py --messages 2000 --kills 40 --fault-rounds 30 --seed 3
    .venv/bin/python bench/torture.py --keep                           # keep the temp dir (logs, maildirs)

The real daemon (``python daemon.py``) runs as a subprocess against its own seeded Dovecot, behind a
fault proxy (tests/faultproxy.py), with an SMTP sink and SQLite or its own PostgreSQL cluster.
Messages arrive in waves; after each wave, at a random moment, one fault: kill -9 of the daemon's
process group (it is then started again, as systemd would), Dovecot restarted, every connection cut
(the proxy also cuts connections at random all along), the database unavailable (PostgreSQL stopped;
SQLite held by another process's exclusive transaction), the SMTP relay down, the attachments
directory replaced by a file, the intake folder deleted and recreated, and a second IMAP client that
flips flags, expunges, and moves processed messages back. A few messages crash the parser every
time. Once things settle, the invariant is checked (tests/torture/harness.py, Torture.check) and the
figures printed: messages, kills, faults injected (by kind), lost, doubled, misplaced, and the rest.

Exit status 0 when nothing was lost, doubled or misplaced and every other check held, else 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "torture"))

from harness import FAULT_KINDS, Config, Torture


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--fault-rounds", type=int, default=60, help="rounds of faults other than kill -9")
    parser.add_argument("--poison", type=int, default=10, help="messages that crash the parser every time")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--drop-rate", type=float, default=0.001)
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated kinds")
    parser.add_argument("--max-minutes", type=float, default=90.0)
    parser.add_argument(
        "--sqlite-lock-seconds",
        type=float,
        default=40.0,
        help="longest exclusive lock held on SQLite (over 30 s, the daemon's writes fail)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir for a post-mortem")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    config = Config(
        messages=args.messages,
        kills=args.kills,
        poison=args.poison,
        database=args.database,
        seed=args.seed,
        batch_size=args.batch_size,
        drop_rate=args.drop_rate,
        faults=tuple(f for f in args.faults.split(",") if f),
        fault_rounds=args.fault_rounds,
        first_wave=min(args.messages, 500),
        max_seconds=args.max_minutes * 60,
        settle_seconds=600,
        verbose=not args.quiet,
        sqlite_lock_seconds=args.sqlite_lock_seconds,
    )
    torture = Torture(config)
    print(
        f"torture: {args.messages} messages, {args.kills} kills, {args.database}, seed {args.seed}, "
        f"work dir {torture.work}",
        flush=True,
    )
    try:
        report = torture.run()
    finally:
        if not args.keep:
            torture.close()
    print()
    print(report.summary())
    for name in (
        "lost",
        "doubled",
        "misplaced",
        "wrong_outcome",
        "ledger_problems",
        "notice_problems",
        "file_problems",
        "copied_by_race",
        "expunge_raced",
    ):
        found = getattr(report, name)
        for problem in found[:15]:
            print(f"  {name}: {problem}")
        if len(found) > 15:
            print(f"  … and {len(found) - 15} more {name}")
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
