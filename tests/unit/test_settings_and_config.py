"""Settings: names as documented, the environment wins, every problem reported at once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emaillog.databaseurl import unverified_database
from emaillog.rules import DEFAULT_CHAIN, ChainError, load_chain
from emaillog.setting_names import KNOWN
from emaillog.settings import SettingsError, load

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = load(None, {})
    assert s.imap is None and s.intake_folder == "INBOX" and s.processed_folder == "Processed"
    assert s.error_folder == "Error" and s.poll_seconds == 60
    assert s.database_url == f"sqlite:///{Path('data').absolute() / 'emaillog.sqlite3'}"


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load(
            None,
            {
                "EMAILLOG_IMAP_HOST": "imap.example.com",
                "EMAILLOG_IMAP_SECURITY": "tls",
                "EMAILLOG_POLL_SECONDS": "soon",
                "EMAILLOG_BCC_ADDRESS": "not-an-address",
                "EMAILLOG_COMPANY_DOMAINS": "acme.example, bad domain",
                "EMAILLOG_DATABASE_URL": "mysql://x",
            },
        )
    text = str(caught.value)
    for name in (
        "EMAILLOG_IMAP_SECURITY",
        "EMAILLOG_POLL_SECONDS",
        "EMAILLOG_BCC_ADDRESS",
        "EMAILLOG_COMPANY_DOMAINS",
        "EMAILLOG_DATABASE_URL",
        "EMAILLOG_IMAP_USER",
        "EMAILLOG_IMAP_PASSWORD",
    ):
        assert name in text


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "emaillog.env"
    env_file.write_text("EMAILLOG_POLL_SECONDS=30\nEMAILLOG_INTAKE_FOLDER=Log\n")
    s = load(env_file, {"EMAILLOG_POLL_SECONDS": "15"})
    assert (s.poll_seconds, s.intake_folder) == (15, "Log")


def test_secret_from_credentials_directory_then_file_then_variable(tmp_path: Path) -> None:
    base = {"EMAILLOG_IMAP_HOST": "h", "EMAILLOG_IMAP_USER": "u", "EMAILLOG_IMAP_PASSWORD": "from-var"}
    assert load(None, base).imap.password == "from-var"  # type: ignore[union-attr]
    (tmp_path / "pw").write_text("from-file\n")
    assert (
        load(None, {**base, "EMAILLOG_IMAP_PASSWORD_FILE": str(tmp_path / "pw")}).imap.password == "from-file"
    )  # type: ignore[union-attr]
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "imap-password").write_text("from-cred")
    env = {**base, "EMAILLOG_IMAP_PASSWORD_FILE": str(tmp_path / "pw"), "CREDENTIALS_DIRECTORY": str(creds)}
    assert load(None, env).imap.password == "from-cred"  # type: ignore[union-attr]


def test_tls_is_verified_by_default() -> None:
    s = load(None, {"EMAILLOG_IMAP_HOST": "h", "EMAILLOG_IMAP_USER": "u", "EMAILLOG_IMAP_PASSWORD": "p"})
    assert s.imap is not None and s.imap.verify_tls and s.imap.port == 993


def documented(path: Path) -> list[tuple[str, str]]:
    """Each setting line of a shipped env file, commented out or not: (name, value as written)."""
    return re.findall(r"^#?(EMAILLOG_[A-Z0-9_]+)=(.*)$", path.read_text(), re.M)


# Without a host no IMAP or SMTP setting is read at all, so their defaults could not be compared.
WITH_SERVERS = {
    "EMAILLOG_IMAP_HOST": "imap.acme.example",
    "EMAILLOG_IMAP_USER": "log@acme.example",
    "EMAILLOG_IMAP_PASSWORD": "secret",
    "EMAILLOG_SMTP_HOST": "smtp.acme.example",
}


def test_config_file_documents_every_setting() -> None:
    sources = ("settings.py", "opsettings.py")  # every name a setting is read by
    code = "".join((ROOT / "emaillog" / name).read_text() for name in sources)
    names = set(re.findall(r'"(EMAILLOG_[A-Z_]+)"', code))
    assert {"EMAILLOG_IMAP_HOST", "EMAILLOG_IMAP_IDLE"} <= names
    # The names a typo is told from: every one read ("EMAILLOG_IMAP_" is the per-mailbox prefix).
    assert names - {"EMAILLOG_IMAP_"} <= KNOWN
    # config/emaillog.env "lists every setting": each on a line of its own, once, and no other.
    lines = [name for name, _ in documented(ROOT / "config" / "emaillog.env")]
    assert sorted(lines) == sorted(KNOWN)


def test_config_file_gives_each_settings_own_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default data dir, ./data, is then a fresh one
    base = dict(WITH_SERVERS)
    defaults = load(None, base)
    wrong = []
    for name, value in documented(ROOT / "config" / "emaillog.env"):
        # Empty: no default. <…>: one worked out at start-up (the BCC address's domain, this host's name).
        if value and "<" not in value and load(None, {**base, name: value}) != defaults:
            wrong.append(f"{name}={value}")
    assert wrong == []


def test_systemd_env_example_starts_as_shipped_and_each_commented_value_is_accepted(tmp_path: Path) -> None:
    example = ROOT / "systemd" / "emaillog.env.example"
    # The passwords come as credentials; the data dir is the unit's StateDirectory.
    environ = {
        "EMAILLOG_IMAP_PASSWORD": "secret",
        "EMAILLOG_SMTP_PASSWORD": "secret",
        "EMAILLOG_DATA_DIR": str(tmp_path),
    }
    assert load(example, environ).imap is not None
    refused = []
    for name, value in documented(example):
        if name.endswith("_FILE") or name == "EMAILLOG_DATA_DIR":
            continue  # paths on the machine it is installed on
        try:
            load(None, {**WITH_SERVERS, **environ, name: value})
        except SettingsError as exc:
            refused.extend(exc.problems)
    assert refused == []


def test_a_misspelt_setting_stops_start_up_naming_the_setting_it_is_nearest_to(tmp_path: Path) -> None:
    env_file = tmp_path / "emaillog.env"
    env_file.write_text("EMAILLOG_POLL_SECOND=5\nEMAILLOG_SHINY=1\nEMAILLOG_POLL_SECONDS=30\n")
    environ = {"EMAILLOG_TRUSTED_AUTHSERV_ID": "mx.acme.example", "EMAILLOG_PROPERTY_EXAMPLES": "5000"}
    with pytest.raises(SettingsError) as raised:
        load(env_file, environ)
    assert raised.value.problems == [
        "EMAILLOG_POLL_SECOND: no such setting; did you mean EMAILLOG_POLL_SECONDS?",
        "EMAILLOG_SHINY: no such setting (config/emaillog.env lists them all)",
        # Without the S, sender authentication would quietly stay off (SPEC §12).
        "EMAILLOG_TRUSTED_AUTHSERV_ID: no such setting; did you mean EMAILLOG_TRUSTED_AUTHSERV_IDS?",
    ]
    # Another program's EMAILLOG_* variable in the environment is none of ours to judge.
    assert (
        load(None, {"EMAILLOG_PROPERTY_EXAMPLES": "5000", "EMAILLOG_DATA_DIR": str(tmp_path)}).poll_seconds
        == 60
    )
    # Every setting documented in the shipped file is one there is.
    shipped = (ROOT / "config" / "emaillog.env").read_text()
    written = tmp_path / "all.env"
    written.write_text("".join(f"{n}=\n" for n in re.findall(r"^#?(EMAILLOG_[A-Z0-9_]+)=", shipped, re.M)))
    assert load(written, {"EMAILLOG_DATA_DIR": str(tmp_path)}).poll_seconds == 60


def test_a_misspelt_setting_in_a_mailbox_table_is_named(tmp_path: Path) -> None:
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text('[mailbox.acme]\nEMAILLOG_IMAP_HOTS = "imap.acme.example"\n')
    with pytest.raises(SettingsError) as raised:
        load(None, {"EMAILLOG_MAILBOXES_FILE": str(mailboxes), "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert raised.value.problems == [
        "mailbox acme: EMAILLOG_IMAP_HOTS: no such setting; did you mean EMAILLOG_IMAP_HOST?",
        "mailbox acme: EMAILLOG_IMAP_HOST: required (in [mailbox.acme] or shared by every mailbox)",
    ]


def test_shipped_chain_file_is_the_default_chain() -> None:
    assert load_chain(ROOT / "config" / "chain.toml") == DEFAULT_CHAIN


def test_unknown_or_repeated_rule_fails(tmp_path: Path) -> None:
    path = tmp_path / "chain.toml"
    path.write_text('[[link]]\nrule = "sender-not-a-usr"\naction = "reject"\n')
    with pytest.raises(ChainError, match="unknown rule"):
        load_chain(path)
    path.write_text('[[link]]\nrule = "never-log"\naction = "skip"\n' * 2)
    with pytest.raises(ChainError, match="twice"):
        load_chain(path)


def test_bad_setting_exits_78_with_one_message(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "EMAILLOG_POLL_SECONDS": "0",
        "EMAILLOG_IMAP_SECURITY": "x",
        "EMAILLOG_DATA_DIR": str(tmp_path),
    }
    done = _daemon_once(env, tmp_path)
    assert done.returncode == 78
    assert "EMAILLOG_POLL_SECONDS" in done.stderr and "Traceback" not in done.stderr


def test_secret_files_that_cannot_be_read_are_named_not_a_traceback(tmp_path: Path) -> None:
    base = {"EMAILLOG_IMAP_HOST": "h", "EMAILLOG_IMAP_USER": "u", "EMAILLOG_DATA_DIR": str(tmp_path)}
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    for named, expected in (
        (tmp_path / "missing", "does not exist"),
        (tmp_path, "does not exist or is not a file"),
        (tmp_path / "latin1", "not UTF-8"),
    ):
        with pytest.raises(SettingsError) as caught:
            load(None, {**base, "EMAILLOG_IMAP_PASSWORD": "p", "EMAILLOG_IMAP_PASSWORD_FILE": str(named)})
        assert "EMAILLOG_IMAP_PASSWORD_FILE" in str(caught.value) and expected in str(caught.value)
        assert "caf" not in str(caught.value)  # never the secret itself


def test_env_file_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    env_file = tmp_path / "emaillog.env"
    env_file.write_bytes(b"EMAILLOG_ACCOUNT=caf\xe9\nEMAILLOG_POLL_SECONDS=soon\n")
    with pytest.raises(SettingsError, match=f"env file {re.escape(str(env_file))}: cannot read: not UTF-8"):
        load(env_file, {"EMAILLOG_DATA_DIR": str(tmp_path)})


def test_the_default_env_file_that_cannot_be_read_is_not_called_env_file_option(tmp_path: Path) -> None:
    # ./.env is read without --env-file: "--env-file: cannot read .env" named an option never given.
    (tmp_path / ".env").write_bytes(b"EMAILLOG_ACCOUNT=caf\xe9\n")
    env = {"PATH": "/usr/bin:/bin", "EMAILLOG_DATA_DIR": str(tmp_path / "data")}
    done = _daemon_once(env, tmp_path)
    assert done.returncode == 78, done.stderr
    assert f"env file {tmp_path / '.env'}: cannot read: not UTF-8" in done.stderr
    assert "--env-file" not in done.stderr and "Traceback" not in done.stderr


def test_data_dir_that_cannot_be_created_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    for data_dir in (tmp_path / "afile", tmp_path / "afile" / "data"):
        with pytest.raises(SettingsError, match="EMAILLOG_DATA_DIR"):
            load(None, {"EMAILLOG_DATA_DIR": str(data_dir)})
    assert load(None, {"EMAILLOG_DATA_DIR": str(tmp_path / "new" / "data")}).data_dir.name == "data"


def test_chain_file_that_is_missing_or_bad_is_a_settings_problem(tmp_path: Path) -> None:
    # A mistyped path used to fall back to the default chain without a word.
    with pytest.raises(SettingsError, match=r"EMAILLOG_CHAIN_FILE: .* does not exist"):
        load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_CHAIN_FILE": str(tmp_path / "nope.toml")})
    bad = tmp_path / "chain.toml"
    bad.write_text('[[link]]\nrule = "sender-not-a-usr"\naction = "reject"\n')
    with pytest.raises(SettingsError) as caught:
        load(
            None,
            {
                "EMAILLOG_DATA_DIR": str(tmp_path),
                "EMAILLOG_CHAIN_FILE": str(bad),
                "EMAILLOG_POLL_SECONDS": "x",
            },
        )
    assert "unknown rule" in str(caught.value) and "EMAILLOG_POLL_SECONDS" in str(caught.value)


def test_database_url_without_a_database_is_a_problem(tmp_path: Path) -> None:
    for url in ("postgresql://:::@/", "postgresql://u@h:99x/db", "sqlite:///"):
        with pytest.raises(SettingsError, match="EMAILLOG_DATABASE_URL"):
            load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_DATABASE_URL": url})


def test_a_database_url_that_does_not_parse_is_reported_without_its_password(tmp_path: Path) -> None:
    # urllib's own words quote what it took for the port: for these, a piece of the password.
    for url in ("postgresql://app:s3cr/et@db.example/crm", "postgresql://app:s3cr#et@db.example/crm"):
        with pytest.raises(SettingsError, match="EMAILLOG_DATABASE_URL") as caught:
            load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_DATABASE_URL": url})
        assert "s3cr" not in str(caught.value)


def test_a_database_url_libpq_refuses_is_reported_without_its_password(tmp_path: Path) -> None:
    # libpq's own words quote the token it could not read (a password holding a bare %), or the whole
    # value when it is no URL at all (a libpq keyword string, as psql takes it).
    for url, said in (
        ("postgresql://app:pa%zzs3cret@db.example/crm", "percent"),
        ("postgresql://app:s3cret%@db.example/crm", "percent"),
        ("postgresql://app@db.example/crm?password=s3cret%zz", "percent"),
        ("host=db.example user=app password=s3cret dbname=crm", "not sqlite:/// or postgresql://"),
    ):
        with pytest.raises(SettingsError, match="EMAILLOG_DATABASE_URL") as caught:
            load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_DATABASE_URL": url})
        assert "s3c" not in str(caught.value) and said in str(caught.value), url


def test_a_postgresql_on_another_machine_is_unverified_unless_sslmode_says_verify() -> None:
    remote = "postgresql://crm:s3cret@db.acme.example/crm"
    said = unverified_database(remote, {})
    assert said is not None and "db.acme.example" in said and "sslmode=prefer" in said
    assert "s3cret" not in said
    assert "sslmode=require" in (unverified_database(remote + "?sslmode=require", {}) or "")
    assert unverified_database(remote + "?sslmode=verify-full", {}) is None
    assert unverified_database(remote + "?sslmode=verify-ca", {}) is None
    assert unverified_database(remote, {"PGSSLMODE": "verify-full"}) is None  # libpq reads it too
    # This machine: a loopback address, or the Unix socket (no host, or a directory).
    for local in ("postgresql://crm@127.0.0.1/crm", "postgresql://crm@localhost/crm", "postgresql:///crm"):
        assert unverified_database(local, {}) is None, local
    assert unverified_database("postgresql:///crm?host=/run/postgresql", {}) is None
    assert "db2.example" in (unverified_database("postgresql:///crm", {"PGHOST": "db2.example"}) or "")
    assert unverified_database("sqlite:///x.sqlite3", {}) is None


def test_ports_and_files_that_cannot_work_are_settings_problems(tmp_path: Path) -> None:
    # Reported at start-up (78), not found out at every connection attempt as a temporary failure.
    with pytest.raises(SettingsError) as caught:
        load(
            None,
            {
                "EMAILLOG_IMAP_HOST": "imap.acme.example",
                "EMAILLOG_IMAP_USER": "u",
                "EMAILLOG_IMAP_PASSWORD": "p",
                "EMAILLOG_IMAP_PORT": "99999",
                "EMAILLOG_IMAP_CA_FILE": str(tmp_path / "ca.pem"),
                "EMAILLOG_SMTP_HOST": "smtp.acme.example",
                "EMAILLOG_SMTP_PORT": "70000",
                "EMAILLOG_METRICS_PORT": "65536",
                "EMAILLOG_DATA_DIR": str(tmp_path),
            },
        )
    assert caught.value.problems == [
        "EMAILLOG_IMAP_PORT: 99999 is not a TCP port (1-65535)",
        f"EMAILLOG_IMAP_CA_FILE: {tmp_path / 'ca.pem'} does not exist or is not a file",
        "EMAILLOG_SMTP_PORT: 70000 is not a TCP port (1-65535)",
        "EMAILLOG_METRICS_PORT: 65536 is not a TCP port (1-65535)",
    ]


def test_a_login_never_crosses_the_network_without_tls(tmp_path: Path) -> None:
    base = {"EMAILLOG_IMAP_USER": "u", "EMAILLOG_IMAP_PASSWORD": "p", "EMAILLOG_DATA_DIR": str(tmp_path)}
    with pytest.raises(SettingsError) as caught:
        load(
            None,
            {
                **base,
                "EMAILLOG_IMAP_HOST": "imap.acme.example",
                "EMAILLOG_IMAP_SECURITY": "none",
                "EMAILLOG_SMTP_HOST": "smtp.acme.example",
                "EMAILLOG_SMTP_SECURITY": "none",
                "EMAILLOG_SMTP_USER": "crm",
                "EMAILLOG_SMTP_PASSWORD": "p",
            },
        )
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "EMAILLOG_IMAP_SECURITY",
        "EMAILLOG_SMTP_SECURITY",
    ]
    assert "would send the login to imap.acme.example in clear" in str(caught.value)
    # On this machine, or a relay that takes mail without a login, plain text is allowed.
    for host in ("127.0.0.1", "localhost", "::1", "127.5.5.5"):
        local = load(None, {**base, "EMAILLOG_IMAP_HOST": host, "EMAILLOG_IMAP_SECURITY": "none"})
        assert local.imap is not None and local.imap.security == "none"
    relay = load(
        None,
        {**base, **WITH_SERVERS, "EMAILLOG_SMTP_HOST": "mx.acme.example", "EMAILLOG_SMTP_SECURITY": "none"},
    )
    assert relay.notices is not None and relay.notices.smtp is not None


def test_a_relay_login_without_a_password_is_a_settings_problem(tmp_path: Path) -> None:
    # The mailer logged in only with both: a user alone sent notices without a login, which the
    # relay refused one by one, while `check` tried the login with an empty password.
    relay = {"EMAILLOG_SMTP_HOST": "smtp.acme.example", "EMAILLOG_SMTP_USER": "crm"}
    with pytest.raises(SettingsError) as caught:
        load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), **relay})
    assert caught.value.problems == ["EMAILLOG_SMTP_PASSWORD: required when EMAILLOG_SMTP_USER is set"]
    (tmp_path / "smtp-password").write_text("s3cret\n")
    env = {"EMAILLOG_DATA_DIR": str(tmp_path), "CREDENTIALS_DIRECTORY": str(tmp_path), **relay}
    smtp = load(None, env).notices.smtp  # type: ignore[union-attr]
    assert smtp is not None and (smtp.user, smtp.password) == ("crm", "s3cret")


def test_a_misspelt_database_url_option_is_a_settings_problem(tmp_path: Path) -> None:
    url = "postgresql://crm:s3cret@db.acme.example/crm?sslmode=verify-full&bogus=1"
    with pytest.raises(SettingsError) as caught:
        load(None, {"EMAILLOG_DATABASE_URL": url, "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert caught.value.problems == ['EMAILLOG_DATABASE_URL: invalid URI query parameter: "bogus"']
    assert "s3cret" not in str(caught.value)
    good = load(
        None, {"EMAILLOG_DATABASE_URL": url.removesuffix("&bogus=1"), "EMAILLOG_DATA_DIR": str(tmp_path)}
    )
    assert good.database_url.endswith("sslmode=verify-full")


def test_a_misspelt_sslmode_is_a_settings_problem_not_an_outage(tmp_path: Path) -> None:
    # libpq reads option names when the URL is parsed, their values only when it connects: the daemon
    # said "database unavailable" (75) and systemd restarted it for ever, where 78 stops it.
    url = "postgresql://crm:s3cret@db.acme.example/crm?sslmode=verify_full"
    with pytest.raises(SettingsError) as caught:
        load(None, {"EMAILLOG_DATABASE_URL": url, "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert caught.value.problems == [
        "EMAILLOG_DATABASE_URL: sslmode=verify_full is not one of disable, allow, prefer, require, "
        "verify-ca, verify-full"
    ]


def test_the_example_mailboxes_file_is_accepted(tmp_path: Path) -> None:
    secret = tmp_path / "acme-imap-password"
    secret.write_text("secret")
    token = tmp_path / "globex-imap-token"  # a token program must be there to be run
    token.write_text("#!/bin/sh\n")
    token.chmod(0o755)
    example = (ROOT / "config" / "mailboxes.example.toml").read_text()
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text(
        example.replace("/etc/emaillog/acme-imap-password", str(secret)).replace(
            "/usr/local/bin/globex-imap-token", str(token)
        )
    )
    settings = load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_MAILBOXES_FILE": str(mailboxes)})
    named = [(m.mailbox_name, m.account) for m in settings.mailboxes]
    assert named == [("acme", "acme"), ("globex", "globex")]


def test_the_settings_repr_holds_no_password(tmp_path: Path) -> None:
    """A Settings shown in a traceback or a debug line: the database URL's password is not in it."""
    settings = load(
        None,
        {
            "EMAILLOG_DATA_DIR": str(tmp_path),
            "EMAILLOG_DATABASE_URL": "postgresql://crm:Sekr3tRepr@db.example/crm?sslmode=verify-full",
            "EMAILLOG_IMAP_HOST": "imap.example.com",
            "EMAILLOG_IMAP_USER": "log@example.com",
            "EMAILLOG_IMAP_PASSWORD": "ImapSekr3tRepr",
        },
    )
    assert "Sekr3tRepr" not in repr(settings)


