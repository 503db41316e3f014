"""The daemon's small parts: backoff, log formats, access tokens, operational settings, metrics."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emaillog import oauth
from emaillog.fleet import _worst
from emaillog.logsetup import JsonFormatter, setup_logging
from emaillog.mailbox import FolderReadOnly, LoginRefused, MailboxError
from emaillog.metrics import FleetMetrics, Metrics
from emaillog.oauth import CommandToken, TokenError
from emaillog.reconnect import Backoff, start_up_failure
from emaillog.settings import Settings, SettingsError, load
from emaillog.store.files import process_tmp_dir, remove_stale_tmp

IMAP = {"EMAILLOG_IMAP_HOST": "imap.example.com", "EMAILLOG_IMAP_USER": "log@example.com"}


def test_backoff_doubles_with_jitter_up_to_the_ceiling_and_resets() -> None:
    backoff = Backoff(1, 8)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("emaillog.pass", logging.INFO, __file__, 1, message, (), None)


def test_json_log_lines_carry_the_per_message_fields() -> None:
    line = "uid=7 message_id=<a@b> route=bcc owner=rita@acme.example outcome=logged reason=None ms=3.1"
    data = json.loads(JsonFormatter().format(record(line)))
    assert data["uid"] == "7" and data["message_id"] == "<a@b>" and data["outcome"] == "logged"
    assert data["reason"] is None and data["level"] == "info" and "time" in data


def test_no_timestamps_under_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        setup_logging("text")
        logging.getLogger("emaillog").info("hello")
        assert stream.getvalue() == "INFO emaillog: hello\n"
        setup_logging("json")
        logging.getLogger("emaillog").info("outcome=logged")
        data = json.loads(stream.getvalue().splitlines()[-1])
        assert "time" not in data and data["outcome"] == "logged"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_token_command_output_plain_or_json_and_refreshed_before_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.write_text('{"access_token": "tok-1", "expires_in": 3600}\n')
    source = CommandToken(f"cat {out}")
    assert source.token() == "tok-1"
    assert source.expires_at is not None and source.expires_at > time.time() + 3500
    out.write_text("tok-2\n")
    assert source.token() == "tok-1"  # still cached
    later = time.time() + 3600 - oauth.REFRESH_MARGIN + 1
    monkeypatch.setattr(oauth.time, "time", lambda: later)
    assert source.token() == "tok-2"  # fetched anew within the refresh margin
    source.invalidate()
    out.write_text("tok-3\n")
    assert source.token() == "tok-3"


def test_token_command_failures_say_why_without_the_output(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="exited with 3: no token today"):
        CommandToken(
            f"{sys.executable} -c \"import sys; sys.stderr.write('no token today'); sys.exit(3)\""
        ).token()
    with pytest.raises(TokenError, match="printed no token"):
        CommandToken("echo two words").token()
    with pytest.raises(TokenError, match="could not run"):
        CommandToken(str(tmp_path / "missing-program")).token()


def test_xoauth2_settings_need_a_token_source_but_no_password() -> None:
    with pytest.raises(SettingsError, match="needs EMAILLOG_IMAP_TOKEN_COMMAND or EMAILLOG_OAUTH2_PROVIDER"):
        load(None, {**IMAP, "EMAILLOG_IMAP_AUTH": "xoauth2"})
    s = load(None, {**IMAP, "EMAILLOG_IMAP_AUTH": "xoauth2", "EMAILLOG_IMAP_TOKEN_COMMAND": "true"})
    assert s.imap is not None and s.imap.auth == "xoauth2" and s.imap.token_command == "true"
    s = load(
        None,
        {
            **IMAP,
            "EMAILLOG_IMAP_AUTH": "xoauth2",
            "EMAILLOG_OAUTH2_PROVIDER": "microsoft",
            "EMAILLOG_OAUTH2_TENANT": "t",
            "EMAILLOG_OAUTH2_CLIENT_ID": "c",
            "EMAILLOG_OAUTH2_CLIENT_SECRET": "s3cret",
        },
    )
    assert s.imap is not None and s.imap.oauth2 is not None and "s3cret" not in repr(s)


def test_an_oauth2_provider_without_what_it_needs_is_a_settings_problem() -> None:
    # Microsoft without a tenant was msal's ValueError traceback at the first login.
    xoauth2 = {**IMAP, "EMAILLOG_IMAP_AUTH": "xoauth2"}
    with pytest.raises(SettingsError) as raised:
        load(None, {**xoauth2, "EMAILLOG_OAUTH2_PROVIDER": "microsoft", "EMAILLOG_OAUTH2_CLIENT_ID": "c"})
    assert raised.value.problems == [
        "EMAILLOG_OAUTH2_TENANT: required with EMAILLOG_OAUTH2_PROVIDER=microsoft",
        "EMAILLOG_OAUTH2_CLIENT_SECRET: required with EMAILLOG_OAUTH2_PROVIDER=microsoft",
    ]
    with pytest.raises(SettingsError) as raised:
        load(None, {**xoauth2, "EMAILLOG_OAUTH2_PROVIDER": "google", "EMAILLOG_OAUTH2_CLIENT_ID": "c"})
    google = "required with EMAILLOG_OAUTH2_PROVIDER=google (or EMAILLOG_OAUTH2_SERVICE_ACCOUNT_FILE)"
    assert raised.value.problems == [
        f"EMAILLOG_OAUTH2_CLIENT_SECRET: {google}",
        f"EMAILLOG_OAUTH2_REFRESH_TOKEN: {google}",
    ]
    # A password login has no use for the provider's settings.
    password = {**IMAP, "EMAILLOG_IMAP_PASSWORD": "pw"}
    assert load(None, {**password, "EMAILLOG_OAUTH2_PROVIDER": "microsoft"}).imap is not None


def test_operational_settings_are_checked_together() -> None:
    with pytest.raises(SettingsError) as bad:
        load(
            None,
            {
                "EMAILLOG_IDLE_RENEW_SECONDS": "1800",
                "EMAILLOG_RECONCILE_SECONDS": "600",
                "EMAILLOG_LOG_FORMAT": "xml",
                "EMAILLOG_METRICS_PORT": "70000",
                "EMAILLOG_RECONNECT_MIN_SECONDS": "10",
                "EMAILLOG_RECONNECT_MAX_SECONDS": "5",
                "EMAILLOG_HAND_OVER_SECONDS": "0",
                "EMAILLOG_MAX_PASSES_AT_ONCE": "0",
            },
        )
    text = str(bad.value)
    names = (
        "IDLE_RENEW_SECONDS",
        "RECONCILE_SECONDS",
        "LOG_FORMAT",
        "METRICS_PORT",
        "RECONNECT_MAX",
        "HAND_OVER",
        "MAX_PASSES_AT_ONCE",
    )
    for name in names:
        assert f"EMAILLOG_{name}" in text
    ops = load(None, {}).ops
    assert (
        ops.idle,
        ops.idle_renew_seconds,
        ops.reconcile_seconds,
        ops.metrics_port,
        ops.hand_over_seconds,
        ops.max_passes_at_once,
    ) == (
        True,
        1440,
        300,
        None,
        300,
        4,
    )


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.pass_done({"logged": 2, "rejected": 1}, 0.25)
    metrics.connection(True)
    text = metrics.render()
    assert 'emaillog_messages_total{outcome="logged"} 2' in text
    assert "emaillog_pass_duration_seconds_count 1" in text and "emaillog_imap_logged_in 1" in text


def test_fleet_metrics_label_each_mailbox_once_per_family_and_escape_the_labels() -> None:
    acme, odd = Metrics(), Metrics()
    acme.pass_done({"logged": 2}, 0.5)
    odd.pass_done({"logged": 1}, 0.5)
    fleet = FleetMetrics()
    # Names and accounts come from the settings: a quote, a backslash or a line break must not
    # end the label value (or the line) early, or the scrape fails for every mailbox.
    fleet.publish({"acme": ("acme", acme), 'sales "east"': ("c:\\crm\nx", odd)}, 3)
    text = fleet.render()
    assert 'emaillog_messages_total{mailbox="acme",account="acme",outcome="logged"} 2' in text
    odd_labels = 'mailbox="sales \\"east\\"",account="c:\\\\crm\\nx"'
    assert f'emaillog_messages_total{{{odd_labels},outcome="logged"}} 1' in text, text
    assert f"emaillog_pass_duration_seconds_count{{{odd_labels}}} 1" in text, text
    assert "emaillog_mailboxes_held 2" in text and "emaillog_mailboxes_configured 3" in text
    assert text.count("# TYPE emaillog_messages_total counter") == 1
    assert all(line.startswith(("# ", "emaillog_")) for line in text.splitlines()), text  # no line broken
    # A mailbox given back is gone at once; its counters with it.
    fleet.publish({"acme": ("acme", acme)}, 3)
    text = fleet.render()
    assert "sales" not in text and "emaillog_mailboxes_held 1" in text


def test_microsoft_client_credentials_through_msal(monkeypatch: pytest.MonkeyPatch) -> None:
    msal = pytest.importorskip("msal")
    asked: list[list[str]] = []

    def acquire(self: object, scopes: list[str]) -> dict[str, object]:
        asked.append(scopes)
        return {"access_token": f"ms-{len(asked)}", "expires_in": 3599, "token_type": "Bearer"}

    monkeypatch.setattr(msal.ConfidentialClientApplication, "acquire_token_for_client", acquire)
    monkeypatch.setattr(msal.ConfidentialClientApplication, "__init__", lambda self, *a, **k: None)
    s = load(
        None,
        {
            **IMAP,
            "EMAILLOG_IMAP_AUTH": "xoauth2",
            "EMAILLOG_OAUTH2_PROVIDER": "microsoft",
            "EMAILLOG_OAUTH2_TENANT": "contoso.onmicrosoft.com",
            "EMAILLOG_OAUTH2_CLIENT_ID": "app",
            "EMAILLOG_OAUTH2_CLIENT_SECRET": "secret",
        },
    )
    assert s.imap is not None
    source = oauth.token_source(s.imap)
    assert isinstance(source, oauth.MicrosoftToken)
    assert source.token() == "ms-1" and source.token() == "ms-1"
    assert asked == [["https://outlook.office365.com/.default"]]


def test_microsoft_refusal_is_a_token_error(monkeypatch: pytest.MonkeyPatch) -> None:
    msal = pytest.importorskip("msal")
    monkeypatch.setattr(msal.ConfidentialClientApplication, "__init__", lambda self, *a, **k: None)
    monkeypatch.setattr(
        msal.ConfidentialClientApplication,
        "acquire_token_for_client",
        lambda self, scopes: {"error": "invalid_client", "error_description": "AADSTS7000215: bad"},
    )
    s = load(
        None,
        {
            **IMAP,
            "EMAILLOG_IMAP_AUTH": "xoauth2",
            "EMAILLOG_OAUTH2_PROVIDER": "microsoft",
            "EMAILLOG_OAUTH2_TENANT": "t",
            "EMAILLOG_OAUTH2_CLIENT_ID": "app",
            "EMAILLOG_OAUTH2_CLIENT_SECRET": "wrong",
        },
    )
    assert s.imap is not None
    with pytest.raises(TokenError, match="invalid_client"):
        oauth.token_source(s.imap).token()  # type: ignore[union-attr]


def test_google_service_account_with_delegation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.oauth2.service_account")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "sa@p.iam.gserviceaccount.com",
                "private_key": pem,
                "private_key_id": "1",
                "token_uri": oauth.GOOGLE_TOKEN_URI,
                "client_id": "1",
                "project_id": "p",
            }
        )
    )

    def refresh(self: service_account.Credentials, request: object) -> None:
        import datetime

        assert self._subject == "log@example.com" and self._scopes == ["https://mail.google.com/"]
        self.token = "g-token"
        self.expiry = datetime.datetime.utcnow() + datetime.timedelta(seconds=3600)

    monkeypatch.setattr(service_account.Credentials, "refresh", refresh)
    s = load(
        None,
        {
            **IMAP,
            "EMAILLOG_IMAP_AUTH": "xoauth2",
            "EMAILLOG_OAUTH2_PROVIDER": "google",
            "EMAILLOG_OAUTH2_SERVICE_ACCOUNT_FILE": str(key_file),
        },
    )
    assert s.imap is not None
    source = oauth.token_source(s.imap)
    assert source is not None and source.token() == "g-token"
    assert source.expires_at is not None and source.expires_at > time.time() + 3500


def test_temp_files_of_processes_that_are_gone_are_removed_at_start_up(tmp_path: Path) -> None:
    """A killed daemon leaves its spooled attachments in <data dir>/tmp/<pid>."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid, live_pid = int(gone.stdout), os.getpid()
    for pid in (dead_pid, live_pid):
        process_tmp_dir(tmp_path, pid).mkdir(parents=True)
        (process_tmp_dir(tmp_path, pid) / "part-x").write_bytes(b"raw mail")
    # Not a process's: left alone. "²" is a digit to isdigit() and a ValueError to int(); a number
    # past any PID was an OverflowError from os.kill. Either stopped the daemon's start-up.
    others = ("notes", "²", "١٢", "99999999999999999999")
    for name in others:
        (tmp_path / "tmp" / name).mkdir()
    assert remove_stale_tmp(tmp_path) == 1
    assert not process_tmp_dir(tmp_path, dead_pid).exists()
    assert (process_tmp_dir(tmp_path, live_pid) / "part-x").exists()
    assert all((tmp_path / "tmp" / name).is_dir() for name in others)
    assert remove_stale_tmp(tmp_path / "no-such-dir") == 0


