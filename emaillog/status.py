"""``emaillog status``: how each mailbox is doing, and the state file the daemon keeps for it.

The daemon writes ``DATA_DIR/state/<mailbox>.json`` (replaced atomically) after every pass and every
change of its IMAP login state; ``status`` reads it, adds the ledger's counts by outcome over 24 hours
and 7 days, the outbox backlog, and asks the IMAP server itself for the Error folder's size (which
also shows whether a login works right now).

A file rather than a table: the state changes every few seconds under IDLE and is of interest only on
the machine the daemon runs on; writing it costs no database round trip and cannot fail a pass.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from imapclient.exceptions import IMAPClientError
from peewee import DatabaseError, fn

from .databaseurl import POSTGRESQL_URLS
from .lease import LEASE_DIR, key_halves, lock_key, lock_key_legacy
from .private import replace_private
from .settings import Settings
from .terminal import printable

log = logging.getLogger("emaillog.status")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class StateFile:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    _warned: bool = False

    @classmethod
    def for_settings(cls, settings: Settings) -> StateFile:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", settings.mailbox_name)
        return cls(settings.data_dir / "state" / f"{safe}.json")

    def read(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def update(self, **values: Any) -> None:
        if not self.data:
            self.data = self.read()
        self.data.update(values, pid=os.getpid(), updated_at=_now_iso())
        self._write()

    def pass_done(self, report: Any) -> None:
        now = _now_iso()
        self.update(
            last_pass_at=now,
            last_success_at=now,
            last_error=None,
            last_summary=report.summary(),
            last_outcomes=dict(report.outcomes),
            last_seconds=round(report.seconds, 3),
        )

    def _write(self) -> None:
        # Advisory: a full disk or a read-only directory must not stop mail from being logged.
        try:
            replace_private(self.path, json.dumps(self.data, indent=1, default=str).encode())
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot write the state file %s (%s); status will be incomplete", self.path, exc)
            return
        if self._warned:
            log.info("the state file %s is written again", self.path)
        self._warned = False  # a later failure is told again


def _pid_running(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def outcome_counts(account_id: int, mailbox: str, since: timedelta) -> dict[str, int]:
    from .store.models import Ledger

    cutoff = datetime.now(UTC).replace(tzinfo=None) - since
    query = (
        Ledger.select(Ledger.outcome, fn.COUNT(Ledger.id).alias("n"))
        .where((Ledger.account == account_id) & (Ledger.mailbox == mailbox) & (Ledger.updated_at >= cutoff))
        .group_by(Ledger.outcome)
    )
    return {row.outcome: int(row.n) for row in query}


def _last_ledger_time(account_id: int, mailbox: str) -> str | None:
    from .store.models import Ledger

    latest = (
        Ledger.select(fn.MAX(Ledger.updated_at))
        .where((Ledger.account == account_id) & (Ledger.mailbox == mailbox))
        .scalar()
    )
    if latest is None:
        return None
    return latest.isoformat(timespec="seconds") if isinstance(latest, datetime) else str(latest)


def _mailboxes(account_id: int, configured: str) -> list[str]:
    from .store.models import Ledger

    query = Ledger.select(Ledger.mailbox).where(Ledger.account == account_id).distinct()
    names = {row.mailbox for row in query}
    return [configured, *sorted(names - {configured})]


def outbox_backlog(db: Any, account_id: int) -> int | None:
    """Notices waiting for the relay, or None when this database has no outbox yet."""
    if not db.table_exists("outbox"):
        return None
    from .store.outbox import backlog

    return backlog(account_id)


def outbox_trouble(db: Any, account_id: int) -> dict[str, Any]:
    """What a backlog alone hides: the relay's last answer to a waiting notice, and the notices given
    up in the last 7 days (refused for good, or not taken in two days: those reps were never told)."""
    if not db.table_exists("outbox"):
        return {}
    from .store.outbox import given_up, last_error

    return {
        "outbox_last_error": last_error(account_id),
        "outbox_given_up_7d": given_up(account_id, timedelta(days=7)),
    }


def probe_imap(settings: Settings) -> dict[str, Any]:
    """Log in now and count the Error folder: the current login state, as the server sees it."""
    from .imapmailbox import ImapMailbox
    from .mailbox import LoginRefused, MailboxError

    unknown = {"error_folder_messages": None, "intake_folder_messages": None}
    if settings.imap is None:
        return {"login": "not configured (demo mailbox)", **unknown}
    try:
        mailbox = ImapMailbox(settings.imap)
    except LoginRefused as exc:
        return {"login": "refused", "login_detail": str(exc), **unknown}
    except (MailboxError, OSError) as exc:
        return {"login": "unreachable", "login_detail": str(exc), **unknown}
    try:
        return {
            "login": "ok",
            "error_folder_messages": mailbox.message_count(settings.error_folder),
            "intake_folder_messages": _waiting(mailbox, settings.intake_folder),
        }
    finally:
        mailbox.close()


def _waiting(mailbox: Any, folder: str) -> int | None:
    """The backlog: messages in the intake folder as a pass counts them (one a person flagged
    \\Deleted is never passed, so never waits); None when the folder is missing."""
    try:
        mailbox.client.select_folder(mailbox.on_server(folder), readonly=True)
    except IMAPClientError:
        return None
    return len(mailbox.uids())


def lease_of(settings: Settings, db: Any) -> dict[str, Any]:
    """Whether a process holds the mailbox's lease (the daemon, on this machine or, with PostgreSQL,
    another), read without taking it: taken even for an instant, a daemon starting at that moment
    would find it held and exit. ``{}`` where it cannot be read."""
    if settings.database_url.startswith(POSTGRESQL_URLS):
        holder = _advisory_holder(db, settings.account, settings.mailbox_name)
    else:
        holder = _flock_holder(settings.data_dir / LEASE_DIR / f"{settings.mailbox_name}.lock")
    if holder is None:
        return {}
    return {"held": True, "holder": holder} if holder else {"held": False}


def _flock_holder(path: Path) -> str | None:
    """ "pid N" of the process whose flock holds ``path``, "" when none does, None when unknown.

    Linux lists every lock in /proc/locks: ``1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF``
    (a line with "->" is a process waiting for it). The device is not compared: some file systems
    (btrfs subvolumes) show another there than stat() gives. The lock's inode and the pid its
    holder wrote into the file (lease.py) must both match.
    """
    try:
        st = path.stat()
        written = path.read_text().strip()
        table = Path("/proc/locks").read_text()
    except FileNotFoundError as exc:
        return "" if exc.filename == str(path) else None
    except (OSError, UnicodeDecodeError):
        return None
    held = (
        len(fields) >= 6
        and fields[1] == "FLOCK"
        and fields[4] == written
        and fields[5].endswith(f":{st.st_ino}")
        for fields in (line.split() for line in table.splitlines())
    )
    return f"pid {written}" if any(held) else ""


# Exclusive locks only: the legacy key is held shared by every process of this version working a
# mailbox of that name, whatever its account, and exclusive by a process of the previous version.
_ADVISORY_HOLDER = """
SELECT a.application_name, host(a.client_addr) FROM pg_locks l
LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1
  AND (l.classid, l.objid) IN ((%s, %s), (%s, %s))
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _advisory_holder(db: Any, account: str, mailbox: str) -> str | None:
    """The holder of the mailbox's advisory lock (lease.py names its session emaillog-lease-PID),
    or of its legacy one: a process of the previous version works the mailbox then."""
    keys = [lock_key(account, mailbox), lock_key_legacy(mailbox)]
    try:
        rows = db.execute_sql(_ADVISORY_HOLDER, [half for key in keys for half in key_halves(key)]).fetchall()
    except DatabaseError:
        return None
    if not rows:
        return ""
    name, address = rows[0]
    pid = name.removeprefix("emaillog-lease-") if name and name.startswith("emaillog-lease-") else "?"
    return f"pid {pid}" + (f" at {address}" if address else "")


