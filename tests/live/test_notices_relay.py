"""The mailer against a real SMTP server on loopback that misbehaves: refuses, hangs up, stalls,
asks for TLS or a login. Notices wait in the outbox and are retried (SPEC §11); nothing is lost,
a permanent refusal is final, and a relay in trouble costs one connection per round."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from smtp_sink import SmtpSink
from support import NOTICES_ON, crm_with_rep

from emaillog.notices import mailer
from emaillog.settings import SmtpSettings
from emaillog.store import Store
from emaillog.store.models import Outbox, utcnow
from emaillog.store.outbox import LONGEST_WAIT, enqueue

REP = "rita@acme.example"


@dataclasses.dataclass
class Relay:
    """A CRM on SQLite whose notices go to ``sink``; ``smtp`` gives up on a silent peer in 2 s."""

    store: Store
    smtp: SmtpSettings
    sink: SmtpSink

    def queue(self, count: int, recipient: str = REP) -> None:
        for n in range(count):
            raw = (
                f"From: mailer-daemon@acme.example\r\nTo: {recipient}\r\nMessage-ID: <{n}@crm.acme.example>"
                f"\r\nSubject: Undelivered: n{n}\r\n\r\nnot logged\r\n"
            ).encode()
            ledger_key = f"acme|INBOX/1/{n}"
            enqueue(self.store.account_id, ledger_key, "sender-not-a-user", recipient, f"<{n}@crm>", raw)

    def deliver(self) -> mailer.DeliveryReport:
        return mailer.deliver_due(self.store.account_id, self.smtp)

    @staticmethod
    def rows() -> list[tuple[str, int, str | None]]:
        return [(r.status, r.attempts, r.last_error) for r in Outbox.select().order_by(Outbox.id)]

    @staticmethod
    def all_due() -> None:
        """As if every backoff had elapsed."""
        Outbox.update(next_attempt_at=Outbox.created_at).execute()


def relay_for(tmp_path: Path, sink: SmtpSink, **env: str) -> Relay:
    settings = {**NOTICES_ON, "EMAILLOG_SMTP_PORT": str(sink.port), **env}
    store, loaded = crm_with_rep(tmp_path, **settings)
    assert loaded.notices is not None and loaded.notices.smtp is not None
    return Relay(store, dataclasses.replace(loaded.notices.smtp, timeout=2.0), sink)


@pytest.fixture
def relay(tmp_path: Path, smtp_sink: SmtpSink) -> Iterator[Relay]:
    yield relay_for(tmp_path, smtp_sink)


def test_a_relay_down_for_two_days_is_retried_hourly_and_then_given_up(relay: Relay) -> None:
    # Past some forty attempts, 1 minute × 2^attempts no longer fits a timedelta: the round raised
    # OverflowError, so every pass failed after some 35 hours of outage.
    relay.sink.stop()
    relay.queue(1)
    for attempt in range(60):
        relay.all_due()
        if attempt == 50:  # two days and more since it was queued
            Outbox.update(created_at=utcnow() - timedelta(days=2, minutes=1)).execute()
        report = relay.deliver()
        assert report.deferred == (attempt < 51)
        row = Outbox.get()
        if row.status == "failed":
            break
        assert row.next_attempt_at - utcnow() <= LONGEST_WAIT
    assert (row.status, row.attempts) == ("failed", 51)
    assert "Connection refused" in row.last_error