def _mailboxes_problems(tmp_path: Path, text: str | bytes, **environ: str) -> list[str]:
    path = tmp_path / "mailboxes.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SettingsError) as raised:
        load(None, {"EMAILLOG_MAILBOXES_FILE": str(path), "EMAILLOG_DATA_DIR": str(tmp_path), **environ})
    return raised.value.problems


_TABLE = '[mailbox.{name}]\nEMAILLOG_IMAP_HOST = "imap.example.com"\nEMAILLOG_IMAP_USER = "{user}"\n'
_LOGIN = {"EMAILLOG_IMAP_PASSWORD": "pw"}


def test_a_mailboxes_file_that_is_not_utf8_is_named_not_a_traceback(tmp_path: Path) -> None:
    problems = _mailboxes_problems(tmp_path, b'[mailbox.acme]\nEMAILLOG_ACCOUNT = "caf\xe9"\n')
    assert len(problems) == 1
    assert problems[0].startswith("EMAILLOG_MAILBOXES_FILE: ") and "not UTF-8" in problems[0]


def test_a_mailboxes_file_written_wrongly_is_named_not_half_used(tmp_path: Path) -> None:
    acme = _TABLE.format(name="acme", user="acme")
    # A misspelt table name left that mailbox out without a word.
    problems = _mailboxes_problems(tmp_path, acme + '[mailboxs.globex]\nEMAILLOG_ACCOUNT = "g"\n', **_LOGIN)
    assert problems == [
        f"EMAILLOG_MAILBOXES_FILE: {tmp_path / 'mailboxes.toml'}: 'mailboxs' is not a [mailbox.NAME] table"
    ]
    # mailbox.globex = "…" ran as a mailbox on the shared settings alone.
    problems = _mailboxes_problems(tmp_path, '[mailbox]\nglobex = "imap.globex.example"\n', **_LOGIN)
    assert problems[0].startswith("mailbox globex: is not a table of settings")
    # A TOML list was taken for one domain, "['acme.example'", and the company's mail for contacts'.
    problems = _mailboxes_problems(
        tmp_path, acme + 'EMAILLOG_COMPANY_DOMAINS = ["acme.example", "b.example"]\n', **_LOGIN
    )
    assert problems[0] == (
        'mailbox acme: EMAILLOG_COMPANY_DOMAINS: a list is not a value here; write a string (several: "a, b")'
    )


