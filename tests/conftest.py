"""Fixtures that start real servers: Dovecot (IMAP), PostgreSQL and an SMTP sink, all on loopback.

A live fixture that cannot run on a developer's machine skips the tests that need it; under CI
(``CI=true``) it fails them instead, so that a missing install step can never pass as green.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# pg and smtp_sink sit beside this file: pytest puts tests/ (no __init__.py) on sys.path first.
from pg import PgCluster, postgres_available
from smtp_sink import SmtpSink
from support import BCC, COMPANY, FWD, throwaway_dovecot

from emaillog.cli import main
from emaillog.devmail import DevDovecot, ImapAccount, dovecot_available

LIVE_FIXTURES = frozenset({"dovecot", "imap_account", "postgres", "smtp_sink"})


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(available: bool, what: str) -> None:
    """Skip a developer's run without ``what``; fail CI's, where it must have been installed."""
    if available:
        return
    message = f"{what} is not installed (scripts/bootstrap installs it)"
    if under_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every test that uses a live server carries the `live` marker: `-m "not live"` is the quick run.
    for item in items:
        if LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


@pytest.fixture(autouse=True)
def root_logger_restored() -> Iterator[None]:
    """Undo what a test's in-process ``main()`` did to the root logger (``setup_logging``).

    Its handler writes to the sys.stderr of that moment, pytest's capture file, which is closed
    when the test ends; left in place, a later test's thread (the SMTP sink's) logs into a closed
    file and prints "--- Logging error ---" in the middle of the run.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DevDovecot]:
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    with throwaway_dovecot("dovecot") as server:
        yield server


_user_numbers = itertools.count(1)


@pytest.fixture
def imap_account(dovecot: DevDovecot) -> ImapAccount:
    """A user nobody else has logged in as: its mailbox starts empty and no other test sees it."""
    user = f"user{next(_user_numbers)}-{uuid.uuid4().hex[:6]}"
    return dovecot.add_user(user, uuid.uuid4().hex)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    require(postgres_available(), "PostgreSQL (postgresql)")
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.live)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for ``playhouse.db_url.connect``: an empty database on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'emaillog.sqlite3'}"
        return
    cluster: PgCluster = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)


@pytest.fixture
def cli(
    tmp_path: Path,
    database_url: str,
    imap_account: ImapAccount,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """Run ``emaillog ARGS`` in this process as an admin would, with the settings of a mailbox on the
    test's Dovecot and database in the environment: (exit code, stdout, stderr)."""
    env = {
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        "EMAILLOG_DATABASE_URL": database_url,
        "EMAILLOG_BCC_ADDRESS": BCC,
        "EMAILLOG_FORWARD_ADDRESS": FWD,
        "EMAILLOG_COMPANY_DOMAINS": COMPANY,
        **imap_account.settings(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
