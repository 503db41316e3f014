"""Logins whose user name or password is not ASCII (a "Passwört" is an ordinary password).

imaplib sends LOGIN's arguments as ASCII: such a password was a UnicodeEncodeError traceback and
exit 1 at start-up (systemd restarted it for ever) and in `emaillog check`. SASL PLAIN carries
UTF-8 (RFC 4616), so those logins go that way. smtplib encodes every AUTH exchange as ASCII, so a
relay login that is not ASCII cannot be sent at all: a settings problem, not a crash at the first
notice.
"""

from __future__ import annotations

import pytest

from emaillog.devmail import DevDovecot
from emaillog.imapmailbox import ImapMailbox
from emaillog.mailbox import LoginRefused
from emaillog.settings import SettingsError, load


def _imap_settings(dovecot: DevDovecot, user: str, password: str, tmp: str) -> dict[str, str]:
    account = dovecot.add_user(user, "Passwört-richtig")
    return {**account.settings(), "EMAILLOG_IMAP_PASSWORD": password, "EMAILLOG_DATA_DIR": tmp}


def test_a_password_that_is_not_ascii_logs_in(dovecot: DevDovecot, tmp_path: object) -> None:
    settings = load(None, _imap_settings(dovecot, "umlaut1", "Passwört-richtig", str(tmp_path)))
    assert settings.imap is not None
    mailbox = ImapMailbox(settings.imap)
    mailbox.close()


def test_a_wrong_password_that_is_not_ascii_is_a_refused_login_without_the_password(
    dovecot: DevDovecot, tmp_path: object
) -> None:
    settings = load(None, _imap_settings(dovecot, "umlaut2", "Passwört-falsch", str(tmp_path)))
    assert settings.imap is not None
    with pytest.raises(LoginRefused) as refused:
        ImapMailbox(settings.imap)
    assert "umlaut2" in str(refused.value) and "Passw" not in str(refused.value)


def test_a_relay_login_that_is_not_ascii_is_a_settings_problem(tmp_path: object) -> None:
    env = {
        "EMAILLOG_DATA_DIR": str(tmp_path),
        "EMAILLOG_SMTP_HOST": "smtp.example.com",
        "EMAILLOG_SMTP_USER": "crm",
        "EMAILLOG_SMTP_PASSWORD": "Passwört",
    }
    with pytest.raises(SettingsError) as bad:
        load(None, env)
    assert any(p.startswith("EMAILLOG_SMTP_PASSWORD: ") for p in bad.value.problems), bad.value.problems
    assert "Passwört" not in str(bad.value)