def test_a_mailbox_without_a_server_is_a_settings_problem(tmp_path: Path) -> None:
    # The demo mailbox is for a set-up with no mailbox; this one failed its pass on an assertion.
    assert _mailboxes_problems(tmp_path, '[mailbox.acme]\nEMAILLOG_ACCOUNT = "acme"\n') == [
        "mailbox acme: EMAILLOG_IMAP_HOST: required (in [mailbox.acme] or shared by every mailbox)"
    ]


def test_two_mailboxes_on_one_intake_folder_are_a_settings_problem(tmp_path: Path) -> None:
    text = _TABLE.format(name="acme", user="crm") + _TABLE.format(name="globex", user="CRM")
    assert _mailboxes_problems(tmp_path, text, **_LOGIN) == [
        "mailbox globex: its intake folder INBOX is a folder of mailbox acme (CRM at imap.example.com): "
        "give each mailbox folders of its own"
    ]
    # One's intake folder the other's Processed: each would take in what the other had done.
    text += 'EMAILLOG_INTAKE_FOLDER = "Processed"\nEMAILLOG_PROCESSED_FOLDER = "Globex done"\n'
    assert _mailboxes_problems(tmp_path, text, **_LOGIN)[0].startswith(
        "mailbox globex: its intake folder Processed is a folder of mailbox acme"
    )
    # One login, a folder each: fine.
    (tmp_path / "mailboxes.toml").write_text(text.replace('"Processed"', '"Globex"'))
    environ = {
        "EMAILLOG_MAILBOXES_FILE": str(tmp_path / "mailboxes.toml"),
        "EMAILLOG_DATA_DIR": str(tmp_path),
    }
    assert len(load(None, {**environ, **_LOGIN}).mailboxes) == 2


