"""The mistakes an admin makes at the command line, through `emaillog.cli.main`: an address pasted
with its angle brackets, a domain in its xn-- form, an id with too many digits, a date at the end
of the calendar, a file that never ends, a command run while the daemon writes. Each is either
stored in the form the pipeline compares, or one line and exit code 2; never a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import wait_until, waiting_in_sql

from emaillog import csvfile
from emaillog.cli import main
from emaillog.settings import load
from emaillog.store import open_store
from emaillog.store.models import Company, Deal, NeverLog, User


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _exit_code(argv: list[str]) -> int:
    """What the process exits with: argparse's own usage errors leave by SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line of a usage error (exit 2)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert err.startswith("emaillog: ") and err.count("\n") == 1 and out == "", err
    return err


def test_an_address_pasted_in_angle_brackets_is_stored_bare(env: Path) -> None:
    # Stored as "<rita@acme.example>", the user matched no sender and `users connect rita@…` failed.
    assert main(["users", "add", "<Rita@Acme.example>"]) == 0
    assert main(["users", "connect", "rita@acme.example", " <rita.home@example.org> "]) == 0
    assert main(["never-log", "add", "<rival@foe.example>"]) == 0
    assert [u.email for u in User.select()] == ["rita@acme.example"]
    assert [n.value for n in NeverLog.select()] == ["rival@foe.example"]


def test_a_control_character_is_not_kept_in_a_stored_address(env: Path) -> None:
    assert main(["users", "add", "rita\x01@acme.example"]) == 0
    assert [u.email for u in User.select()] == ["rita@acme.example"]


