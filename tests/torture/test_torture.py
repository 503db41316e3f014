"""The CI-sized torture run (issue 7): the real daemon, a real Dovecot, faults of every kind.

The full-size run is ``bench/torture.py`` (10,000 messages, 200+ kill -9); this one is sized to add
well under a minute per database. What is checked once things settle — the invariant — is
``harness.Torture.check``: every appended message in exactly one of intake/Processed/Error (the
expected one), its latest ledger row final with the expected outcome, the logged emails exactly the
expected set and none twice, at most one notice per rejected delivery (resends only with the same
Message-ID), every stored attachment on disk.
"""

from __future__ import annotations

import pytest
from conftest import require
from harness import FAULT_KINDS, Config, Torture
from pg import postgres_available

from emaillog.devmail import dovecot_available

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.live)]


def run(config: Config) -> Torture:
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    if config.database == "postgresql":
        require(postgres_available(), "PostgreSQL (postgresql)")
    torture = Torture(config)
    torture.run()
    return torture


@pytest.mark.live
@pytest.mark.parametrize("database", DATABASES)
def test_faults_of_every_kind_lose_and_double_nothing(database: str) -> None:
    torture = run(Config(messages=300, kills=10, poison=2, database=database, seed=11))
    report = torture.report
    print("\n" + report.summary())
    details = "\n".join([report.summary(), *report.problems[:40], report.log_tail])
    assert report.problems == [], details
    assert report.kills == 10
    assert set(report.faults) == set(FAULT_KINDS) - {"kill-9"}, report.faults
    # A daemon that exits by itself must do so with "temporary failure" (75), never crash (1).
    assert set(report.daemon_exits) <= {75}, report.daemon_exits
    torture.close()


@pytest.mark.live
@pytest.mark.parametrize("database", DATABASES)
def test_a_message_that_crashes_the_parser_goes_to_error_after_exactly_3_attempts(database: str) -> None:
    torture = run(Config(messages=80, kills=0, poison=3, database=database, seed=5, faults=(), first_wave=80))
    report = torture.report
    assert report.problems == [], report.summary() + "\n" + "\n".join(report.problems)
    # Exactly 3 attempts each; every other message went where it belongs (report.problems is empty).
    assert [(o, r, n) for o, r, n, _ in report.poison] == [("rejected", "processing-failed", 3)] * 3
    assert all("processing failed 3 times" in (detail or "") for *_, detail in report.poison)
    torture.close()