# A recorder storing a file held in memory, stopped in the file's fsync (the directories it makes are
# synced before): as a kill -9 (the OOM killer, the watchdog's abort) or a power cut would find it.
_KILLED_IN_FSYNC = """
import hashlib, os, stat, sys, time
from pathlib import Path
from emaillog.store import files
sync_dir = os.fsync
files.os.fsync = lambda fd: (
    sync_dir(fd) if stat.S_ISDIR(os.fstat(fd).st_mode) else (print("writing", flush=True), time.sleep(60))
)
data = os.urandom(50_000)
files.store_files(Path(sys.argv[1]) / "attachments", Path(sys.argv[1]), [
    files.Attachment("a.bin", "application/octet-stream", len(data), hashlib.sha256(data).hexdigest(), data)
])
"""


def test_a_file_being_stored_when_the_process_was_killed_is_removed_at_start_up(tmp_path: Path) -> None:
    """Its temp file was made beside its final name in the attachments dir, which nothing cleans:
    one more file named by no row for every crash there."""
    child = subprocess.Popen([sys.executable, "-c", _KILLED_IN_FSYNC, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"writing\n"
    finally:
        child.kill()
        child.wait()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] != [], "the kill left the file half-stored"
    assert remove_stale_tmp(tmp_path) == 1
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_start_up_failures_and_the_exit_code_of_a_fleet_that_had_none_working() -> None:
    assert start_up_failure(LoginRefused("imap refused the login of u: no")) == (
        77,
        "imap refused the login of u: no",
    )
    assert start_up_failure(FolderReadOnly("the folder X is read-only"))[0] == 78
    assert start_up_failure(MailboxError("cannot connect")) == (75, "mailbox unavailable: cannot connect")
    assert start_up_failure(ConnectionResetError())[1] == "mailbox unavailable: ConnectionResetError"
    # A full disk or an unwritable attachments dir: nothing to do with the mailbox.
    disk_full = OSError(28, "No space left on device", "/data/attachments/ab")
    assert start_up_failure(disk_full) == (
        75,
        "pass failed on a local file: [Errno 28] No space left on device: '/data/attachments/ab'",
    )
    # A full disk as a write reports it (the error names no file): no more the mailbox's either.
    with pytest.raises(OSError) as written, open("/dev/full", "wb", buffering=0) as full:
        full.write(b"part of an attachment")
    assert start_up_failure(written.value) == (
        75,
        "pass failed on a local file: [Errno 28] No space left on device",
    )
    # 77 only when every login was refused; a failure that may pass by itself makes it 75.
    assert _worst([77]) == _worst([77, 77]) == 77
    assert _worst([77, 75]) == _worst([75]) == _worst([78, 75]) == 75
    assert _worst([77, 78]) == _worst([78]) == 78


def test_a_state_file_that_cannot_be_written_leaves_no_temp_file_and_is_told_each_outage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from emaillog.status import StateFile

    state = StateFile(tmp_path / "state" / "default.json")
    state.path.mkdir(parents=True)  # a directory where the file goes: the rename fails, as on a full disk
    with caplog.at_level(logging.INFO, logger="emaillog.status"):
        state.update(login_state="logged-in")
        state.update(login_state="disconnected")
        assert sorted(p.name for p in state.path.parent.iterdir()) == ["default.json"]
        state.path.rmdir()
        state.update(login_state="logged-in")
        state.path.unlink()
        state.path.mkdir()
        state.update(login_state="stopped")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, caplog.text


def test_the_hand_over_clock_runs_until_work_is_done_and_stops_for_what_is_the_same_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A login is not work: reconnects that log in before every pass fails kept the clock at zero.
    A refused login after an outage is the same from anywhere: the clock stops there."""
    from emaillog.sdnotify import Notifier
    from emaillog.store import open_store
    from emaillog.watch import Daemon

    settings = load(
        None,
        {
            "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
            "EMAILLOG_BCC_ADDRESS": "log@acme.example",
            "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            "EMAILLOG_IMAP_HOST": "127.0.0.1",
            "EMAILLOG_IMAP_USER": "acme",
            "EMAILLOG_IMAP_PASSWORD": "pw",
        },
    )
    daemon = Daemon(settings, open_store(settings), (), Notifier(None), parser=object())  # type: ignore[arg-type]
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    daemon._set_login("unreachable", "timed out")
    for state in ("connecting", "logged-in", "disconnected", "connecting", "logged-in"):
        now[0] += 1
        daemon._set_login(state, None)
    assert daemon.unworkable_since == 100.0
    daemon._worked()  # a pass ended, or a batch was moved
    assert daemon.unworkable_since is None
    daemon._set_login("unreachable", "timed out")
    daemon._set_login("refused", "Authentication failed")
    assert daemon.unworkable_since is None


def test_a_reload_onto_another_database_closes_the_one_left(tmp_path: Path) -> None:
    """SIGHUP with a new EMAILLOG_DATABASE_URL opens that database; the one left stayed open until
    Python's cycle collector happened to free it: in a soak, 40 such reloads left 19 descriptors of
    the two SQLite files open, where the database in use needs 3. Counted with the collector off, so
    that what the daemon itself closes is what is seen."""
    import dataclasses
    import gc

    from emaillog.sdnotify import Notifier
    from emaillog.store import open_store
    from emaillog.watch import Daemon

    def settings_on(name: str) -> Settings:
        return load(
            None,
            {
                "EMAILLOG_DATA_DIR": str(tmp_path / "data"),
                "EMAILLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / name}",
                "EMAILLOG_BCC_ADDRESS": "log@acme.example",
                "EMAILLOG_IMAP_HOST": "127.0.0.1",
                "EMAILLOG_IMAP_USER": "acme",
                "EMAILLOG_IMAP_PASSWORD": "pw",
            },
        )

    def open_files() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if str(tmp_path) in os.path.realpath(fd))

    first, second = settings_on("a.sqlite3"), settings_on("b.sqlite3")
    daemon = Daemon(first, open_store(first), (), Notifier(None), parser=object())  # type: ignore[arg-type]
    gc.disable()
    try:
        for settings in (second, first) * 5:
            daemon._apply(dataclasses.replace(settings), ())
            daemon.store.db.execute_sql("SELECT 1")
        held = open_files()
    finally:
        gc.enable()
        daemon.store.db.close()
    assert held <= 3, f"{held} descriptors of the databases open after 10 reloads (one database: 3)"