def test_a_domain_in_its_xn_form_is_the_same_domain(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Addresses are compared with their domain in Unicode (addresses.address_key): a company or a
    # never-log domain stored as xn--… never matched a contact, and was a second copy of the first.
    assert main(["companies", "add", "bücher.example"]) == 0
    assert main(["companies", "add", "XN--BCHER-KVA.example", "--name", "Bücher"]) == 0
    assert main(["never-log", "add", "@xn--mller-kva.example"]) == 0
    assert capsys.readouterr().out == "müller.example\n"
    assert [(c.domain, c.name) for c in Company.select()] == [("bücher.example", "Bücher")]
    assert [n.value for n in NeverLog.select()] == ["müller.example"]
    settings = load()
    assert settings.key("anna@xn--bcher-kva.example").endswith("@bücher.example")


def test_company_domains_setting_in_xn_form_is_compared_in_unicode(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMAILLOG_COMPANY_DOMAINS", "xn--bcher-kva.example, @Acme.example.")
    assert load().company_domains == frozenset({"bücher.example", "acme.example"})


@pytest.mark.parametrize("domain", ["acme..example", ".example", "acme.example..", "-"])
def test_a_domain_with_an_empty_label_is_refused(
    domain: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "is not a domain" in _usage_error(capsys, "companies", "add", domain)
    assert "is neither an email address nor a domain" in _usage_error(capsys, "never-log", "add", domain)
    assert Company.select().count() == NeverLog.select().count() == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["deals", "close", "99999999999999999999999"],
        ["deals", "reopen", "99999999999999999999999"],
        ["emails", "show", "99999999999999999999999"],
        ["explain", "99999999999999999999999"],
        ["explain", "uid:99999999999999999999999"],
        ["errors", "retry", "99999999999999999999999"],
    ],
)
def test_an_id_too_large_for_the_database_is_a_usage_error(
    argv: list[str], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite's driver raised OverflowError (a traceback, exit 1) for an id past 64 bits.
    code = _exit_code(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "99999999999999999999999" in err


@pytest.mark.parametrize(
    "argv", [["explain", "\u00b2"], ["explain", "uid:\u00b3"], ["errors", "retry", "\u00b2", "--no-pass"]]
)
def test_a_digit_that_is_no_number_is_a_usage_error(
    argv: list[str], env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "²" passes str.isdigit() and int() refuses it: a ValueError traceback, exit 1.
    assert main(["users", "add", "rita@acme.example"]) == 0
    err = _usage_error(capsys, *argv)
    assert "is neither a ledger id nor a UID (use a number, or uid:NUMBER)" in err


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_time_at_the_end_of_the_calendar_is_a_usage_error(
    when: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The time was taken, then turned to UTC on writing: OverflowError, a traceback.
    assert _exit_code(["deals", "add", "Renewal", "--contact", "c@customer.example", "--created", when]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and when in err
    assert main(["users", "add", "rita@acme.example"]) == 0
    assert _exit_code(["users", "connect", "rita@acme.example", "r@home.example", "--at", when]) == 2
    assert when in capsys.readouterr().err


def test_a_deal_needs_a_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "the name is empty" in _usage_error(capsys, "deals", "add", " ", "--contact", "c@customer.example")


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("mail.acme.co.uk", "below acme.co.uk, the domain a company registers: add acme.co.uk"),
        ("Sales.Acme.example.", "below acme.example, the domain a company registers: add acme.example"),
        ("gmail.com", "free mail: its addresses never make or match a company"),
        ("mail.gmail.com", "free mail: its addresses never make or match a company"),
        ("co.uk", "a public suffix, not a company's domain (a company's is one label longer)"),
        # Was refused as "below 2.3": no address at an IP address makes a company.
        ("10.1.2.3", "'10.1.2.3' is not a domain"),
    ],
)
def test_a_company_domain_no_contact_could_match_is_refused(
    domain: str, why: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A contact's company is its address's registrable domain, never a free-mail one (SPEC §7,
    # domains.company_domain): a company added under any other domain was kept and never matched.
    assert why in _usage_error(capsys, "companies", "add", domain, "--name", "Acme")
    path = env / "companies.csv"
    path.write_text(f"domain,name\n{domain},Acme\n")
    assert _exit_code(["companies", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 2: domain: " in err and why in err
    assert Company.select().count() == 0


def test_the_company_domain_the_refusal_names_is_the_one_contacts_get(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["companies", "add", "acme.co.uk", "--name", "Acme"]) == 0
    assert main(["deals", "add", "Renewal", "--contact", "anna@mail.acme.co.uk"]) == 0
    capsys.readouterr()
    assert main(["companies", "list", "--json"]) == 0
    [company] = json.loads(capsys.readouterr().out)
    assert (company["domain"], company["name"], company["contacts"]) == ("acme.co.uk", "Acme", 1)


def test_a_deal_added_again_is_refused_unless_another_is_meant(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same `deals add` run twice (a retry, shell history) made two identical deals, and the
    # name, the only key an admin has for a deal, no longer named one (a `deals import` refuses it).
    add = ["deals", "add", "Renewal", "--contact", "c@customer.example"]
    assert main(add) == 0
    err = _usage_error(capsys, *add)
    assert "a deal named 'Renewal' exists already (id 1, open)" in err and "--another" in err
    assert main(["deals", "close", "1"]) == 0
    err = _usage_error(capsys, "deals", "add", "Renewal", "--contact", "d@other.example")
    assert "(id 1, closed): reopen it with `emaillog deals reopen 1`" in err
    assert [d.name for d in Deal.select()] == ["Renewal"]
    assert main([*add, "--another"]) == 0
    assert [(d.name, d.is_open) for d in Deal.select().order_by(Deal.id)] == [
        ("Renewal", False),
        ("Renewal", True),
    ]
    assert main(["deals", "add", "Renewal 2027", "--contact", "c@customer.example"]) == 0


def test_a_file_larger_than_an_import_takes_is_refused_before_it_is_read(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /dev/zero (or a log file named by mistake) was read whole into memory until the OOM killer came.
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", 100)
    path = env / "big.csv"
    path.write_text("domain\n" + "acme.example\n" * 20)
    err = _usage_error(capsys, "companies", "import", str(path))
    assert "more than 0.0001 MB" in err and "split it" in err
    err = _usage_error(capsys, "companies", "import", "/dev/zero")
    assert "more than 0.0001 MB" in err
    assert Company.select().count() == 0


def test_an_admin_write_waits_for_the_daemons_write_to_finish(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A deferred transaction that read first and then wrote got "database is locked" at once (exit
    # 75) while a pass held the write lock, instead of waiting for it (busy_timeout).
    assert main(["users", "add", "rita@acme.example"]) == 0
    database = open_store(load()).db.database
    daemon = sqlite3.connect(database, isolation_level=None)
    daemon.execute("BEGIN IMMEDIATE")
    daemon.execute("UPDATE user SET name = 'held' WHERE email = 'rita@acme.example'")
    codes: list[int] = []
    admin = threading.Thread(target=lambda: codes.append(main(["users", "add", "tom@acme.example"])))
    admin.start()
    # The admin's command waits on the lock rather than ending with an error (seen waiting at the
    # lock, not guessed from a second gone by: a slow start passed that second before the lock).
    at_lock = lambda: waiting_in_sql(admin, "BEGIN IMMEDIATE", within="add_user")  # noqa: E731
    wait_until(lambda: at_lock() or not admin.is_alive(), 30, "the admin's command at the write lock")
    assert admin.is_alive() and codes == []
    daemon.execute("COMMIT")
    daemon.close()
    admin.join(timeout=30)
    assert codes == [0], capsys.readouterr().err
    assert sorted(u.email for u in User.select()) == ["rita@acme.example", "tom@acme.example"]


def test_output_read_by_a_program_that_stops_early_ends_quietly(env: Path) -> None:
    # `emaillog users list | head -1`: the reader goes away, and the rest of the listing met a
    # closed pipe. It ended in a BrokenPipeError traceback and exit 1.
    assert main(["users", "add", "rita@acme.example"]) == 0
    for argv in (["users", "list"], ["users", "list", "--json"]):
        child = subprocess.Popen(
            [sys.executable, "-m", "emaillog", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert child.stdout is not None
        child.stdout.close()  # gone before the first line: every write meets a closed pipe
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert err == b"", err


def test_a_name_the_output_encoding_cannot_write_is_escaped(env: Path) -> None:
    # A terminal in latin-1 and a name in another script: every listing of it was a
    # UnicodeEncodeError traceback, exit 1. Stderr already escaped ("no mailbox '\u5c71'").
    assert main(["users", "add", "rita@acme.example", "--name", "山田 Rita"]) == 0
    for argv in (["users", "list"], ["users", "list", "--json"], ["--mailbox", "山", "users", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "emaillog", *argv],
            capture_output=True,
            timeout=60,
            env={
                **os.environ,
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                "PYTHONIOENCODING": "latin-1",
            },
        )
        assert b"Traceback" not in done.stderr, done.stderr
        assert b"\\u5c71" in done.stdout + done.stderr, (argv, done.stdout, done.stderr)
        assert done.returncode == (2 if "--mailbox" in argv else 0), done.stderr


def test_a_logging_address_is_refused_as_a_users_address(
    env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was taken: mail the daemon receives or sends as itself would have counted as a rep's.
    monkeypatch.setenv("EMAILLOG_BCC_ADDRESS", "crm@acme.example")
    monkeypatch.setenv("EMAILLOG_FORWARD_ADDRESS", "crm+fwd@acme.example")
    assert main(["users", "add", "rita@acme.example"]) == 0
    for argv in (
        ["users", "add", "CRM@acme.example"],
        ["users", "add", "<crm+fwd@acme.example>"],
        ["users", "alias", "rita@acme.example", "crm@acme.example"],
        ["users", "connect", "rita@acme.example", "crm+fwd@acme.example"],
        ["team-inboxes", "add", "crm@acme.example", "--connected-by", "rita@acme.example"],
    ):
        err = _usage_error(capsys, *argv)
        assert "is a logging address (EMAILLOG_BCC_ADDRESS or EMAILLOG_FORWARD_ADDRESS), not a user's" in err
    assert [u.email for u in User.select()] == ["rita@acme.example"]
