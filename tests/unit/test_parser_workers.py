"""Parsing on the worker processes: forwards are read there and travel back with the Email."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox import refusing
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


# Run in a child process under a filter that refuses setpriority with EPERM, as the systemd unit's
# SystemCallFilter=~@resources did: a batch parsed on the pool.
UNDER_SECCOMP = """
import json, os, sys, tempfile
from pathlib import Path
try:
    os.nice(1)
    refused = False
except PermissionError:
    refused = True
from emaillog.limits import Limits
from emaillog.parallel import ParallelParser, ParseJob
parser = ParallelParser(workers=2)
with tempfile.TemporaryDirectory() as spool:
    raws = [arg.encode() for arg in sys.argv[1:]]
    parsed = parser.submit(raws, ParseJob(Limits(), Path(spool), isolate=True))()
priority = parser._get_pool().submit(os.getpriority, os.PRIO_PROCESS, 0).result()
parser.close()
print(json.dumps({
    "refused": refused,
    "crashes": [p.crash for p in parsed],
    "subjects": [p.email.subject for p in parsed],
    "worker_priority": priority,
    "priority": os.getpriority(os.PRIO_PROCESS, 0),
}))
"""


def test_workers_run_where_a_sandbox_forbids_lowering_their_priority(tmp_path: Path) -> None:
    # Under the systemd unit's system call filter, os.nice failed in the pool's initializer: the
    # pool broke, and every batch parsed there counted as a crash of its messages.
    raws = [message(subject=f"Seats {n}", message_id=f"<seats-{n}@acme.example>").decode() for n in range(4)]
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run(
        refusing(["setpriority"], [sys.executable, "-c", UNDER_SECCOMP, *raws]),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["refused"], "the filter refuses setpriority, as systemd's does"
    assert result["crashes"] == [None] * 4
    assert result["subjects"] == [f"Seats {n}" for n in range(4)]
    assert result["worker_priority"] == result["priority"]  # left at the daemon's
    assert "runs at the daemon's priority" in done.stderr


def test_the_batch_prefetches_the_contacts_of_a_forwards_original(
    parser: ParallelParser, tmp_path: Path
) -> None:
    # The rules look up the original's sender: one prefetch query answers it with the batch's others.
    forward = message(delivered_to=FWD, subject="Fwd: Seats", body=INLINE, message_id="<fwd@acme.example>")
    [parsed] = parse_on_workers(parser, tmp_path, [forward])
    keys = contact_keys(make_settings(tmp_path), [parsed.email])
    assert {"carl@globex.example", "rita@acme.example"} <= keys


def test_a_batch_caught_on_a_broken_pool_leaves_the_next_pool_alone(
    parser: ParallelParser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's mailbox threads share the pool: each whose batch was on the pool that broke sees it
    break. The second of them shut down the pool the first had made again meanwhile, and a third
    thread's batch on it never came back (its mailbox hung; seen under a fleet on Python 3.11)."""
    import multiprocessing
    import threading

    import emaillog.parallel

    here, real_parse = os.getpid(), emaillog.parallel.parse
    # Inherited by the workers the pools fork: the new pool's work stays in hand until the second
    # thread has seen its broken pool, as when the batches of a busy fleet overlap.
    second_seen = multiprocessing.get_context("fork").Event()

    def parse_or_die(raw: bytes, *args: object, **kwargs: object) -> object:
        if os.getpid() != here and b"X-Test-Parser" in raw:
            if b"X-Test-Parser: dies" in raw:
                os._exit(70)
            second_seen.wait(timeout=10)
        return real_parse(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(emaillog.parallel, "parse", parse_or_die)
    job = ParseJob(Limits(), tmp_path / "spool", isolate=True)
    dies = message(headers={"X-Test-Parser": "dies"})
    first, second = parser.submit([dies], job), parser.submit([dies], job)  # both on the pool that breaks
    assert [p.crash for p in first()] == ["WorkerDied"]  # the pool is made again for the next batch
    slow = [
        message(message_id=f"<slow{n}@acme.example>", headers={"X-Test-Parser": "slow"}) for n in range(8)
    ]
    third = parser.submit(slow, job)  # on the new pool
    assert [p.crash for p in second()] == ["WorkerDied"]
    second_seen.set()
    results: list[Parsed] = []
    waiting = threading.Thread(target=lambda: results.extend(third()), daemon=True)
    waiting.start()
    waiting.join(timeout=30)
    assert not waiting.is_alive(), "the batch on the new pool never came back"
    assert all(isinstance(p.email, Email) for p in results) and len(results) == len(slow)
