"""The hostile corpus (tests/data/hostile): every message parsed and decided with its expected outcome.

Each message must come out as an ``Email`` or a ``Malformed`` and a decision with the outcome and
reason listed here (a ``malformed`` one with the specific detail), within 2 CPU seconds (a generous
bound: the slowest takes about 0.1 s). The stored HTML never holds script or remote images, recorded
attachments land only under the attachments dir (stored by hash, never by the name in the message),
and a notice about a message built to inject headers carries none of them.

Why the outcomes are what they are:

- CPython's test messages come from senders who are not CRM users: ``sender-not-a-user``, unless
  they have no readable ``From`` at all (``malformed``). With their senders made users (second
  test) they go through every rule and must still end in a defined outcome.
- Broken boundaries, wrong charsets, junk encodings, NULs, 8-bit and UTF-8 headers, IDN, invalid
  dates, hostile HTML and hostile attachment names are read leniently, as mail clients read them:
  the rep's email is ``logged``.
- Structure over the limits of SPEC §8 and a missing, repeated or unreadable ``From`` are
  ``malformed``. The header-injection attempts are sent to the forwarding address with nothing
  forwarded, so they are rejected (``forward-not-recognised``) and a notice is due.
"""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from support import make_settings

from emaillog import admin
from emaillog.limits import Limits
from emaillog.message import Email, Malformed, parse
from emaillog.notices.plan import NoticePlanner
from emaillog.rules import decide
from emaillog.settings import Settings
from emaillog.store import Store, open_store
from emaillog.store.ledger import LedgerKey
from emaillog.store.models import Ledger
from emaillog.store.recorder import Result

CORPUS = Path(__file__).resolve().parents[1] / "data" / "hostile"
REP = "rita@acme.example"
CPU_BOUND = 2.0
OUTCOMES = {"logged", "skipped", "rejected"}
REASONS = {
    None,
    "malformed",
    "sender-not-a-user",
    "sender-not-permitted",
    "forward-not-recognised",
    "body-too-large",
    "never-log",
    "no-recipients",
    "unauthenticated",
    "processing-failed",
}

