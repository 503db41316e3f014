"""`emaillog KIND import FILE`: users, companies, deals and never-log entries from CSV, on SQLite and
PostgreSQL. The whole file is checked first (every bad row reported, nothing written), importing it
again changes nothing, and the summary says what was created, updated or left as it was."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from emaillog.cli import main
from emaillog.settings import load
from emaillog.store import Store, open_store
from emaillog.store.db import DatabaseMissing, open_database
from emaillog.store.models import Account, Company, Contact, Deal, DealContact, NeverLog, User, UserAddress
from emaillog.store.schema import current_version

BOM = "\ufeff"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EMAILLOG_DATABASE_URL", database_url)
    return tmp_path


def _file(directory: Path, text: str, name: str = "in.csv") -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def _store() -> Store:
    return open_store(load())


def _import(kind: str, path: str, *more: str) -> int:
    return main([kind, "import", path, *more])


def _summary(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().partition(": ")[2]


def test_users_from_excel_semicolons_and_a_bom(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # What Excel writes as "CSV UTF-8" where the decimal separator is a comma.
    path = _file(
        env,
        BOM + "Email;Name;Active;May log;Aliases;Connected\r\n"
        'rita@acme.example;"Rita; Ramos";yes;yes;"rr@acme.example, rita.r@acme.example";'
        "rita@gmail.example\r\n"
        "Bob@Acme.example;Bob Ó Briain;no;NO;;\r\n"
        "viewer@acme.example;;;false;;\r\n",
    )
    assert _import("users", path) == 0
    assert _summary(capsys) == "3 created, 0 updated, 0 unchanged"
    store = _store()
    users = {u.email: u for u in User.select().where(User.account == store.account_id)}
    assert set(users) == {"rita@acme.example", "bob@acme.example", "viewer@acme.example"}
    rita, bob, viewer = users["rita@acme.example"], users["bob@acme.example"], users["viewer@acme.example"]
    assert (rita.name, rita.active, rita.may_log) == ("Rita; Ramos", True, True)
    assert (bob.name, bob.active, bob.may_log) == ("Bob Ó Briain", False, False)
    assert (viewer.name, viewer.active, viewer.may_log) == (None, True, False)
    addresses = {(a.address, a.kind) for a in UserAddress.select().where(UserAddress.user == rita)}
    assert addresses == {
        ("rr@acme.example", "alias"),
        ("rita.r@acme.example", "alias"),
        ("rita@gmail.example", "connected"),
    }


def test_companies_and_a_changed_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(env, 'domain,name\nacme.example,"Acme, Inc."\n@Globex.EXAMPLE.,\n')
    assert _import("companies", path) == 0
    assert _summary(capsys) == "2 created, 0 updated, 0 unchanged"
    path = _file(
        env, "Domain,Name\nacme.example,Acme Corporation\nglobex.example,\ninitech.example,Initech\n"
    )
    assert _import("companies", path) == 0
    assert _summary(capsys) == "1 created, 1 updated, 1 unchanged"
    store = _store()
    names = {c.domain: c.name for c in Company.select().where(Company.account == store.account_id)}
    assert names == {
        "acme.example": "Acme Corporation",
        "globex.example": "globex.example",
        "initech.example": "Initech",
    }


def test_never_log_addresses_and_domains(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(env, "Value\nCEO@Rival.example\n@competitor.example\nlawyers.example.\n")
    assert _import("never-log", path) == 0
    assert _summary(capsys) == "3 created, 0 updated, 0 unchanged"
    assert main(["never-log", "list"]) == 0
    assert capsys.readouterr().out.split() == ["ceo@rival.example", "competitor.example", "lawyers.example"]


def test_deals_create_their_contacts_and_are_known_by_name(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        env,
        "name,contacts,closed,created\n"
        "Acme renewal,ann@acme.example bo@acme.example,no,2026-01-31T09:30:00+01:00\n"
        "Globex pilot,cy@globex.example,yes,\n",
    )
    assert _import("deals", path) == 0
    assert _summary(capsys) == "2 created, 0 updated, 0 unchanged"
    assert _import("deals", path) == 0
    assert _summary(capsys) == "0 created, 0 updated, 2 unchanged"
    # The renewal closes and gains a contact; its first contacts stay.
    path = _file(env, "name,contacts,closed\nAcme renewal,dee@acme.example,yes\n")
    assert _import("deals", path) == 0
    assert _summary(capsys) == "0 created, 1 updated, 0 unchanged"
    store = _store()
    deals = {d.name: d for d in Deal.select().where(Deal.account == store.account_id)}
    assert set(deals) == {"Acme renewal", "Globex pilot"}
    renewal = deals["Acme renewal"]
    assert not renewal.is_open and renewal.created_at == datetime(2026, 1, 31, 8, 30)
    assert deals["Globex pilot"].is_open is False
    linked = DealContact.select().where(DealContact.deal == renewal).count()
    assert linked == 3 and Contact.select().where(Contact.account == store.account_id).count() == 4


def test_every_bad_row_is_reported_and_nothing_is_written(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(
        env,
        "email,name,active,aliases\n"
        "good@acme.example,Good,yes,\n"
        "rita@,Rita,maybe,\n"
        "sam@acme.example,Sam,,not-an-address\n"
        "good@ACME.example,Again,,\n"
        ",Nobody,,\n"
        "extra@acme.example,Extra,yes,,surplus\n",
    )
    assert _import("users", path) == 2
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    assert out.err.splitlines() == [
        f"emaillog: {path}: 5 bad rows, nothing imported",
        "line 3: email: 'rita@' is not an email address; active: 'maybe' is neither yes nor no",
        "line 4: aliases: 'not-an-address' is not an email address",
        "line 5: good@acme.example is also on line 2",
        "line 6: email is empty",
        "line 7: 5 fields, the header has 4",
    ]
    assert User.select().where(User.account == _store().account_id).count() == 0


def test_a_deal_name_already_used_twice_cannot_be_imported(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for again in ([], ["--another"]):
        assert main(["deals", "add", "Renewal", "--contact", "ann@acme.example", *again]) == 0
    assert _import("deals", _file(env, "name,contact\nRenewal,bo@acme.example\n")) == 2
    assert "line 2: there are several deals named 'Renewal' already" in capsys.readouterr().err


def test_reimport_and_dry_run_change_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(env, "email,name,aliases\nrita@acme.example,Rita,rr@acme.example\nbob@acme.example,Bob,\n")
    assert _import("users", path, "--dry-run") == 0
    assert _summary(capsys) == (
        "2 to create, 0 to update, 0 unchanged (dry run: nothing written); "
        "there is no database yet: the import creates it"
    )
    assert User.select().where(User.account == _store().account_id).count() == 0
    assert _import("users", path) == 0
    assert _import("users", path) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("0 created, 0 updated, 2 unchanged")
    account = _store().account_id
    assert User.select().where(User.account == account).count() == 2
    assert UserAddress.select().where(UserAddress.account == account).count() == 1
    # A deactivated user is put back as the file says, as `users add` would.
    assert main(["users", "add", "bob@acme.example", "--inactive"]) == 0
    assert _import("users", path, "--dry-run") == 0
    assert _summary(capsys) == "0 to create, 1 to update, 1 unchanged (dry run: nothing written)"
    assert not User.get(User.email == "bob@acme.example").active


def _schema_version(url: str) -> int | None:
    """The database's schema version, looked at without creating anything; None: no database."""
    try:
        db = open_database(url, migrate=False, read_only=True)
    except DatabaseMissing:
        return None
    try:
        return current_version(db)
    finally:
        db.close()