def gather(settings: Settings, store: Any, *, probe: bool = True) -> dict[str, Any]:
    """Everything ``status`` shows, as one JSON-ready value."""
    daemon = StateFile.for_settings(settings).read()
    lease = lease_of(settings, store.db)
    # The pid alone can lie: after a crash and a reboot it may be another program's. A lease known
    # to be free says no emaillog process works the mailbox.
    daemon["running"] = (
        _pid_running(daemon.get("pid")) and daemon.get("login_state") != "stopped" and lease.get("held", True)
    )
    mailboxes = []
    for name in _mailboxes(store.account_id, settings.mailbox_name):
        entry: dict[str, Any] = {
            "mailbox": name,
            "last_ledger_update": _last_ledger_time(store.account_id, name),
            "outcomes_24h": outcome_counts(store.account_id, name, timedelta(hours=24)),
            "outcomes_7d": outcome_counts(store.account_id, name, timedelta(days=7)),
        }
        if name == settings.mailbox_name:
            entry["daemon"] = daemon
            entry["lease"] = lease
            entry["last_successful_pass"] = daemon.get("last_success_at")
            entry["error_folder"] = settings.error_folder
            entry["intake_folder"] = settings.intake_folder
            entry.update(probe_imap(settings) if probe else {})
        mailboxes.append(entry)
    return {
        "account": settings.account,
        "checked_at": _now_iso(),
        "mailboxes": mailboxes,
        "outbox_pending": outbox_backlog(store.db, store.account_id),
        **outbox_trouble(store.db, store.account_id),
    }