# name -> (outcome, reason, for a malformed one: a fragment of its detail)
EXPECTED: dict[str, tuple[str, str | None, str | None]] = {
    "cpython-msg_01": ("rejected", "sender-not-a-user", None),
    "cpython-msg_02": ("rejected", "sender-not-a-user", None),
    "cpython-msg_03": ("rejected", "sender-not-a-user", None),
    "cpython-msg_04": ("rejected", "sender-not-a-user", None),
    "cpython-msg_05": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_06": ("rejected", "sender-not-a-user", None),
    "cpython-msg_07": ("rejected", "sender-not-a-user", None),
    "cpython-msg_08": ("rejected", "sender-not-a-user", None),
    "cpython-msg_09": ("rejected", "sender-not-a-user", None),
    "cpython-msg_10": ("rejected", "sender-not-a-user", None),
    "cpython-msg_11": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_12": ("rejected", "sender-not-a-user", None),
    "cpython-msg_12a": ("rejected", "sender-not-a-user", None),
    "cpython-msg_13": ("rejected", "sender-not-a-user", None),
    "cpython-msg_14": ("rejected", "sender-not-a-user", None),
    "cpython-msg_15": ("rejected", "sender-not-a-user", None),
    "cpython-msg_16": ("rejected", "sender-not-a-user", None),
    "cpython-msg_17": ("rejected", "sender-not-a-user", None),
    "cpython-msg_18": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_19": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_20": ("rejected", "sender-not-a-user", None),
    "cpython-msg_21": ("rejected", "sender-not-a-user", None),
    "cpython-msg_22": ("rejected", "sender-not-a-user", None),
    "cpython-msg_23": ("rejected", "sender-not-a-user", None),
    "cpython-msg_24": ("rejected", "sender-not-a-user", None),
    "cpython-msg_25": ("rejected", "sender-not-a-user", None),
    "cpython-msg_26": ("rejected", "sender-not-a-user", None),
    "cpython-msg_27": ("rejected", "sender-not-a-user", None),
    "cpython-msg_28": ("rejected", "sender-not-a-user", None),
    "cpython-msg_29": ("rejected", "sender-not-a-user", None),
    "cpython-msg_30": ("rejected", "sender-not-a-user", None),
    "cpython-msg_31": ("rejected", "sender-not-a-user", None),
    "cpython-msg_32": ("rejected", "sender-not-a-user", None),
    "cpython-msg_33": ("rejected", "sender-not-a-user", None),
    "cpython-msg_34": ("rejected", "sender-not-a-user", None),
    "cpython-msg_35": ("rejected", "sender-not-a-user", None),
    "cpython-msg_36": ("rejected", "sender-not-a-user", None),
    "cpython-msg_37": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_38": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_39": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_40": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_41": ("rejected", "sender-not-a-user", None),
    "cpython-msg_42": ("rejected", "sender-not-a-user", None),
    "cpython-msg_43": ("rejected", "malformed", "no readable From address"),
    "cpython-msg_44": ("rejected", "sender-not-a-user", None),
    "cpython-msg_45": ("rejected", "sender-not-a-user", None),
    "cpython-msg_46": ("rejected", "sender-not-a-user", None),
    "cpython-msg_47": ("rejected", "sender-not-a-user", None),
    "own-attachment-names": ("logged", None, None),
    "own-base64-junk": ("logged", None, None),
    "own-boundary-absent-from-body": ("logged", None, None),
    "own-boundary-crlf-mixed-endings": ("logged", None, None),
    "own-boundary-empty": ("logged", None, None),
    "own-boundary-huge": ("logged", None, None),
    "own-boundary-never-closed": ("logged", None, None),
    "own-boundary-param-missing": ("logged", None, None),
    "own-boundary-prefix-of-inner": ("logged", None, None),
    "own-charset-unknown": ("logged", None, None),
    "own-charset-utf7-and-junk-qp": ("logged", None, None),
    "own-charset-wrong": ("logged", None, None),
    "own-content-type-garbage": ("logged", None, None),
    "own-cr-only-line-endings": ("logged", None, None),
    "own-date-words": ("logged", None, None),
    "own-eight-bit-latin1-headers": ("logged", None, None),
    "own-empty": ("rejected", "malformed", "no readable From address"),
    "own-encoded-crlf-filename": ("rejected", "forward-not-recognised", None),
    "own-encoded-crlf-from-name": ("rejected", "forward-not-recognised", None),
    "own-encoded-crlf-subject": ("rejected", "forward-not-recognised", None),
    "own-encoded-word-abuse": ("logged", None, None),
    "own-encoded-word-flood": ("logged", None, None),
    "own-from-garbage": ("rejected", "malformed", "no readable From address"),
    "own-from-two-addresses": ("rejected", "malformed", "more than one From"),
    "own-header-garbage-lines": ("logged", None, None),
    "own-html-script-and-pixels": ("logged", None, None),
    "own-idn-addresses": ("logged", None, None),
    "own-invalid-dates": ("logged", None, None),
    "own-long-header-line": ("logged", None, None),
    "own-missing-from": ("rejected", "malformed", "no readable From address"),
    "own-multiple-from": ("rejected", "malformed", "more than one From"),
    "own-nesting-50-deep": ("logged", None, None),
    "own-nesting-51-deep": ("rejected", "malformed", "nested more than 50 deep"),
    "own-no-body": ("logged", None, None),
    "own-nul-bytes": ("logged", None, None),
    "own-parts-1001": ("rejected", "malformed", "more than 1000 MIME parts"),
    "own-random-bytes": ("rejected", "malformed", "no readable From address"),
    "own-rfc822-garbage-forward": ("rejected", "forward-not-recognised", None),
    "own-utf8-headers-rfc6532": ("logged", None, None),
}


def corpus() -> list[str]:
    return sorted(p.stem for p in CORPUS.glob("*.eml"))


@pytest.fixture
def crm(tmp_path: Path) -> tuple[Store, Settings]:
    settings = make_settings(
        tmp_path,
        EMAILLOG_SMTP_HOST="127.0.0.1",
        EMAILLOG_SMTP_PORT="2525",
        EMAILLOG_SMTP_SECURITY="none",
        EMAILLOG_NOTICE_FROM="mailer-daemon@acme.example",
        EMAILLOG_HOSTNAME="crm.acme.example",
    )
    store = open_store(settings)
    admin.add_user(store, settings, REP, "Rita Rep", active=True, may_log=True)
    return store, settings


def test_every_corpus_file_has_an_expected_outcome() -> None:
    assert sorted(EXPECTED) == corpus()
    assert len(EXPECTED) >= 80


