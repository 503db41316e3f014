"""Batches travel to the parser workers through shared memory that is reused, then given back."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import message

from emaillog.handover import GROWTH, Mapped, Regions
from emaillog.limits import Limits
from emaillog.message import Email
from emaillog.parallel import ParallelParser, ParseJob


@pytest.fixture
def regions() -> Iterator[Regions]:
    made = Regions()
    yield made
    made.close()


def test_a_batch_reads_back_byte_for_byte(regions: Regions) -> None:
    raws = [os.urandom(n) for n in (0, 1, 70_000, 3)] + [b"\r\n.\r\n"]
    handed = regions.hand_over(raws)
    assert Mapped().messages(handed) == raws


def test_a_batch_of_more_messages_than_pwritev_takes_at_once(regions: Regions) -> None:
    raws = [str(i).encode() * (i % 7) for i in range(2500)]
    assert Mapped().messages(regions.hand_over(raws)) == raws


def test_a_region_is_reused_and_its_pages_given_back_when_no_batch_is_in_flight(regions: Regions) -> None:
    first = regions.hand_over([b"a" * 1000])
    second = regions.hand_over([b"b" * 1000])  # fetched while the first is parsed
    assert first.fd != second.fd
    regions.give_back(first.fd)
    assert os.fstat(second.fd).st_size == GROWTH  # the other batch is still in flight: kept
    third = regions.hand_over([b"c" * 1000])
    assert third.fd == first.fd  # reused, not a new memfd per batch
    regions.give_back(second.fd)
    regions.give_back(third.fd)
    assert os.fstat(first.fd).st_size == 0 and os.fstat(second.fd).st_size == 0


def test_regions_a_fleet_made_keep_no_pages_while_one_pass_goes_on_alone(regions: Regions) -> None:
    # Four passes ran together, each with a batch parsed and the next handed over: eight regions.
    # Then three passes ended and one drained its backlog alone: its own two regions (the busy one
    # and one for the batch it hands over next) are all the memory it needs. The other six kept
    # their pages until that pass ended too (384 MB measured on bench/fleet_memory.py).
    handed = [regions.hand_over([b"m" * 1000]) for _ in range(8)]
    for batch_done in handed[:-1]:
        regions.give_back(batch_done.fd)
    holding = [h.fd for h in handed if os.fstat(h.fd).st_size > 0]
    assert len(holding) == 2 and handed[-1].fd in holding
    reused = regions.hand_over([b"n" * 1000])  # the pass's next batch: no new memfd, no new pages
    assert reused.fd in holding
    regions.give_back(handed[-1].fd)
    regions.give_back(reused.fd)
    assert all(os.fstat(h.fd).st_size == 0 for h in handed)


def test_a_worker_maps_again_when_the_region_has_grown(regions: Regions) -> None:
    mapped = Mapped()
    small = regions.hand_over([b"x" * 10])
    assert mapped.messages(small) == [b"x" * 10]
    regions.give_back(small.fd)
    big = [os.urandom(GROWTH), b"tail"]
    larger = regions.hand_over(big)
    assert larger.fd == small.fd and larger.size > small.size
    assert mapped.messages(larger) == big


def batch(count: int) -> list[bytes]:
    return [message(subject=f"Batch {i}", message_id=f"<b{i}@acme.example>") for i in range(count)]


def test_batches_handed_over_before_and_after_the_workers_started_parse_alike(tmp_path: Path) -> None:
    # The first batch's memfd exists when the pool forks; the second's is made after, so the
    # workers reach it through /proc/<pid>/fd.
    parser = ParallelParser(workers=2)
    try:
        job = ParseJob(Limits(), tmp_path / "spool", isolate=True)  # on the pool, however small
        first, second = batch(20), batch(30)
        waiting_first = parser.submit(first, job)
        waiting_second = parser.submit(second, job)
        for raws, parsed in ((second, waiting_second()), (first, waiting_first())):
            assert [p.sha256 for p in parsed] == [hashlib.sha256(r).hexdigest() for r in raws]
            subjects = [p.email.subject if isinstance(p.email, Email) else None for p in parsed]
            assert subjects == [f"Batch {i}" for i in range(len(raws))]
    finally:
        parser.close()
