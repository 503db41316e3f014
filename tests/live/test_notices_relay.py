"""The mailer against a real SMTP server on loopback that misbehaves: refuses, hangs up, stalls,
asks for TLS or a login. Notices wait in the outbox and are retried (SPEC §11); nothing is lost,
a permanent refusal is final, and a relay in trouble costs one connection per round."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult
from smtp_sink import SmtpSink, private_ca_context
from support import NOTICES_ON, crm_with_rep, make_settings

from emaillog.check import Checker
from emaillog.checkstep import EXIT_CONFIG, StepFailed
from emaillog.notices import mailer
from emaillog.settings import Settings, SmtpSettings
from emaillog.status import gather, render
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
    settings: Settings

    def queue(self, count: int, recipient: str = REP) -> None:
        queued = Outbox.select().count()
        for n in range(queued, queued + count):
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
    return Relay(store, dataclasses.replace(loaded.notices.smtp, timeout=2.0), sink, loaded)


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


def test_a_permanent_refusal_after_data_is_final_with_its_reason(relay: Relay) -> None:
    # 554 after the message: that relay will never take this notice. Taken for a 4xx, it was
    # offered again for two days, some fifty times.
    relay.sink.answers["DATA"] = "554 5.7.1 Message refused by content filter"
    relay.queue(2)
    report = relay.deliver()
    assert (report.sent, report.deferred, report.failed) == (0, 0, 2)
    assert [row[:2] for row in relay.rows()] == [("failed", 1)] * 2
    assert all("554" in (error or "") and "content filter" in (error or "") for *_, error in relay.rows())


def test_a_temporary_refusal_after_data_waits_a_minute(relay: Relay) -> None:
    relay.sink.answers["DATA"] = "451 4.7.1 Greylisted, try again later"
    relay.queue(1)
    assert relay.deliver().deferred == 1
    row = Outbox.get()
    assert (row.status, row.attempts) == ("pending", 1) and "451" in row.last_error
    assert timedelta(seconds=50) < row.next_attempt_at - utcnow() <= timedelta(minutes=1)
    relay.sink.answers.clear()
    assert relay.deliver().sent == 0  # not yet due
    relay.all_due()
    assert relay.deliver().sent == 1 and len(relay.sink.messages) == 1
    # The resend is the queued bytes: same Message-ID and Date, so the rep's client can dedupe.
    assert relay.sink.messages[0].raw.replace(b"\r\n", b"\n") == bytes(row.raw).replace(b"\r\n", b"\n")


def test_recipients_are_refused_one_by_one(relay: Relay) -> None:
    relay.sink.rcpt_answers["gone@acme.example"] = "550 5.1.1 No such user"
    relay.sink.rcpt_answers["full@acme.example"] = "452 4.2.2 Mailbox full"
    relay.queue(1, "gone@acme.example")
    relay.queue(1, "full@acme.example")
    relay.queue(1)
    report = relay.deliver()
    assert (report.sent, report.deferred, report.failed) == (1, 1, 1)
    assert [row[:2] for row in relay.rows()] == [("failed", 1), ("pending", 1), ("sent", 1)]
    assert relay.sink.connections == 1


def test_a_relay_that_hangs_up_ends_the_round_and_charges_only_the_notice_in_hand(relay: Relay) -> None:
    # The notices behind it were never offered: counting an attempt for each (with "please run
    # connect() first" as their error) pushed back their retry for nothing.
    relay.sink.drop_at = "MAIL"
    relay.queue(3)
    report = relay.deliver()
    assert report.deferred == 1 and report.error and "closed" in report.error
    assert relay.rows() == [
        ("pending", 1, "Connection unexpectedly closed"),
        ("pending", 0, None),
        ("pending", 0, None),
    ]
    relay.sink.drop_at = None
    assert relay.deliver().sent == 2  # the two that were not tried are still due
    assert relay.sink.connections == 2


def test_a_refused_sender_ends_the_round(relay: Relay) -> None:
    # MAIL FROM:<> refused is the relay's policy, the same for every notice: one is charged, the
    # others wait untouched, and the error says what was refused.
    relay.sink.answers["MAIL"] = "553 5.7.1 Sender address rejected: not owned by user"
    relay.queue(3)
    report = relay.deliver()
    assert report.deferred == 1 and report.error and "553" in report.error
    assert [row[:2] for row in relay.rows()] == [("pending", 1), ("pending", 0), ("pending", 0)]
    assert "MAIL FROM:<>" in (relay.rows()[0][2] or "")


def test_a_relay_that_stalls_mid_data_costs_one_timeout_per_round(relay: Relay) -> None:
    relay.sink.stall_data = 3.0  # longer than the mailer's 2 s
    relay.queue(3)
    report = relay.deliver()
    assert report.deferred == 1 and relay.sink.connections == 1
    assert [row[:2] for row in relay.rows()] == [("pending", 1), ("pending", 0), ("pending", 0)]


def test_a_slow_relay_gets_a_round_of_bounded_time_and_the_rest_waits_uncharged(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relay that answers each notice just inside the timeout (a tarpit, a busy queue) held the
    # pass for as many timeouts as notices were due: 100 of them, and the watchdog (120 s) or a
    # stop (90 s) saw a daemon that did not answer.
    monkeypatch.setattr(mailer, "ROUND_SECONDS", 1.0)
    relay.sink.stall_data = 0.4  # within the 2 s timeout: each notice goes, slowly
    relay.queue(10)
    report = relay.deliver()
    assert 1 <= report.sent < 10 and report.deferred == 0 and relay.sink.connections == 1
    rows = relay.rows()
    assert [row[:2] for row in rows[: report.sent]] == [("sent", 1)] * report.sent
    assert [row[:2] for row in rows[report.sent :]] == [("pending", 0)] * (10 - report.sent)
    relay.sink.stall_data = 0.0
    assert relay.deliver().sent == 10 - report.sent  # due at once: nothing was charged


class Logins:
    """An aiosmtpd authenticator that records each login offered and accepts it only when told."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.offered: list[tuple[str, bool]] = []  # (mechanism, over TLS)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        self.offered.append((mechanism, server.transport.get_extra_info("ssl_object") is not None))
        return AuthResult(success=self.accept, handled=False)