@pytest.mark.parametrize("name", corpus())
def test_hostile_message_outcome(name: str, crm: tuple[Store, Settings]) -> None:
    store, settings = crm
    raw = (CORPUS / f"{name}.eml").read_bytes()
    started = time.process_time()
    email = parse(raw, Limits(max_message_bytes=settings.max_message_bytes))
    decision = decide(email, settings, store.lookup)
    cpu = time.process_time() - started
    assert cpu < CPU_BOUND, f"{name}: {cpu:.2f} CPU seconds"
    assert isinstance(email, Email | Malformed)
    outcome, reason, detail = EXPECTED[name]
    assert (decision.outcome, decision.reason) == (outcome, reason), decision.detail
    if detail is not None:
        assert isinstance(email, Malformed) and detail in email.detail and detail in (decision.detail or "")
    if isinstance(email, Email):
        assert_safe_html(email.html)
    record_and_check_files(name, email, decision, crm)


def assert_safe_html(html: str | None) -> None:
    if html is None:
        return
    lowered = html.lower()
    for bad in ("<script", "javascript:", "onerror", "onload", "<iframe", "<object", "http://track"):
        assert bad not in lowered, (bad, html)


def record_and_check_files(
    name: str, email: Email | Malformed, decision: object, crm: tuple[Store, Settings]
) -> None:
    """Record the result as a pass would; every file written is under the attachments dir."""
    store, settings = crm
    planner = NoticePlanner(settings, store.account_id, lambda key: False)
    key = LedgerKey("default", 1, 1)
    notice = planner.plan(email, b"", decision, f"default|{key}").notice  # type: ignore[arg-type]
    folder = settings.processed_folder if decision.outcome != "rejected" else settings.error_folder  # type: ignore[attr-defined]
    store.recorder.record([Result(key, email.sha256, email.message_id, decision, folder, notice)])  # type: ignore[arg-type]
    assert Ledger.select().count() == 1
    allowed = {settings.attachments_dir, settings.data_dir}
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert path.parent.parent == settings.attachments_dir or path.parent == settings.data_dir, path
            assert path.parent != settings.data_dir or path.name.startswith("emaillog.sqlite3"), path
    assert allowed


INJECTIONS = ["own-encoded-crlf-subject", "own-encoded-crlf-from-name", "own-encoded-crlf-filename"]


@pytest.mark.parametrize("name", INJECTIONS)
def test_encoded_newlines_never_become_headers_of_a_notice(name: str, crm: tuple[Store, Settings]) -> None:
    store, settings = crm
    raw = (CORPUS / f"{name}.eml").read_bytes()
    email = parse(raw, Limits())
    decision = decide(email, settings, store.lookup)
    planner = NoticePlanner(settings, store.account_id, lambda key: False)
    verdict = planner.plan(email, raw, decision, "default|x/1/1")
    assert verdict.notice is not None, verdict.why
    notice = message_from_bytes(verdict.notice.raw, policy=policy.default)
    assert notice["Bcc"] is None and notice["X-Injected"] is None
    assert [a.addr_spec for a in notice["To"].addresses] == [REP]
    # The notice's own headers and those of its parts; the original it quotes is left as it arrived.
    own = [
        notice,
        *(
            p
            for p in notice.iter_parts()
            if p.get_content_type() not in ("message/rfc822", "text/rfc822-headers")
        ),
    ]
    for part in own:
        for header, value in part.items():
            assert "\r" not in str(value) and "\n" not in str(value), (header, value)
            assert header.lower() not in ("bcc", "x-injected")
    text = verdict.notice.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in text and b"\r\nX-Injected:" not in text


def test_attachment_names_are_shown_safe(crm: tuple[Store, Settings]) -> None:
    email = parse((CORPUS / "own-attachment-names.eml").read_bytes(), Limits())
    assert isinstance(email, Email)
    names = [a.filename for a in email.attachments]
    assert len(names) == 7
    for shown in names:
        assert "/" not in shown and "\\" not in shown and ".." not in shown and len(shown) <= 200
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in shown), shown


@pytest.mark.parametrize("name", [n for n in corpus() if n.startswith("cpython-")])
def test_cpython_message_from_a_user_still_has_a_defined_outcome(
    name: str, crm: tuple[Store, Settings]
) -> None:
    store, settings = crm
    raw = (CORPUS / f"{name}.eml").read_bytes()
    first = parse(raw, Limits())
    if isinstance(first, Email) and first.sender is not None:
        admin.add_user(store, settings, first.sender.address, None, active=True, may_log=True)
    started = time.process_time()
    email = parse(raw, Limits())
    decision = decide(email, settings, store.lookup)
    assert time.process_time() - started < CPU_BOUND
    assert decision.outcome in OUTCOMES and decision.reason in REASONS
    if isinstance(email, Email):
        assert decision.reason != "sender-not-a-user"
        assert_safe_html(email.html)
