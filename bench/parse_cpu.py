"""CPU per message of a parser worker's job, on the backlog benchmark's messages, in one process.

    .venv/bin/python bench/parse_cpu.py [--messages N] [--profile]

Runs ``parallel.parse_one`` (hash, walk, decode, sanitise, read forwards, spool attachments) over
the same reproducible mix ``bench/backlog.py`` seeds (with CRLF line ends, as IMAP delivers it),
with nothing else running, and prints CPU milliseconds per message next to a baseline measured in
the same run: the stdlib parsing each message whole (``BytesParser``, compat32) and hashing it;
then the worker's CPU by kind of message (the backlog's text + HTML, attachment and forward
messages), to show where a worker's time goes.
``--profile`` adds the functions that cost most.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backlog

from emaillog.limits import Limits
from emaillog.parallel import parse_one
from emaillog.rules.route import ReadForwards, RouteSettings


def cpu_ms_per_message(job: Callable[[bytes], object], raws: list[bytes]) -> float:
    for raw in raws[:50]:  # warm caches and imports
        job(raw)
    started = time.process_time()
    for raw in raws:
        job(raw)
    return (time.process_time() - started) * 1000 / len(raws)


def print_by_kind(job: Callable[[bytes], object], made: list[tuple[str, bytes]]) -> None:
    """The job's CPU per message for each kind of message, and each kind's share of the total."""
    kinds: dict[str, list[bytes]] = {}
    for kind, raw in made:
        kinds.setdefault(kind, []).append(raw)
    costs = {kind: cpu_ms_per_message(job, raws) for kind, raws in kinds.items()}
    total = sum(costs[kind] * len(raws) for kind, raws in kinds.items())
    print("  by kind                  messages   avg KB   ms CPU each   share of the CPU")
    for kind, raws in sorted(kinds.items()):
        kilobytes = sum(map(len, raws)) / len(raws) / 1024
        share = costs[kind] * len(raws) / total
        print(f"    {kind:<20} {len(raws):>9} {kilobytes:>8.0f} {costs[kind]:>13.3f} {share:>18.0%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    generator = backlog.Generator(backlog.SEED)
    # With CRLF line ends, as Dovecot serves the seeded (LF) maildir files over IMAP: the drain
    # never sees bare LF, and reading it takes other paths (split_header's search for CRLF CRLF).
    made = [(kind, raw.replace(b"\n", b"\r\n")) for kind, raw in map(generator.message, range(args.messages))]
    raws = [raw for _, raw in made]
    prepare = ReadForwards(RouteSettings(backlog.BCC, backlog.FWD, False))
    with tempfile.TemporaryDirectory() as spool_dir:
        spool = Path(spool_dir)

        def worker(raw: bytes) -> object:
            return parse_one(raw, Limits(), spool, prepare)

        def stdlib(raw: bytes) -> object:
            hashlib.sha256(raw).hexdigest()
            return BytesParser(policy=policy.compat32).parsebytes(raw)

        ours = cpu_ms_per_message(worker, raws)
        baseline = cpu_ms_per_message(stdlib, raws)
        megabytes = sum(map(len, raws)) / 1e6
        print(f"{args.messages} messages, {megabytes:.1f} MB (seed {backlog.SEED})")
        print(f"  parse_one (a worker's job)      {ours:6.3f} ms CPU per message")
        print(f"  stdlib parse + SHA-256 (base)   {baseline:6.3f} ms CPU per message")
        print(f"  ratio                           {ours / baseline:6.3f}")
        print_by_kind(worker, made)
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(lambda: [worker(raw) for raw in raws])
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