def test_a_mailbox_name_that_cannot_name_a_file_is_a_settings_problem(tmp_path: Path) -> None:
    # It names the lease and state files: "../../x" took its lease outside the data dir.
    for name in ("../../x", "a/b", "..", "tab\there"):
        with pytest.raises(SettingsError, match=r"EMAILLOG_MAILBOX_NAME: .* cannot name a file"):
            load(None, {"EMAILLOG_MAILBOX_NAME": name, "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert load(None, {"EMAILLOG_MAILBOX_NAME": "Sales Team", "EMAILLOG_DATA_DIR": str(tmp_path)})


def test_a_number_too_large_to_use_is_a_settings_problem(tmp_path: Path) -> None:
    huge = "9" * 23  # EMAILLOG_IMAP_TIMEOUT so was an OverflowError at the first connection
    for name in ("EMAILLOG_IMAP_TIMEOUT", "EMAILLOG_POLL_SECONDS", "EMAILLOG_NOTICE_DAILY_LIMIT"):
        with pytest.raises(SettingsError) as raised:
            load(None, {**WITH_SERVERS, name: huge, "EMAILLOG_DATA_DIR": str(tmp_path)})
        assert raised.value.problems == [f"{name}: {huge} is above the maximum of 2147483647"]
    assert load(
        None, {**WITH_SERVERS, "EMAILLOG_IMAP_TIMEOUT": "2147483647", "EMAILLOG_DATA_DIR": str(tmp_path)}
    )


def test_an_env_file_line_python_dotenv_cannot_read_is_named(tmp_path: Path) -> None:
    # python-dotenv logged a warning and went on without the setting: the poll ran every 60 s.
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(
        "EMAILLOG_BATCH_SIZE=50\nEMAILLOG_POLL_SECONDS 30\n"
        "EMAILLOG_IMAP_PASSWORD='hunter2\nEMAILLOG_IMAP_IDLE\n"
    )
    with pytest.raises(SettingsError) as raised:
        load(env_file, {"EMAILLOG_DATA_DIR": str(tmp_path)})
    unread = "not NAME=value (is the = missing, or a quote not closed?)"
    assert raised.value.problems == [
        f"{env_file}: line 2 (EMAILLOG_POLL_SECONDS): {unread}",
        f"{env_file}: line 3 (EMAILLOG_IMAP_PASSWORD): {unread}",  # never the password
        f"{env_file}: line 4: EMAILLOG_IMAP_IDLE has no = (for the default, leave the line out)",
    ]


@pytest.mark.parametrize(
    ("environ", "files", "named"),
    [
        (
            {"EMAILLOG_MAILBOXES_FILE": "mailboxes.toml"},
            {"mailboxes.toml": b"[mailbox.acme]\n# caf\xe9\n"},
            "UTF-8",
        ),
        ({"EMAILLOG_MAILBOX_NAME": "../escape"}, {}, "EMAILLOG_MAILBOX_NAME"),
        ({"EMAILLOG_IMAP_TIMEOUT": "9" * 23}, {}, "EMAILLOG_IMAP_TIMEOUT"),
        ({}, {".env": b"EMAILLOG_POLL_SECONDS 30\n"}, "EMAILLOG_POLL_SECONDS"),
        # A templates directory not there: every notice went out in the built-in words.
        ({"EMAILLOG_NOTICE_TEMPLATES_DIR": "no-such-dir"}, {}, "EMAILLOG_NOTICE_TEMPLATES_DIR"),
        # A hostname no header can hold: each message owed a notice crashed on NoticeRequest.
        ({"EMAILLOG_HOSTNAME": "mail.acme.example\nX-Injected: 1"}, {}, "EMAILLOG_HOSTNAME"),
        # A token program not there: 75 at the first login, restarted for ever.
        (
            {"EMAILLOG_IMAP_AUTH": "xoauth2", "EMAILLOG_IMAP_TOKEN_COMMAND": "/nonexistent/get-token --x"},
            {},
            "EMAILLOG_IMAP_TOKEN_COMMAND: /nonexistent/get-token is not a program",
        ),
    ],
)
def test_hostile_settings_stop_the_daemon_before_it_writes_anything(
    tmp_path: Path, environ: dict[str, str], files: dict[str, bytes], named: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    env = {
        "PATH": "/usr/bin:/bin",
        # Nothing listens there: a daemon that got past its settings would fail with 75.
        "EMAILLOG_IMAP_HOST": "127.0.0.1",
        "EMAILLOG_IMAP_PORT": "1",
        "EMAILLOG_IMAP_SECURITY": "none",
        "EMAILLOG_IMAP_USER": "log",
        "EMAILLOG_IMAP_PASSWORD": "secret",
        "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
        **{k: str(tmp_path / v) if v.endswith(".toml") else v for k, v in environ.items()},
    }
    done = _daemon_once(env, tmp_path)
    assert (done.returncode, "Traceback" in done.stderr) == (78, False), done.stderr
    assert done.stderr.startswith("emaillog: bad settings:") and named in done.stderr
    assert not (tmp_path / "data").exists()  # no database, lease or state file


def test_a_ca_file_without_a_certificate_is_a_settings_problem(tmp_path: Path) -> None:
    # It failed every connection as "mailbox unavailable" (75), restarted by systemd for ever.
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    (tmp_path / "ca.der").write_bytes(b"\x30\x82\x01\x0a garbage")
    for name in ("EMAILLOG_IMAP_CA_FILE", "EMAILLOG_SMTP_CA_FILE"):
        for ca in (tmp_path / "ca.pem", tmp_path / "ca.der"):
            with pytest.raises(SettingsError) as raised:
                load(None, {**WITH_SERVERS, name: str(ca), "EMAILLOG_DATA_DIR": str(tmp_path)})
            assert [p.split(":")[0] for p in raised.value.problems] == [name]
            assert f"{ca} holds no certificate that can be read (PEM)" in raised.value.problems[0]


def test_an_sqlite_database_that_cannot_be_a_file_is_a_settings_problem(tmp_path: Path) -> None:
    # A directory there was "database unavailable: unable to open database file", 75, after the lease.
    (tmp_path / "afile").write_text("")
    for path, why in ((tmp_path, "is not a file"), (tmp_path / "afile" / "db.sqlite3", "cannot be created")):
        with pytest.raises(SettingsError) as raised:
            load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_DATABASE_URL": f"sqlite:///{path}"})
        assert raised.value.problems[0].startswith(f"EMAILLOG_DATABASE_URL: {path} {why}")
    # A directory not there yet is made, as the data dir is.
    url = f"sqlite:///{tmp_path / 'new' / 'db.sqlite3'}"
    assert load(None, {"EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_DATABASE_URL": url}).database_url == url


def test_a_chain_file_that_is_not_a_list_of_links_is_named(tmp_path: Path) -> None:
    path = tmp_path / "chain.toml"
    for text, said in (
        # An empty file or a misspelt [[links]] ran an empty chain: mail from anyone was logged.
        ("", "has no [[link]] table"),
        ('[[links]]\nrule = "never-log"\naction = "skip"\n', "'links' is not [[link]]"),
        ('link = "sender-not-a-user"\n', "link must be [[link]] tables"),  # was "string indices must be…"
        (
            '[[link]]\nrule = "never-log"\nacton = "skip"\n',
            "link 1: no action (a string); unknown key 'acton'",
        ),
        ('[[link]]\nrule = 5\naction = "skip"\n', "link 1: no rule (a string)"),
    ):
        path.write_text(text)
        with pytest.raises(ChainError, match=re.escape(said)):
            load_chain(path)
    path.write_text("link = []\n")  # written out: an empty chain is the admin's to choose
    assert load_chain(path) == ()


def test_company_domains_written_with_the_wrong_separator_are_not_one_domain(tmp_path: Path) -> None:
    # "acme.example;acme-group.example" was one domain no address has: colleagues became contacts.
    for written in ("acme.example;acme-group.example", "'acme.example'", "acme.example!"):
        with pytest.raises(SettingsError) as raised:
            load(None, {"EMAILLOG_COMPANY_DOMAINS": written, "EMAILLOG_DATA_DIR": str(tmp_path)})
        assert raised.value.problems == [f"EMAILLOG_COMPANY_DOMAINS: {written!r} is not a domain"]
    written = "acme.example, bücher.de, xn--caf-dma.example, _dmarc.acme.example"
    domains = load(
        None, {"EMAILLOG_COMPANY_DOMAINS": written, "EMAILLOG_DATA_DIR": str(tmp_path)}
    ).company_domains
    assert domains == {"acme.example", "bücher.de", "café.example", "_dmarc.acme.example"}


def test_a_login_without_a_server_is_a_settings_problem_not_the_demo(tmp_path: Path) -> None:
    # EMAILLOG_IMAP_HOST left out (or emptied) beside a login: the demo mailbox started and its
    # sample users and emails went into the database meant for the company's mail.
    login = {"EMAILLOG_IMAP_USER": "log@acme.example", "EMAILLOG_IMAP_PASSWORD": "secret"}
    for host in ({}, {"EMAILLOG_IMAP_HOST": " "}):
        with pytest.raises(SettingsError) as raised:
            load(None, {**login, **host, "EMAILLOG_DATA_DIR": str(tmp_path)})
        assert raised.value.problems == [
            "EMAILLOG_IMAP_HOST: required when EMAILLOG_IMAP_USER is set "
            "(the demo mailbox runs only when no mailbox is configured)"
        ]
    assert load(None, {"EMAILLOG_DATA_DIR": str(tmp_path)}).imap is None  # nothing set: the demo


def test_a_host_written_as_a_url_or_with_its_port_is_a_settings_problem(tmp_path: Path) -> None:
    # Never resolved: "mailbox unavailable" (75), which systemd restarts for ever.
    for name in ("EMAILLOG_IMAP_HOST", "EMAILLOG_SMTP_HOST"):
        port = name.replace("_HOST", "_PORT")
        for host, said in (
            ("imaps://imap.acme.example", "is not a host name (no scheme or path: imap.example.com)"),
            ("mail.acme.example/", "is not a host name (no scheme or path: imap.example.com)"),
            ("mail.acme.example:993", f"holds a port: put the port in {port}"),
        ):
            with pytest.raises(SettingsError) as raised:
                load(None, {**WITH_SERVERS, name: host, "EMAILLOG_DATA_DIR": str(tmp_path)})
            assert raised.value.problems == [f"{name}: {host!r} {said}"]
    for host in ("::1", "[::1]", "127.0.0.1", "imap.acme.example"):
        assert load(
            None, {**WITH_SERVERS, "EMAILLOG_IMAP_HOST": host, "EMAILLOG_DATA_DIR": str(tmp_path)}
        ).imap


def test_a_hostname_no_header_can_hold_is_a_settings_problem(tmp_path: Path) -> None:
    # It is written into every notice's Message-ID and Reporting-MTA, which take A-labels only.
    base = {**WITH_SERVERS, "EMAILLOG_DATA_DIR": str(tmp_path)}
    for written in (
        "mail.acme.example\nBcc: x@evil.example",
        "mail acme",
        "mail_1.acme.example",
        "bücher.de",
    ):
        with pytest.raises(SettingsError) as raised:
            load(None, {**base, "EMAILLOG_HOSTNAME": written})
        assert raised.value.problems == [
            f"EMAILLOG_HOSTNAME: {written!r} is not a host name (letters, digits, - and . only: "
            "mail.example.com)"
        ]
    for written in ("mail.acme.example", "xn--bcher-kva.de", "localhost"):
        notices = load(None, {**base, "EMAILLOG_HOSTNAME": written}).notices
        assert notices is not None and notices.hostname == written


def test_a_notice_templates_dir_that_is_not_a_directory_is_a_settings_problem(tmp_path: Path) -> None:
    # A mistyped directory sent every notice in the built-in words without a word to the admin.
    (tmp_path / "afile").write_text("")
    base = {**WITH_SERVERS, "EMAILLOG_DATA_DIR": str(tmp_path)}
    for path in (tmp_path / "missing", tmp_path / "afile"):
        with pytest.raises(SettingsError) as raised:
            load(None, {**base, "EMAILLOG_NOTICE_TEMPLATES_DIR": str(path)})
        assert raised.value.problems == [
            f"EMAILLOG_NOTICE_TEMPLATES_DIR: {path} does not exist or is not a directory"
        ]
    notices = load(None, {**base, "EMAILLOG_NOTICE_TEMPLATES_DIR": str(tmp_path)}).notices
    assert notices is not None and notices.templates_dir == tmp_path


def test_a_token_command_that_cannot_run_is_a_settings_problem(tmp_path: Path) -> None:
    # oauth.CommandToken runs it split by shlex, without a shell: a program not there failed the
    # first login with 75 (restarted for ever), a quote not closed with a ValueError traceback.
    (tmp_path / "not-executable").write_text("#!/bin/sh\necho token\n")
    runs = tmp_path / "get token"
    runs.write_text("#!/bin/sh\necho token\n")
    runs.chmod(0o755)
    base = {**WITH_SERVERS, "EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_IMAP_AUTH": "xoauth2"}
    cannot = "is not a program that can be run (not found or not executable)"
    for command, said in (
        (f"{tmp_path / 'missing'} --tenant acme", f"{tmp_path / 'missing'} {cannot}"),
        (str(tmp_path / "not-executable"), f"{tmp_path / 'not-executable'} {cannot}"),
        ("no-such-token-program-here --x", f"no-such-token-program-here {cannot}"),
        ("get-token 'acme", "cannot be split into words (No closing quotation)"),
        ("''", "names no program"),
    ):
        with pytest.raises(SettingsError) as raised:
            load(None, {**base, "EMAILLOG_IMAP_TOKEN_COMMAND": command})
        assert raised.value.problems == [f"EMAILLOG_IMAP_TOKEN_COMMAND: {said}"]
    for command in (f"'{runs}' --tenant acme", "sh -c 'echo token'"):
        imap = load(None, {**base, "EMAILLOG_IMAP_TOKEN_COMMAND": command}).imap
        assert imap is not None and imap.token_command == command
    # Only an xoauth2 login runs it.
    assert load(
        None, {**WITH_SERVERS, "EMAILLOG_DATA_DIR": str(tmp_path), "EMAILLOG_IMAP_TOKEN_COMMAND": "x/y"}
    )


def _daemon_once(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``daemon.py --once`` run as an admin would, with only ``env`` for its environment."""
    return subprocess.run(
        [sys.executable, str(ROOT / "daemon.py"), "--once"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_setting_with_its_prefix_misspelt_or_in_lower_case_is_named_not_ignored(tmp_path: Path) -> None:
    # Only names starting with EMAILLOG_ were looked at: EMAILOG_IMAP_HOST (one L) or a name in lower
    # case was left out without a word, and with the host gone the demo mailbox ran instead of the
    # company's. Other names in the file (a PGSSLMODE for systemd's EnvironmentFile=) are not judged.
    env_file = tmp_path / "emaillog.env"
    env_file.write_text(
        "EMAILOG_IMAP_HOST=imap.acme.example\nemaillog_poll_seconds=30\nEMAIL_LOG_BATCH_SIZE=10\n"
        "DATABASE_URL=postgresql://crm@db.acme.example/crm\n"
        "PGSSLMODE=verify-full\nEMAILLOG_DATA_DIR=" + str(tmp_path) + "\n"
    )
    with pytest.raises(SettingsError) as raised:
        load(env_file, {})
    assert raised.value.problems == [
        "DATABASE_URL: no such setting; did you mean EMAILLOG_DATABASE_URL?",
        "EMAILOG_IMAP_HOST: no such setting; did you mean EMAILLOG_IMAP_HOST?",
        "EMAIL_LOG_BATCH_SIZE: no such setting; did you mean EMAILLOG_BATCH_SIZE?",
        "emaillog_poll_seconds: no such setting; did you mean EMAILLOG_POLL_SECONDS?",
    ]
    mailboxes = tmp_path / "mailboxes.toml"
    mailboxes.write_text('[mailbox.acme]\nimap_host = "imap.acme.example"\nnotes = "x"\n')
    with pytest.raises(SettingsError) as raised:
        load(None, {"EMAILLOG_MAILBOXES_FILE": str(mailboxes), "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert raised.value.problems[:2] == [
        "mailbox acme: imap_host: no such setting; did you mean EMAILLOG_IMAP_HOST?",
        "mailbox acme: notes cannot be set per mailbox",
    ]


@pytest.mark.parametrize(
    "written",
    [
        "mx.acme.example mx2.acme.example",
        "mx.acme.example;mx2.acme.example",
        "@top-most",
        "@TOPMOST ,@position",
    ],
)
def test_authserv_ids_no_header_can_carry_are_a_settings_problem(tmp_path: Path, written: str) -> None:
    # Such an id matched no Authentication-Results header: every message was rejected as
    # unauthenticated (SPEC §12 fails closed) while the admin believed authentication configured.
    with pytest.raises(SettingsError) as raised:
        load(None, {"EMAILLOG_TRUSTED_AUTHSERV_IDS": written, "EMAILLOG_DATA_DIR": str(tmp_path)})
    assert [p.split(":")[0] for p in raised.value.problems] == ["EMAILLOG_TRUSTED_AUTHSERV_IDS"]
    written_well = {
        "EMAILLOG_TRUSTED_AUTHSERV_IDS": "MX.acme.example, @TopMost,",
        "EMAILLOG_DATA_DIR": str(tmp_path),
    }
    assert load(None, written_well).trusted_authserv_ids == {"mx.acme.example", "@topmost"}
