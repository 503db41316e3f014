"""Parsing on the worker processes: forwards are read there and travel back with the Email."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FWD, forward_with_a_file, make_settings, message

from emaillog.batch import contact_keys
from emaillog.forwards import forwards_of
from emaillog.limits import Limits
from emaillog.message import Email, parse
from emaillog.parallel import SPOOL_OVER, WORKER_NICENESS, ParallelParser, Parsed, ParseJob, spooled_paths
from emaillog.rules.route import ReadForwards, RouteSettings

INLINE = (
    "See below\n\n---------- Forwarded message ---------\nFrom: Carl Customer <carl@globex.example>\n"
    "Date: Fri, Nov 20, 2026 at 10:30 AM\nSubject: Seats\nTo: Rita <rita@acme.example>\n\n"
    "Hello Rita,\nwhat would 50 seats cost us?\nCarl\n"
)
FILE = os.urandom(SPOOL_OVER * 2)


@pytest.fixture
def parser() -> Iterator[ParallelParser]:
    pool = ParallelParser(workers=2)
    yield pool
    pool.close()


def parse_on_workers(parser: ParallelParser, tmp_path: Path, raws: list[bytes]) -> list[Parsed]:
    prepare = ReadForwards(RouteSettings.of(make_settings(tmp_path)))
    # isolate: on the pool whatever the batch's size
    return parser.submit(raws, ParseJob(Limits(), tmp_path / "spool", isolate=True, prepare=prepare))()


def test_a_forwards_originals_are_read_on_the_worker(parser: ParallelParser, tmp_path: Path) -> None:
    forward = message(delivered_to=FWD, subject="Fwd: Seats", body=INLINE, message_id="<fwd@acme.example>")
    bcc = message()
    parsed_forward, parsed_bcc = (p.email for p in parse_on_workers(parser, tmp_path, [forward, bcc]))
    assert isinstance(parsed_forward, Email) and isinstance(parsed_bcc, Email)
    read_here = parse(forward, Limits())
    assert isinstance(read_here, Email)
    assert parsed_forward.lazy_tree.forwards == forwards_of(read_here)
    [original] = forwards_of(parsed_forward)
    assert original.sender is not None and original.sender.address == "carl@globex.example"
    assert parsed_forward.lazy_tree._tree is None  # not parsed again in this process
    assert parsed_bcc.lazy_tree.forwards is None  # a BCC'd message is not read for forwards
    # The tree travels without the raw bytes; this process gives them back and parses on demand.
    assert parsed_bcc.tree["Subject"] == "Proposal" and parsed_forward.tree["Subject"] == "Fwd: Seats"


def test_an_attached_originals_large_files_come_back_as_temp_files(
    parser: ParallelParser, tmp_path: Path
) -> None:
    [parsed] = parse_on_workers(parser, tmp_path, [forward_with_a_file(FILE)])
    assert isinstance(parsed.email, Email)
    [original] = forwards_of(parsed.email)
    [attachment] = original.attachments
    assert (attachment.filename, attachment.size, attachment.data) == ("contract.pdf", len(FILE), b"")
    assert attachment.path is not None and attachment.path.read_bytes() == FILE
    assert attachment.path in set(spooled_paths([parsed]))


def test_workers_yield_the_cpu_to_the_main_process(parser: ParallelParser) -> None:
    # The main process is the pipeline's serial stage: on busy cores it must not wait for the workers.
    mine = os.nice(0)
    theirs = parser._get_pool().submit(os.nice, 0).result()
    assert theirs == min(mine + WORKER_NICENESS, 19) and (theirs > mine or mine == 19)


def test_the_batch_prefetches_the_contacts_of_a_forwards_original(
    parser: ParallelParser, tmp_path: Path
) -> None:
    # The rules look up the original's sender: one prefetch query answers it with the batch's others.
    forward = message(delivered_to=FWD, subject="Fwd: Seats", body=INLINE, message_id="<fwd@acme.example>")
    [parsed] = parse_on_workers(parser, tmp_path, [forward])
    keys = contact_keys(make_settings(tmp_path), [parsed.email])
    assert {"carl@globex.example", "rita@acme.example"} <= keys
