"""A throwaway, real Dovecot IMAP server for the test suite and the demo mode.

Everything it needs lives under one directory: its own ``dovecot.conf``, the runtime sockets
(``base_dir``), the state, the log, one passwd-file per user, and one maildir per user. Nothing
of the machine's own Dovecot (``/etc/dovecot``, the system service) is read or touched.

It runs both as root (CI) and as an ordinary user (a developer's laptop). The two differ in who the
helper processes run as; see ``devmailconf.privilege_settings``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from .devmailconf import config_text, oauth2_text, with_oauth2

DOVECOT = "dovecot"
DOVEADM = "doveadm"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0
_POLL = 0.02
_SYSTEM_MAIL_USER = "dovecot"


@dataclass(frozen=True)
class ImapAccount:
    """Where and how to log in to one mailbox."""

    host: str
    port: int
    user: str
    password: str

    def settings(self) -> dict[str, str]:
        """The EMAILLOG_IMAP_* settings that log in to this mailbox (plain IMAP: it is on loopback)."""
        return {
            "EMAILLOG_IMAP_HOST": self.host,
            "EMAILLOG_IMAP_PORT": str(self.port),
            "EMAILLOG_IMAP_SECURITY": "none",
            "EMAILLOG_IMAP_USER": self.user,
            "EMAILLOG_IMAP_PASSWORD": self.password,
        }


class DevDovecotError(RuntimeError):
    """The throwaway Dovecot could not be started, stopped or driven."""


def dovecot_available() -> bool:
    """Whether the Dovecot binaries this module drives are installed."""
    return _find(DOVECOT) is not None and _find(DOVEADM) is not None


def _find(name: str) -> str | None:
    # Debian installs the master in /usr/sbin, which is not on an ordinary user's PATH.
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return shutil.which(name, path=path)


def _binary(name: str) -> str:
    found = _find(name)
    if found is None:
        raise DevDovecotError(f"{name} is not installed (Debian: apt-get install dovecot-imapd)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _greets(host: str, port: int) -> bool:
    """Whether an IMAP server answers with its greeting.

    Dovecot accepts connections before its auth service is up and drops them until it is; the
    greeting ("* OK ...", RFC 9051 section 7.1.1) is the sign that a login would be served.
    """
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _end_group(pgid: int) -> None:
    """SIGTERM what is left of the process group the master led (its session, see start())."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + _STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(_POLL)


def mail_owner(root: Path) -> tuple[int, int]:
    """The uid and gid that the mail under ``root`` is read and written as.

    Dovecot refuses to serve mail as uid 0 ("Mail access not allowed for root"; first_valid_uid = 0
    does not lift it), so when root owns the directory, mail belongs to the Debian package's
    ``dovecot`` user instead. Otherwise it belongs to the directory's owner.
    """
    st = root.stat()
    if st.st_uid != 0:
        return st.st_uid, st.st_gid
    try:
        entry = pwd.getpwnam(_SYSTEM_MAIL_USER)
    except KeyError as exc:
        raise DevDovecotError(f"running as root needs the {_SYSTEM_MAIL_USER!r} user (dovecot-core)") from exc
    return entry.pw_uid, entry.pw_gid


_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, whatever the umask: it holds a password. Dovecot's
    auth process reads the passwd-file as its owner (root, or us when unprivileged)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode applies to a new file only
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _check_user(user: str, password: str) -> None:
    # The user name becomes a file name and a maildir, the password a passwd-file field.
    if not _USER_NAME.match(user) or ".." in user:
        raise ValueError(f"unsupported user name: {user!r}")
    if not password or any(ch in password for ch in ":\r\n"):
        raise ValueError("the password must not be empty or contain ':' or line breaks")


def _maildir_folder(user_dir: Path, folder: str) -> Path:
    """The on-disk directory of a folder in Maildir++ layout (INBOX is the user's directory)."""
    if folder.upper() == "INBOX":
        return user_dir
    if "." in folder:
        # Maildir++ uses "." to separate levels on disk; keep the mapping unambiguous.
        raise ValueError(f"folder names with '.' are not supported here: {folder!r}")
    return user_dir / ("." + folder.replace("/", "."))


def _write_maildir_message(folder_dir: Path, raw: bytes, seq: int) -> None:
    # Maildir delivery: write under tmp/, then rename into new/ so no reader sees half a file.
    name = f"{int(time.time())}.M{seq}P{os.getpid()}R{uuid.uuid4().hex[:8]}.devmail"
    tmp = folder_dir / "tmp" / name
    tmp.write_bytes(raw)
    tmp.rename(folder_dir / "new" / name)


