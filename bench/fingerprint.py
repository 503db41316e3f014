"""Measure the SPEC §9 fingerprint: how many forwards of one original share it, and its cost per call.

    .venv/bin/python bench/fingerprint.py [CORPUS_DIR]

1. crisp's forwarded-message corpus (see forwards_corpus.py), read by the inline forward reader and
   grouped by original: the fixtures of one original, of one nested chain (variants 14 and 15, each
   written by several clients), and the single ones; for each group, how many distinct fingerprints
   of its body letters (sender, minute and subject aside) today's fingerprint and the one before
   schema v10 (``fingerprint_with_links``: link targets and placeholders counted) give.
2. µs per ``fingerprint()`` call on bodies of 5, 15 and 30 KB (seeded): prose, prose with two links
   and a picture placeholder near the top, prose with a link target, a mailto and two picture
   placeholders every 550 characters (a worst case), and non-ASCII prose; the
   version before schema v10 alongside, in the same run (it is today's code without the cleaning).
"""

from __future__ import annotations

import random
import re
import sys
import timeit
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forwards_corpus import DEFAULT_CORPUS, load

from emaillog.addresses import Address
from emaillog.forwards import parse_inline
from emaillog.rules.identity import fingerprint, fingerprint_with_links

_VARIANT = re.compile(r"variant_(\d+)")
_CHAINS = ("14", "15")  # nested forward chains, each written by several clients


def corpus_groups(corpus: Path) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for name, _case, body, subject in load(corpus):
        found = parse_inline(body, subject)
        if found is None or found.sender is None:
            continue
        variant = _VARIANT.search(name.split("+")[0])
        if variant and variant.group(1) in _CHAINS:
            group = "nested chain, variant " + variant.group(1)
        else:
            group = "the one original" if _same_as_base(found.body) else "single: " + name.split("+")[0]
        groups[group].append(found.body)
    for group, bodies in sorted(groups.items(), key=lambda item: -len(item[1])):
        old = Counter(fingerprint_with_links(None, None, "", body) for body in bodies)
        new = Counter(fingerprint(None, None, "", body) for body in bodies)
        print(
            f"{group}: {len(bodies)} fixtures; before v10 {len(old)} fingerprint(s), largest shared by "
            f"{old.most_common(1)[0][1]}; now {len(new)}, largest shared by {new.most_common(1)[0][1]}"
        )


_BASE_START = "Aenean quis diam urna. Maecenas eleifend vulputate ligula ac consequat."


def _same_as_base(body: str) -> bool:
    # The fixtures of the one original all hold its three paragraphs and nothing after them.
    return body.startswith(_BASE_START) and body.rstrip().endswith("sagittis eget.")


_WORDS = re.findall(
    r"\w+",
    "the quote for forty licences is attached please sign here before friday our team will call "
    "you tomorrow regarding the delivery of invoice numbers and payment terms",
)


def _prose(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    while sum(map(len, lines)) < size:
        lines.append(" ".join(rng.choice(_WORDS) for _ in range(12)).capitalize() + ".\n")
    return "".join(lines)[:size]


def _linked(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(
            _prose(rng, 400)
            + f" sign here <https://sign.acme.example/d/{rng.randrange(10**9)}?u=rita&t=abc> "
            + "rita@acme.example <mailto:rita@acme.example>\n[image: Acme logo]\n"
            + "[cid:image001.png@01D9A1B2.C3D4E5F0]\n"
        )
    return "".join(parts)[:size]


def _few_links(rng: random.Random, size: int) -> str:
    # A reply with two links and a picture near its start, the rest plain prose.
    start = (
        "Hi Rita, please sign here <https://sign.acme.example/d/88412?u=rita> before Friday; our terms "
        "are at https://acme.example/terms <https://acme.example/terms>.\n[image: Acme logo]\n"
    )
    return start + _prose(rng, size - len(start))


def _non_ascii(rng: random.Random, size: int) -> str:
    return _prose(rng, size).replace("e", "é")


def cost() -> None:
    rng = random.Random(7)
    sender, when = Address("Carl", "carl@globex.example"), datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    kinds: tuple[tuple[str, Callable[[random.Random, int], str]], ...] = (
        ("prose", _prose),
        ("a few links near the top", _few_links),
        ("links and placeholders", _linked),
        ("non-ASCII prose", _non_ascii),
    )
    print("µs per call (best of 5 × 20,000 calls): before v10 → now")
    for kind, make in kinds:
        for size in (5_000, 15_000, 30_000):
            body = make(rng, size)
            figures = [
                _per_call(function, sender, when, body) for function in (fingerprint_with_links, fingerprint)
            ]
            print(f"  {kind:24s} {size // 1000:>2d} KB: {figures[0]:6.1f} → {figures[1]:6.1f}")


def _per_call(
    function: Callable[[Address, datetime, str, str], str], sender: Address, when: datetime, body: str
) -> float:
    runs = timeit.repeat(lambda: function(sender, when, "Re: Proposal", body), number=20_000, repeat=5)
    return min(runs) / 20_000 * 1e6


def main(argv: list[str]) -> int:
    corpus_groups(Path(argv[1]) if len(argv) > 1 else DEFAULT_CORPUS)
    cost()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