def render(data: dict[str, Any]) -> str:
    lines = [f"account {data['account']} (at {data['checked_at']})"]
    for m in data["mailboxes"]:
        lines.append(f"mailbox {m['mailbox']}")
        if "daemon" in m:
            d = m["daemon"]
            lines.append(
                f"  daemon: {'running' if d.get('running') else 'not running'}"
                f" (pid {d.get('pid', '-')}), IMAP {d.get('login_state', 'unknown')}"
                + (f": {d['login_detail']}" if d.get("login_detail") else "")
            )
            if m.get("lease"):
                held = m["lease"]["held"]
                lines.append(
                    f"  lease: {'held by ' + m['lease']['holder'] if held else 'free (no process works it)'}"
                )
            lines.append(
                f"  last successful pass: {m.get('last_successful_pass') or 'never'}"
                + (f" ({d['last_summary']})" if d.get("last_summary") else "")
            )
            if d.get("last_error"):
                lines.append(f"  last error: {d['last_error']}")
            lines.append(
                f"  login now: {m.get('login', 'not checked')}"
                + (f" ({m['login_detail']})" if m.get("login_detail") else "")
            )
            waiting = m.get("intake_folder_messages")
            if waiting is not None:
                lines.append(f"  {m['intake_folder']} folder: {waiting} messages waiting")
            size = m.get("error_folder_messages")
            lines.append(f"  {m['error_folder']} folder: {'?' if size is None else size} messages")
        lines.append(f"  last ledger update: {m['last_ledger_update'] or 'never'}")
        for label in ("24h", "7d"):
            counts = m[f"outcomes_{label}"]
            text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
            lines.append(f"  messages, last {label}: {text}")
    backlog = data["outbox_pending"]
    lines.append(f"outbox: {'no outbox table' if backlog is None else f'{backlog} notices waiting'}")
    if data.get("outbox_given_up_7d"):
        lines.append(f"  given up, last 7d: {data['outbox_given_up_7d']} notices (never delivered)")
    if data.get("outbox_last_error"):
        lines.append(f"  last error: {' '.join(str(data['outbox_last_error']).split())}")
    # The servers' words (a login refused, a relay's answer) and error texts that may quote a
    # header: ESC and line breaks reached the terminal from them, as from no other command.
    return "\n".join(printable(line) or "" for line in lines)
