"""The configuration text of the throwaway Dovecot (``devmail``): one file, rewritten on every start."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path


def _user_name(uid: int) -> str:
    return pwd.getpwuid(uid).pw_name


def privilege_settings(mail_uid: int, mail_gid: int) -> str:
    """The settings that depend on whether we run as root.

    As root, Dovecot drops privileges for its helpers to ``dovenull`` (login) and ``dovecot``
    (internal), which the Debian package creates. The auth service, which reads the passwd-file,
    stays root so that the file's directory need not be readable by them.

    Unprivileged, Dovecot cannot switch users or chroot: every helper runs as us, without chroot.
    """
    common = (
        f"mail_uid = {mail_uid}\nmail_gid = {mail_gid}\n"
        f"first_valid_uid = {mail_uid}\nlast_valid_uid = 0\n"
        f"first_valid_gid = {mail_gid}\nlast_valid_gid = 0\n"
    )
    if os.geteuid() == 0:
        return common + (
            "default_login_user = dovenull\ndefault_internal_user = dovecot\n"
            "service auth {\n  user = root\n}\n"
        )
    me = _user_name(os.geteuid())
    group = grp.getgrgid(os.getegid()).gr_name
    return common + (
        f"default_login_user = {me}\ndefault_internal_user = {me}\ndefault_internal_group = {group}\n"
        "service anvil {\n  chroot =\n}\n"
        "service imap-login {\n  chroot =\n}\n"
    )


def config_text(root: Path, port: int, mail_uid: int, mail_gid: int, personal_prefix: str = "") -> str:
    return f"""# Written by emaillog.devmail: a throwaway server, rewritten on every start.
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# A refused login is answered after the usual 2 s, every time: no penalty growing per client address
# (Dovecot doubles it up to 15 s, which outlasts a client's IMAP timeout once a few refused logins
# came from the one loopback address that every client of this server shares).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
mail_location = maildir:{root}/mail/%u
# IDLE clients should hear about new mail within a second, not after the 30 s default check, and a
# keep-alive ("* OK Still here") every second exercises the clients' handling of untagged noise.
mailbox_idle_check_interval = 1 secs
imap_idle_notify_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = {personal_prefix[-1:] or "/"}
  prefix = {personal_prefix}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
  default_fields = home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{privilege_settings(mail_uid, mail_gid)}"""


def oauth2_text(url: str) -> str:
    return (
        f"introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n"
        "active_attribute = active\nactive_value = true\n"
    )


def with_oauth2(text: str, oauth2_conf: Path) -> str:
    """The configuration with XOAUTH2/OAUTHBEARER served by the oauth2 passdb, PLAIN/LOGIN by the files."""
    mechanisms = "auth_mechanisms = plain login"
    text = text.replace(mechanisms + "\n", mechanisms + " xoauth2 oauthbearer\n")
    plain = "passdb {\n  driver = passwd-file\n"
    assert plain in text
    return text.replace(
        plain,
        (
            f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {oauth2_conf}\n}}\n"
            f"{plain}  mechanisms = plain login\n"
        ),
    )