def test_a_dry_run_creates_no_database_and_no_account(
    env: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # README: "--dry-run ... writing nothing". It created the database (SQLite's file, PostgreSQL's
    # tables) and the account, as the import would have.
    path = _file(env, "email,name\nrita@acme.example,Rita\nrita@acme.example,Again\n")
    assert _import("users", path, "--dry-run") == 2  # the file is checked all the same
    assert "line 3: rita@acme.example is also on line 2" in capsys.readouterr().err
    path = _file(env, "email,name\nrita@acme.example,Rita\n")
    assert _import("users", path, "--dry-run") == 0
    assert capsys.readouterr().out == (
        f"users from {path}: 1 to create, 0 to update, 0 unchanged (dry run: nothing written); "
        "there is no database yet: the import creates it\n"
    )
    assert _schema_version(database_url) in (None, 0)
    # A database, and an account that has nothing in it yet: the account is not made either.
    assert main(["users", "add", "sam@acme.example"]) == 0
    monkeypatch.setenv("EMAILLOG_ACCOUNT", "globex")
    assert _import("users", path, "--dry-run") == 0
    assert capsys.readouterr().out.endswith(
        "nothing written); the account 'globex' has nothing yet: the import creates it\n"
    )
    open_database(database_url).close()  # the dry run's models were bound to its throwaway database
    assert [a.name for a in Account.select()] == ["default"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the old databases are SQLite dumps
def test_a_dry_run_upgrades_no_older_database(
    env: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = Path(database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(target) as con:
        con.executescript((Path(__file__).parents[1] / "data" / "upgrades" / "schema-v2.sql").read_text())
    con.close()
    path = _file(env, "email,name\nrita@acme.example,Rita\n")
    assert _import("users", path, "--dry-run") == 78
    err = capsys.readouterr().err
    assert "schema version 2, this emaillog needs" in err and "a dry run upgrades nothing" in err, err
    assert _schema_version(database_url) == 2


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "emaillog: cannot read {path}: No such file or directory"),
        (
            b"email\nren\xe9@acme.example\n",
            'emaillog: {path} is not UTF-8 text (line 2, byte 0xe9): save it as "CSV UTF-8"',
        ),
        (b"\n\n", "emaillog: {path} is empty: its first row names the columns (domain, name)"),
        (b"domain,nom\n", "line 1: unknown column 'nom' (the columns are: domain, name)"),
        (b"name\nAcme\n", "line 1: no column 'domain'"),
        (
            b'domain,name\nacme.example,"Acme\n',
            "line 2: not CSV: unexpected end of data (a quote not closed?)",
        ),
    ],
)
def test_file_problems_are_one_clear_answer(
    content: bytes | None, error: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env / "companies.csv"
    if content is not None:
        path.write_bytes(content)
    assert _import("companies", str(path)) == 2
    err = capsys.readouterr().err
    assert error.format(path=path) in err.splitlines() and "Traceback" not in err
    assert Company.select().count() == 0


def test_nothing_in_the_database_changes_on_a_bad_row(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _import("never-log", _file(env, "value\nrival.example\n")) == 0
    assert _import("never-log", _file(env, "value\nfoe.example\nnot a domain\n")) == 2
    assert "line 3: value: 'not a domain' is neither an email address nor a domain" in capsys.readouterr().err
    assert [n.value for n in NeverLog.select()] == ["rival.example"]


def test_import_works_on_the_mailbox_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = '[mailbox.{0}]\nEMAILLOG_IMAP_HOST = "127.0.0.1"\nEMAILLOG_IMAP_USER = "{0}"\n'
    (tmp_path / "mailboxes.toml").write_text(
        "\n".join(table.format(n) + 'EMAILLOG_IMAP_PASSWORD = "pw"\n' for n in ("acme", "globex"))
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMAILLOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EMAILLOG_MAILBOXES_FILE", str(tmp_path / "mailboxes.toml"))
    path = _file(tmp_path, "email\nrita@acme.example\n")
    assert _import("users", path) == 2  # two mailboxes: which one?
    assert main(["--mailbox", "acme", "users", "import", path]) == 0
    accounts = {m.mailbox_name: open_store(m).account_id for m in load().mailboxes}
    assert [u.email for u in User.select().where(User.account == accounts["acme"])] == ["rita@acme.example"]
    assert User.select().where(User.account == accounts["globex"]).count() == 0


def test_a_name_longer_than_its_column_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PostgreSQL refused it with a DataError, shown as a traceback; SQLite stored it.
    long = "x" * 301
    assert main(["users", "add", "rita@acme.example", "--name", long]) == 2
    assert _import("companies", _file(env, f"domain,name\nacme.example,{long}\n")) == 2
    err = capsys.readouterr().err
    assert err.count("the name is 301 characters long; at most 300") == 2 and "Traceback" not in err


def test_a_logging_address_is_a_bad_row_found_before_writing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `users add` refuses a logging address (the defaults: log@ and log+fwd@emaillog.invalid). The
    # import passed it at the check and --dry-run said "to create"; writing then stopped at the first
    # one with a message naming no line, and the others were never reported.
    path = _file(
        env,
        "email,aliases,connected\n"
        "good@acme.example,,\n"
        "log@emaillog.invalid,,\n"
        "sam@acme.example,log+fwd@emaillog.invalid,\n"
        "tom@acme.example,,Log@Emaillog.invalid\n",
    )
    for dry_run in (["--dry-run"], []):
        assert _import("users", path, *dry_run) == 2
        out = capsys.readouterr()
        assert out.out == "" and "Traceback" not in out.err
        lines = out.err.splitlines()
        assert lines[0] == f"emaillog: {path}: 3 bad rows, nothing imported"
        assert [line.partition(":")[0] for line in lines[1:]] == ["line 3", "line 4", "line 5"]
        assert all("is a logging address" in line for line in lines[1:])
    assert User.select().where(User.account == _store().account_id).count() == 0


def test_a_nul_in_a_name_is_a_bad_row(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A NUL that a spreadsheet or a binary export left in a cell: PostgreSQL cannot store one
    # (psycopg2's ValueError was a traceback, exit 1); SQLite stored it.
    for kind, text in (
        ("users", "email,name\nrita@acme.example,Rita\x00Ramos\n"),
        ("companies", "domain,name\nacme.example,Acme\x00\n"),
        ("deals", "name,contacts\nRenewal\x00,ann@acme.example\n"),
    ):
        assert _import(kind, _file(env, text)) == 2
        err = capsys.readouterr().err
        assert "line 2: name: the name holds a NUL character" in err.splitlines(), err
        assert "Traceback" not in err
    store = _store()
    assert User.select().where(User.account == store.account_id).count() == 0
    assert Company.select().where(Company.account == store.account_id).count() == 0
    assert Deal.select().where(Deal.account == store.account_id).count() == 0


def test_an_address_with_an_invisible_character_is_refused(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A zero-width space pasted from a web page, a BOM from a second file appended to the first:
    # the user was stored as 'rita\u200b@acme.example' and matched none of Rita's mail.
    assert main(["users", "add", "rita\u200b@acme.example"]) == 2
    assert main(["users", "add", "rita@acme.example"]) == 0
    assert main(["users", "alias", "rita@acme.example", "\ufeffrr@acme.example"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "emaillog: 'rita\\u200b@acme.example' holds an invisible character (U+200B): type the address again",
        "emaillog: '\\ufeffrr@acme.example' holds an invisible character (U+FEFF): type the address again",
    ]
    path = _file(
        env, "email,connected\nbob@acme.example,\n" + BOM + "sam@acme.example,b\u2060@gmail.example\n"
    )
    assert _import("users", path) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1].startswith("line 3: email: '\\ufeffsam@acme.example' holds an invisible character")
    assert "connected: 'b\\u2060@gmail.example' holds an invisible character (U+2060)" in err[1]
    account = _store().account_id
    assert [u.email for u in User.select().where(User.account == account)] == ["rita@acme.example"]
    assert UserAddress.select().where(UserAddress.account == account).count() == 0


def test_ctrl_c_during_an_import_is_one_line_and_writes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large import takes minutes (100,000 users: 2m44s on SQLite here); Ctrl-C in it was a
    # KeyboardInterrupt traceback. The signal comes after the first row is written.
    import signal

    from emaillog.csvkinds import UserRecord, Users

    apply = Users.apply

    def apply_then_ctrl_c(self: Users, record: UserRecord) -> None:
        apply(self, record)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(Users, "apply", apply_then_ctrl_c)
    path = _file(env, "email\nrita@acme.example\nbob@acme.example\n")
    # As in a terminal: a shell starts a background job (CI's) with SIGINT ignored, and Python then
    # leaves it ignored, so the signal raised above would do nothing.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = _import("users", path)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C reached the admin as a KeyboardInterrupt traceback")
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert code == 130
    err = capsys.readouterr().err
    assert err == "emaillog: interrupted: what the command had not committed was not written\n"
    assert User.select().where(User.account == _store().account_id).count() == 0


def test_an_address_longer_than_its_column_once_compared_is_a_usage_error(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 316 characters as typed, 380 lower-cased ("İ" becomes "i" and a combining dot): PostgreSQL
    # refused the key with a DataError traceback, SQLite stored it.
    address = "\u0130" * 64 + "@" + ("a" * 60 + ".") * 4 + "example"
    assert main(["users", "add", address]) == 2
    assert _import("users", _file(env, f"email\n{address}\n")) == 2
    err = capsys.readouterr().err
    assert err.count("is too long: 380 characters as compared, at most 320") == 2 and "Traceback" not in err
    assert User.select().where(User.account == _store().account_id).count() == 0


def test_header_cells_left_empty_are_no_columns(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Excel writes a delimiter for every column the sheet once used, the header's included:
    # the file was refused twice over with "unknown column ''".
    path = _file(env, BOM + "Email;Name;;\r\nrita@acme.example;Rita;;\r\nbob@acme.example;Bob; ;\r\n")
    assert _import("users", path) == 0
    assert _summary(capsys) == "2 created, 0 updated, 0 unchanged"
    # A value under a column the header does not name is not dropped without a word.
    path = _file(env, "email,name,\nsam@acme.example,Sam,sam@gmail.example\n")
    assert _import("users", path) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[1:] == ["line 2: a value in column 3, which the header row leaves without a name"]
    assert User.select().where(User.account == _store().account_id).count() == 2