LOGIN = {"EMAILLOG_SMTP_USER": "crm", "EMAILLOG_SMTP_PASSWORD": "s3cret"}


def test_starttls_never_falls_back_to_plain_text(tmp_path: Path) -> None:
    # The relay (or whoever answers on its port) offers AUTH but no STARTTLS: nothing is sent,
    # least of all the password, and the error names the setting.
    logins = Logins(accept=True)
    with SmtpSink(authenticator=logins, auth_require_tls=False) as sink:
        relay = relay_for(tmp_path, sink, EMAILLOG_SMTP_SECURITY="starttls", **LOGIN)
        relay.queue(2)
        report = relay.deliver()
        assert report.deferred == 2 and not sink.messages and logins.offered == []
        [(status, _, error)] = set(relay.rows())
        assert status == "pending" and "offers no STARTTLS" in (error or "")
        assert "EMAILLOG_SMTP_SECURITY" in (error or "")


def test_a_private_ca_is_refused_until_named(tmp_path: Path) -> None:
    context, ca_file = private_ca_context(tmp_path)
    with SmtpSink(tls_context=context, require_starttls=True) as sink:
        relay = relay_for(tmp_path / "a", sink, EMAILLOG_SMTP_SECURITY="starttls")
        relay.queue(1)
        report = relay.deliver()
        assert report.deferred == 1 and not sink.messages
        assert report.error and "is not trusted" in report.error and "EMAILLOG_SMTP_CA_FILE" in report.error
        assert Outbox.get().last_error == report.error
        env = {**NOTICES_ON, "EMAILLOG_SMTP_SECURITY": "starttls", "EMAILLOG_SMTP_PORT": str(sink.port)}
        step = Checker(make_settings(tmp_path / "b", **env)).smtp
        with pytest.raises(StepFailed) as caught:
            step()
        assert "EMAILLOG_SMTP_CA_FILE" in str(caught.value) and caught.value.exit_code == EXIT_CONFIG

        trusted = relay_for(
            tmp_path / "c", sink, EMAILLOG_SMTP_SECURITY="starttls", EMAILLOG_SMTP_CA_FILE=str(ca_file)
        )
        trusted.queue(1)
        assert trusted.deliver().sent == 1 and len(sink.messages) == 1


def test_ssl_from_the_first_byte_with_a_login(tmp_path: Path) -> None:
    # Port 465 style (RFC 8314): TLS before the banner. (aiosmtpd counts only STARTTLS as TLS, so
    # it is told to offer AUTH anyway; the login is seen to arrive over TLS.)
    context, ca_file = private_ca_context(tmp_path)
    logins = Logins(accept=True)
    with SmtpSink(ssl_context=context, authenticator=logins, auth_require_tls=False) as sink:
        env = {"EMAILLOG_SMTP_SECURITY": "ssl", "EMAILLOG_SMTP_CA_FILE": str(ca_file), **LOGIN}
        relay = relay_for(tmp_path, sink, **env)
        relay.queue(2)
        assert relay.deliver().sent == 2 and len(sink.messages) == 2
        assert logins.offered and all(tls for _, tls in logins.offered)


def test_a_refused_login_is_reported_once_per_round_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logins = Logins(accept=False)
    with SmtpSink(authenticator=logins, auth_require_tls=False) as sink:
        relay = relay_for(tmp_path, sink, **LOGIN)
        relay.queue(5)
        with caplog.at_level(logging.WARNING, logger="emaillog.notices"):
            report = relay.deliver()
        assert report.deferred == 5 and sink.connections == 1
        [warning] = [r.getMessage() for r in caplog.records if r.name == "emaillog.notices"]
        assert "refused the login of crm: 535" in warning and "5 notice(s) stay queued" in warning
        assert "s3cret" not in caplog.text
        assert {row[:2] for row in relay.rows()} == {("pending", 1)}
        logins.accept = True
        relay.all_due()
        assert relay.deliver().sent == 5 and len(sink.messages) == 5


def test_status_tells_what_the_relay_said_and_what_was_given_up(relay: Relay) -> None:
    # A backlog count alone hid both: notices never delivered, and why the waiting ones wait.
    relay.sink.rcpt_answers["gone@acme.example"] = "550 5.1.1 No such user"
    relay.sink.rcpt_answers[REP] = "451 4.4.5 Insufficient system storage"
    relay.queue(1, "gone@acme.example")
    relay.queue(1)
    relay.deliver()
    data = gather(relay.settings, relay.store, probe=False)
    assert data["outbox_pending"] == 1 and data["outbox_given_up_7d"] == 1
    assert data["outbox_last_error"] == f"RCPT TO:<{REP}> refused: 451 4.4.5 Insufficient system storage"
    text = render(data)
    assert "outbox: 1 notices waiting" in text and "given up, last 7d: 1 notices" in text
    assert "last error: RCPT TO:<rita@acme.example> refused: 451 4.4.5" in text
