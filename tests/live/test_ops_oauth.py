"""XOAUTH2 logins against a real Dovecot whose oauth2 passdb asks a local introspection endpoint
(RFC 7662, started here) whether a token is good; the token comes from EMAILLOG_IMAP_TOKEN_COMMAND."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import require
from support import make_settings, message

from emaillog import admin
from emaillog.devmail import DevDovecot, dovecot_available
from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import LoginRefused
from emaillog.store import open_store
from emaillog.store.models import Ledger

ROOT = Path(__file__).resolve().parents[2]
USER = "oauthuser"


class Introspection:
    """Tokens it knows are active for USER; it counts the requests Dovecot makes."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                owner.requests += 1
                token = form.get("token", [""])[0]
                body = json.dumps(
                    {"active": True, "username": USER} if token in owner.active else {"active": False}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/introspect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def oauth_dovecot() -> Iterator[tuple[DevDovecot, Introspection]]:
    require(dovecot_available(), "Dovecot (dovecot-imapd)")
    introspection = Introspection()
    root = Path(tempfile.mkdtemp(prefix="emaillog-oauth-dovecot-"))
    root.chmod(0o755)
    server = DevDovecot(root, oauth2_introspection_url=introspection.url)
    server.start()
    server.add_user(USER, "unused-password")
    try:
        yield server, introspection
    finally:
        server.stop()
        introspection.server.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def settings_for(tmp_path: Path, server: DevDovecot, token_file: Path):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path,
        None,
        None,
        EMAILLOG_IMAP_HOST=server.host,
        EMAILLOG_IMAP_PORT=str(server.port),
        EMAILLOG_IMAP_SECURITY="none",
        EMAILLOG_IMAP_USER=USER,
        EMAILLOG_IMAP_AUTH="xoauth2",
        EMAILLOG_IMAP_TOKEN_COMMAND=f"cat {token_file}",
    )


def test_xoauth2_login_with_a_token_from_the_command(tmp_path: Path, oauth_dovecot: tuple) -> None:
    server, introspection = oauth_dovecot
    token_file = tmp_path / "token"
    token_file.write_text("good-token-1\n")
    introspection.active = {"good-token-1"}
    settings = settings_for(tmp_path, server, token_file)
    before = introspection.requests
    mailbox = ImapMailbox(settings.imap)  # type: ignore[arg-type]
    try:
        assert mailbox.has("IDLE") and mailbox.client.folder_exists("INBOX")
    finally:
        mailbox.close()
    assert introspection.requests > before  # Dovecot really asked the endpoint


def test_refused_token_is_refused_with_the_servers_words_and_fetched_anew(
    tmp_path: Path, oauth_dovecot: tuple
) -> None:
    server, introspection = oauth_dovecot
    token_file = tmp_path / "token"
    token_file.write_text("revoked-token\n")
    introspection.active = {"fresh-token"}
    settings = settings_for(tmp_path, server, token_file)
    mailbox = None
    with pytest.raises(LoginRefused, match=f"refused the login of {USER}") as refused:
        mailbox = ImapMailbox(settings.imap)  # type: ignore[arg-type]
    assert mailbox is None and "[AUTHENTICATIONFAILED] Authentication failed." in str(refused.value)
    # The daemon keeps one token source across reconnects; a refusal drops its cached token.
    from emaillog.oauth import token_source

    source = token_source(settings.imap)  # type: ignore[arg-type]
    with pytest.raises(LoginRefused):
        ImapMailbox(settings.imap, source)  # type: ignore[arg-type]
    token_file.write_text("fresh-token\n")
    ImapMailbox(settings.imap, source).close()  # type: ignore[arg-type]


def test_daemon_logs_mail_over_xoauth2_and_exits_77_on_a_bad_token(
    tmp_path: Path, oauth_dovecot: tuple
) -> None:
    server, introspection = oauth_dovecot
    token_file = tmp_path / "token"
    token_file.write_text("daemon-token\n")
    introspection.active = {"daemon-token"}
    settings = settings_for(tmp_path, server, token_file)
    store = open_store(settings)
    admin.add_user(store, settings, "rita@acme.example", "Rita", active=True, may_log=True)
    deliver = ImapMailbox(settings.imap)  # type: ignore[arg-type]
    deliver.append("INBOX", message(message_id="<oauth-1@acme.example>"))
    deliver.close()
    env_file = tmp_path / "oauth.env"
    env_file.write_text(
        "".join(
            f"{k}={v}\n"
            for k, v in {
                "EMAILLOG_IMAP_HOST": server.host,
                "EMAILLOG_IMAP_PORT": server.port,
                "EMAILLOG_IMAP_SECURITY": "none",
                "EMAILLOG_IMAP_USER": USER,
                "EMAILLOG_IMAP_AUTH": "xoauth2",
                "EMAILLOG_IMAP_TOKEN_COMMAND": f"cat {token_file}",
                "EMAILLOG_DATA_DIR": settings.data_dir,
                "EMAILLOG_BCC_ADDRESS": settings.bcc_address,
                "EMAILLOG_FORWARD_ADDRESS": settings.forward_address,
                "EMAILLOG_COMPANY_DOMAINS": "acme.example",
            }.items()
        )
    )
    env = {"PATH": os.environ.get("PATH", "")}
    argv = [sys.executable, str(ROOT / "daemon.py"), "--env-file", str(env_file), "--once"]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Ledger.get(Ledger.message_id == "<oauth-1@acme.example>").outcome == "logged"
    assert "daemon-token" not in done.stderr  # never a secret in the log
    introspection.active = set()
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 77 and f"refused the login of {USER}" in done.stderr
