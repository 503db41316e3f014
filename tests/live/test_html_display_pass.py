"""The HTML a pass stores for display (SPEC §4), read from a real mailbox on either path a message
takes (whole, or by sections when large): nothing in it runs or loads, and HTML shaped to make the
parsers crawl costs the pass bounded CPU (SPEC §8)."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from display_checks import VECTORS, assert_displayable
from support import BCC, REP, World, make_world

from emaillog import views
from emaillog.devmail import ImapAccount


def bcc_html(html: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["Delivered-To"] = BCC
    msg["From"] = f"Rita Rep <{REP}>"
    msg["To"] = "Carl Customer <carl@globex.example>"
    msg["Subject"] = "Proposal"
    msg["Message-ID"] = message_id
    msg.set_content("Hello Carl, our proposal.")
    msg.add_alternative(html, subtype="html")
    return bytes(msg)


@pytest.fixture(params=["whole", "by sections"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    imap_account: ImapAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    if request.param == "by sections":  # every message counts as large: read from its BODYSTRUCTURE
        monkeypatch.setattr("emaillog.poll.STREAM_OVER", 1000)
    return make_world(tmp_path, database_url, imap_account)


def test_a_pass_stores_html_that_runs_and_loads_nothing_in_bounded_time(world: World) -> None:
    # One message per vector: joined in one, the first unclosed <svg> or <style> swallowed the rest.
    hostile = [bcc_html(f"<p>Hello Carl,</p>{v}", f"<vector{i}@acme.example>") for i, v in enumerate(VECTORS)]
    crawling = "<div>" * 100_000 + "Hello Carl"  # 32 s of CPU to sanitise before the fix
    world.deliver(*hostile, bcc_html(crawling, "<crawling@acme.example>"))
    started = time.process_time()
    assert world.run_pass().outcomes == {"logged": len(VECTORS) + 1}
    assert time.process_time() - started < 10.0
    for email in views.emails(world.store):
        html = views.email_detail(world.store, email["id"])["html_body"]  # type: ignore[index]
        assert "Hello Carl" in html
        assert_displayable(html)
