"""CPU per address of the never-log check, on lists of 10, 1,000 and 10,000 entries.

    .venv/bin/python bench/never_log.py [--addresses N] [--repeat N]

The mail path asks rules.recipients.exclusion about every recipient of every message (and the admin
asks it about every contact address of a `deals import`); it asks never_log_entry whether the
account's never-log list covers the address: the address itself, or a domain it is at or below
(SPEC §6). Companies keep long lists (competitors, personal-mail domains, lawyers), so the bench
makes lists of each size (a fixed random seed): half addresses, half domains, some of the domains
subdomains and some in Unicode (IDNA keys are stored in U-labels). The addresses asked about are a
mix: a third at or below a listed domain, a sixth listed themselves, the rest not covered (at
domains of two to five labels). Printed: µs of CPU per address of never_log_entry and of exclusion
(settings as in tests/support.py, one company domain), the best of --repeat runs; then own_domain's
with 1, 3 and 30 company domains; and how many addresses each list covers, to compare two checkouts'
answers.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support import make_settings  # noqa: E402

from emaillog.rules.recipients import exclusion, never_log_entry, own_domain  # noqa: E402
from emaillog.settings import Settings  # noqa: E402

SEED = 20261207
SIZES = (10, 1_000, 10_000)
COMPANY_DOMAIN_COUNTS = (1, 3, 30)
LABELS = ("mail", "eu", "us", "sales", "corp", "mx", "büro", "intern")


class NobodyInternal:
    """The one Lookup question exclusion asks after the never-log list: no address is a user's."""

    def is_internal(self, key: str) -> bool:
        return False


def domain(rng: random.Random, i: int) -> str:
    """A registrable domain, one in eight in Unicode."""
    name = f"bücher{i}" if rng.random() < 0.125 else f"c{i}"
    return f"{name}.{rng.choice(('example', 'co.example', 'test'))}"


def never_log_list(rng: random.Random, size: int) -> frozenset[str]:
    entries: set[str] = set()
    for i in range(size):
        if i % 2:
            entries.add(f"person{i}@{domain(rng, i)}")
        elif rng.random() < 0.25:
            entries.add(f"{rng.choice(LABELS)}.{domain(rng, i)}")
        else:
            entries.add(domain(rng, i))
    return frozenset(entries)


def addresses(rng: random.Random, entries: frozenset[str], count: int) -> list[str]:
    listed = sorted(entries)
    domains = [e for e in listed if "@" not in e]
    keys = [e for e in listed if "@" in e]
    found = []
    for i in range(count):
        roll = rng.random()
        if roll < 1 / 3 and domains:
            below = ".".join(rng.choice(LABELS) for _ in range(rng.randrange(3)))
            found.append(f"user{i}@{below + '.' if below else ''}{rng.choice(domains)}")
        elif roll < 1 / 2 and keys:
            found.append(rng.choice(keys))
        else:
            labels = [rng.choice(LABELS) for _ in range(rng.randrange(3))]
            found.append(f"user{i}@{'.'.join([*labels, f'other{i}', 'example'])}")
    return found


def cpu_us_per_call(call: Callable[[str], object], keys: list[str], repeat: int) -> float:
    """The best of ``repeat`` runs over ``keys``: CPU time, so the other processes on the cores
    (a CI run, say) weigh less than they would on the wall clock."""
    for key in keys[:200]:  # warm caches
        call(key)
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for key in keys:
            call(key)
        best = min(best, time.process_time() - started)
    return best * 1e6 / len(keys)


def per_address(
    entries: frozenset[str], keys: list[str], settings: Settings, repeat: int
) -> tuple[float, float]:
    """µs of CPU per address of never_log_entry and of exclusion, with the never-log list ``entries``."""
    lookup: Any = NobodyInternal()
    return (
        cpu_us_per_call(lambda key: never_log_entry(key, entries), keys, repeat),
        cpu_us_per_call(lambda key: exclusion(key, lookup, settings, entries), keys, repeat),
    )


def with_company_domains(data: Path, count: int) -> Settings:
    domains = ["acme.example", *(f"own{i}.example" for i in range(count - 1))]
    return make_settings(data, EMAILLOG_COMPANY_DOMAINS=",".join(domains))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = make_settings(Path(data_dir))
        print(f"never-log list     never_log_entry µs   exclusion µs   covered of {args.addresses}")
        for size in SIZES:
            entries = never_log_list(rng, size)
            keys = addresses(rng, entries, args.addresses)
            entry_us, exclusion_us = per_address(entries, keys, settings, args.repeat)
            covered = sum(never_log_entry(key, entries) is not None for key in keys)
            print(f"{size:>9,} entries {entry_us:>19.2f} {exclusion_us:>14.2f} {covered:>14}")
        print("company domains    own_domain µs")
        domains = [key.rpartition("@")[2] for key in addresses(rng, frozenset(), args.addresses)]
        domains[::4] = [f"mail.own{i % 2}.example" for i in range(len(domains[::4]))]
        for count in COMPANY_DOMAIN_COUNTS:
            own = with_company_domains(Path(data_dir), count)
            own_us = cpu_us_per_call(lambda d: own_domain(d, own), domains, args.repeat)  # noqa: B023
            print(f"{count:>15} {own_us:>16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