def _searchable_by(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _require_reachable(root: Path, uid: int, gid: int) -> None:
    """Fail early, with the culprit named, when the mail user cannot walk down to ``root``."""
    for directory in [root, *root.parents]:
        if not _searchable_by(directory.stat(), uid, gid):
            raise DevDovecotError(
                f"{directory} is not searchable by uid {uid}, which Dovecot serves the mail as "
                f"when run as root; give it o+x (chmod 0755) or pick a root under /tmp"
            )


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(Path(dirpath) / name, uid, gid)


class DevDovecot:
    """A Dovecot master process with its own configuration under ``root``."""

    def __init__(
        self,
        root: Path,
        port: int | None = None,
        oauth2_introspection_url: str | None = None,
        read_only_folders: Iterable[str] = (),
        capabilities: Iterable[str] | None = None,
        personal_prefix: str = "",
        extra_settings: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        # What the server announces after login instead of its own list (``imap_capability``): a
        # server without MOVE or UIDPLUS, as some still are (the commands themselves still work).
        self.capabilities = tuple(capabilities) if capabilities is not None else None
        # Folders every user may read but not change (Dovecot's acl plugin): SELECT answers [READ-ONLY].
        self.read_only_folders = tuple(read_only_folders)
        # "INBOX." keeps every folder under INBOX, with "." between levels, as Courier and Cyrus do.
        self.personal_prefix = personal_prefix
        # Dovecot settings added as written, to behave as other servers do: a shorter command line
        # ("imap_max_line_length": "8k"), fewer connections per user ("mail_max_userip_connections").
        self.extra_settings = dict(extra_settings or {})
        # With a URL, XOAUTH2 and OAUTHBEARER logins are accepted too: Dovecot's oauth2 passdb POSTs the
        # token there (RFC 7662 introspection) and expects {"active": true, "username": USER}.
        self.oauth2_introspection_url = oauth2_introspection_url
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port(self.host)
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self._users_dir = self.root / "users"
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration, start the master in the foreground and wait until it listens."""
        if self._process is not None:
            raise DevDovecotError("already started")
        self._prepare_tree()
        self.config_path.write_text(self._config())
        # -F keeps the master in the foreground as our child, so we know its pid and can wait on it.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [_binary(DOVECOT), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_listening()

    @property
    def pid(self) -> int | None:
        """The master process's pid while it runs (the benchmarks read its children's CPU time)."""
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """Stop the master and wait for it (and so all its children) to exit.

        SIGTERM is what ``doveadm stop`` sends too, but doveadm then polls for about three seconds;
        waiting on our own child takes about one.
        """
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_STOP_TIMEOUT)
        # An imap process serving a client can outlive its master (seen with IDLE): end the clients
        # too, as a real server restart does, so that they see the connection drop.
        _end_group(process.pid)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> DevDovecot:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- users and mail --------------------------------------------------------------------------

    def add_user(self, user: str, password: str) -> ImapAccount:
        """Add (or replace) a user whose mail lives in its own maildir.

        Each user has a one-line passwd-file of its own (the passdb path holds ``%u``): Dovecot
        rereads one shared file at most once a second, so a user added right after a login would
        be unknown for up to a second, whereas a new file is read at its first lookup.
        """
        _check_user(user, password)
        path = self._users_dir / user
        # Replace the file in one rename so Dovecot never reads it half written.
        tmp = path.with_name(f".{user}.tmp")
        write_private(tmp, f"{user}:{password}::::::\n")
        tmp.replace(path)
        return ImapAccount(self.host, self.port, user, password)

    def seed_maildir(self, user: str, folder: str, messages: Iterable[bytes]) -> None:
        """Put messages straight into a folder's maildir, then make Dovecot index them.

        Much faster than APPEND for a large backlog; the messages arrive unseen, in order.
        """
        user_dir = self.root / "mail" / user
        folder_dir = _maildir_folder(user_dir, folder)
        for sub in ("cur", "new", "tmp"):
            (folder_dir / sub).mkdir(parents=True, exist_ok=True)
        for seq, raw in enumerate(messages):
            _write_maildir_message(folder_dir, raw, seq)
        self._fix_owner(user_dir)
        self._doveadm("force-resync", "-u", user, folder)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- internals -------------------------------------------------------------------------------

    def _config(self) -> str:
        uid, gid = mail_owner(self.root)
        text = config_text(self.root, self.port, uid, gid, self.personal_prefix)
        if self.capabilities is not None:
            text += f"imap_capability = {' '.join(self.capabilities)}\n"
        text += "".join(f"{name} = {value}\n" for name, value in self.extra_settings.items())
        if self.read_only_folders:
            acl_file = self.root / "dovecot-acl"
            acl_file.write_text("".join(f"{name} owner lr\n" for name in self.read_only_folders))
            text += f"mail_plugins = $mail_plugins acl\nplugin {{\n  acl = vfile:{acl_file}\n}}\n"
        if self.oauth2_introspection_url is None:
            return text
        oauth2_conf = self.root / "dovecot-oauth2.conf.ext"
        oauth2_conf.write_text(oauth2_text(self.oauth2_introspection_url))
        return with_oauth2(text, oauth2_conf)

    def _prepare_tree(self) -> None:
        for sub in ("run", "state", "mail", "users"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = mail_owner(self.root)
        if os.geteuid() == 0 and uid != 0:
            # Mail processes run as the mail owner: it must own the mail and reach it from "/".
            self.root.chmod(self.root.stat().st_mode | stat.S_IXGRP | stat.S_IXOTH)
            _require_reachable(self.root, uid, gid)
            _chown_tree(self.root / "mail", uid, gid)

    def _fix_owner(self, path: Path) -> None:
        uid, gid = mail_owner(self.root)
        if os.geteuid() == 0 and uid != 0:
            _chown_tree(path, uid, gid)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                self._process = None
                tail = self.log_text()[-2000:]
                raise DevDovecotError(f"dovecot exited during start-up; see {self.log_path}:\n{tail}")
            if _greets(self.host, self.port):
                return
            time.sleep(_POLL)
        self.stop()
        raise DevDovecotError(f"dovecot did not listen on {self.host}:{self.port}; see {self.log_path}")

    def _doveadm(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [_binary(DOVEADM), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise DevDovecotError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
