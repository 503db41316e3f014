"""Running the daemon: one pass (``--once``, ``--dry-run``) or the long-running loop (SPEC §13).

The loop itself (IDLE, APScheduler, signals, reconnects) is ``watch.Daemon``; this module builds it,
maps start-up failures to exit codes and keeps the one-shot path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from peewee import DatabaseError, OperationalError

from .allocator import fewer_malloc_arenas
from .databaseurl import POSTGRESQL_URLS, unverified_database
from .fleet import Fleet
from .imapmailbox import ImapMailbox
from .lease import LEASE_DIR, FileLeases, leases_for
from .logsetup import setup_logging as _setup_logging
from .parallel import ParallelParser
from .poll import Pass, PassReport
from .private import make_owner_only
from .reconnect import START_UP_FAILURES, one_line, start_up_failure
from .rules import ChainError, Link, load_chain
from .sdnotify import Notifier
from .settings import Settings
from .status import StateFile
from .stoppable import StoppableMailbox
from .store import Store, StoreNotReady, open_read_only, open_store, store_for
from .store.files import process_tmp_dir, remove_stale_tmp
from .store.schema import SchemaTooNew
from .watch import Daemon

log = logging.getLogger("emaillog")

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_LOGIN, EXIT_CONFIG = 0, 1, 2, 75, 77, 78


@dataclass
class Runner:
    """One pass on a fresh connection: ``--once``, ``--dry-run``."""

    settings: Settings
    store: Store
    chain: tuple[Link, ...]
    dry_run: bool = False
    label: str = ""  # "mailbox NAME: " where there are several
    # Shared by the passes of one run over several mailboxes: a stop ends them all.
    stop: _StopOnSignal = field(default_factory=lambda: _StopOnSignal())

    def one_pass(self) -> PassReport:
        assert self.settings.imap is not None
        mailbox = ImapMailbox(self.settings.imap)
        with self.stop as stop:
            # The handlers are in place before the parser forks its workers, which inherit them:
            # Ctrl-C reaches the whole process group, and a worker killed by it was a crash.
            parser = ParallelParser()
            try:
                stoppable = StoppableMailbox(mailbox, stop.asked, _nothing)
                report = Pass(self.settings, stoppable, self.store, self.chain, self.dry_run, parser).run()
            finally:
                parser.close()
                mailbox.close()
        log.info("%spass done: %s", self.label, report.summary())
        if stop.signal_name:
            log.info("%sstopped by %s: the rest waits for the next pass", self.label, stop.signal_name)
        if not self.dry_run:
            # What status shows as the last pass: a --once from a timer is a way to run emaillog too.
            state = StateFile.for_settings(self.settings)
            state.update(login_state="stopped", login_detail=None)
            state.pass_done(report)
        return report


def _nothing() -> None:
    """No watchdog to ping in a one-shot pass."""


class _StopOnSignal:
    """SIGTERM and SIGINT during a one-shot pass: fetch nothing more, record and move the batch in
    hand, exit 0 (SPEC §13). Killed where it stood, a pass left recorded messages unmoved and
    fetched ones counted as tried, which the next pass then retried one at a time as suspects.

    Only in the main thread (signals can be handled nowhere else); the old handlers come back after
    the outermost ``with`` (a run over several mailboxes holds one around all their passes).
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._old: dict[int, Any] = {}
        self._depth = 0

    def asked(self) -> bool:
        return self.signal_name is not None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> _StopOnSignal:
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._old[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            for signum, old in self._old.items():
                signal.signal(signum, old)
            self._old.clear()


def setup_logging(log_format: str = "text") -> None:
    """Logging on stderr; no timestamps under journald (kept here: cli imports it from runner)."""
    _setup_logging(log_format)


def run(
    settings: Settings, *, once: bool, dry_run: bool, reload_settings: Callable[[], Settings] | None = None
) -> int:
    """Run the daemon (or one pass); returns the process exit code."""
    setup_logging(settings.ops.log_format)
    fewer_malloc_arenas()  # before the mailbox, recording and parser threads and processes start
    try:
        chain = load_chain(settings.chain_file)
    except ChainError as exc:
        log.error("bad rule chain: %s", exc)
        return EXIT_CONFIG
    with ExitStack() as cleanup:
        try:
            return _run(settings, chain, cleanup, once=once, dry_run=dry_run, reload_settings=reload_settings)
        except OperationalError as exc:
            # The database unreachable at start-up (or left unhandled below) is a temporary failure,
            # to be retried (SPEC §13: 75), not a crash with a traceback (1).
            log.error("database unavailable: %s", one_line(exc))
            return EXIT_TEMPFAIL
        except DatabaseError as exc:
            if type(exc) is not DatabaseError:  # IntegrityError, DataError …: a bug, not the set-up
                raise
            log.error("%s", database_unusable(exc))
            return EXIT_CONFIG
        except SchemaTooNew as exc:
            # Not temporary: restarting this version changes nothing, and it must not write there.
            log.error("%s", exc)
            return EXIT_CONFIG


def database_unusable(exc: DatabaseError) -> str:
    """The line for a database that answers but is no database emaillog can use: SQLite's "file is
    not a database" (EMAILLOG_DATABASE_URL naming another file) or "database disk image is
    malformed"; peewee raises these as a plain DatabaseError. A restart will not fix it (78)."""
    return f"database unusable: {one_line(exc)} (EMAILLOG_DATABASE_URL)"


def _run(
    settings: Settings,
    chain: tuple[Link, ...],
    cleanup: ExitStack,
    *,
    once: bool,
    dry_run: bool,
    reload_settings: Callable[[], Settings] | None,
) -> int:
    if settings.imap is None and not settings.mailboxes:
        from .demo import DemoBusy, DemoUnavailable, seed_crm, start_demo

        try:
            settings = start_demo(settings, cleanup)
        except DemoUnavailable as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        except DemoBusy as exc:
            log.error("%s", exc)
            return EXIT_TEMPFAIL
        if not dry_run and not _took_the_lease(settings, cleanup):
            return EXIT_TEMPFAIL
        store = open_store(settings)
        seed_crm(store, settings)
        reload_settings = None  # the demo's settings are made here, not read from a file
    elif dry_run:
        with _no_temp_dirs_left(settings):
            return _dry_run(settings, chain)
    else:
        _warn_unverified(settings)
        if not _took_the_lease(settings, cleanup):
            return EXIT_TEMPFAIL
        store = open_store(settings)
    _remove_stale_tmp(settings)
    _make_data_dirs_private(settings)
    if _fleet_of(settings):
        if once or dry_run:
            return _fleet_once(settings, store, chain, dry_run)
        return Fleet(settings, chain, store.db, Notifier.from_environ(), reload_settings).run()
    if once or dry_run:
        return _one_shot(Runner(settings, store, chain, dry_run))
    return _daemon(Daemon(settings, store, chain, Notifier.from_environ(), reload_settings))


def _fleet_of(settings: Settings) -> bool:
    """Several mailboxes, or several processes sharing a PostgreSQL: each mailbox worked under its
    lease, taken and kept by ``fleet.Fleet`` (or ``_fleet_once``)."""
    return bool(settings.mailboxes) or settings.database_url.startswith(POSTGRESQL_URLS)


def _took_the_lease(settings: Settings, cleanup: ExitStack) -> bool:
    """One mailbox on SQLite is leased too, for the life of the process, before the database is
    opened (and perhaps upgraded); a fleet takes its leases itself.

    Without it a ``--once`` run (or a second unit) beside the daemon raced it for every message:
    each counted an attempt on the same messages and one pass failed on MOVEs of messages the
    other had moved.
    """
    if _fleet_of(settings):
        return True
    leases = FileLeases(settings.data_dir / LEASE_DIR)
    if leases.acquire(settings.account, settings.mailbox_name):
        cleanup.callback(leases.release_all)
        return True
    pid = leases.holder(settings.mailbox_name)
    log.error(
        "mailbox %s is being worked by another emaillog process%s: stop it first"
        " (--dry-run may run beside it)",
        settings.mailbox_name,
        f" (pid {pid})" if pid else "",
    )
    return False


def worked_elsewhere(settings: Settings) -> bool:
    """Whether another process (the daemon) holds the mailbox's lease at this moment: what an admin
    command put back in the intake folder is then that process's to pass, not a reason to fail."""
    leases = leases_for(settings.database_url, settings.data_dir)
    try:
        return not leases.acquire(settings.account, settings.mailbox_name)
    finally:
        leases.release_all()


def _warn_unverified(settings: Settings) -> None:
    """Said at every start: a certificate not verified is an open door, left open on purpose only."""
    for box in settings.all_mailboxes():
        if box.imap is not None and not box.imap.verify_tls:
            log.warning(
                "%s: the certificate of %s is NOT verified (EMAILLOG_IMAP_VERIFY_TLS=no)",
                box.mailbox_name,
                box.imap.host,
            )
    if unverified := unverified_database(settings.database_url):
        log.warning("%s", unverified)
    smtp = settings.notices.smtp if settings.notices else None
    if smtp is not None and not smtp.verify_tls:
        log.warning(
            "the certificate of the relay %s is NOT verified (EMAILLOG_SMTP_VERIFY_TLS=no)", smtp.host
        )


def _remove_stale_tmp(settings: Settings) -> None:
    for data_dir in {mailbox.data_dir for mailbox in settings.all_mailboxes()}:
        if removed := remove_stale_tmp(data_dir):
            log.info("removed the temp files of %d process(es) that are gone", removed)


# The directories emaillog makes in a data dir; not the data dir itself (an admin's, with group
# access for a backup, say, keeps its mode: README) nor the demo mailbox (its Dovecot must reach it).
OWNED_DIRS = ("attachments", "tmp", "state", LEASE_DIR)


def _make_data_dirs_private(settings: Settings) -> None:
    """Those of the owned directories (and the SQLite database) an older version left open to other
    users, made owner-only: upgraded, they still let every local user read the stored attachments
    (and the database, every logged email)."""
    made = []
    for path in _owned_paths(settings):
        try:
            if make_owner_only(path):
                made.append(str(path))
        except OSError as exc:  # another user's: the files are there anyway, mail is still logged
            log.warning("cannot make %s owner-only (%s): other users may read what it holds", path, exc)
    if made:
        log.info("made owner-only, as an older version had left them open: %s", ", ".join(made))


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _owned_paths(settings: Settings) -> list[Path]:
    """The directories emaillog makes in each data dir, and the SQLite database with the files
    SQLite keeps beside it (which it gives the database's mode when it makes them)."""
    paths = [d / name for d in sorted({m.data_dir for m in settings.all_mailboxes()}) for name in OWNED_DIRS]
    if settings.database_url.startswith("sqlite:///"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        paths += [database, *(database.with_name(database.name + end) for end in _SQLITE_SIDE_FILES)]
    return paths


def _fleet_once(settings: Settings, store: Store, chain: tuple[Link, ...], dry_run: bool) -> int:
    """One pass over every mailbox whose lease is free; the worst exit code wins."""
    leases = leases_for(settings.database_url, settings.data_dir)
    codes = [EXIT_OK]
    try:
        with _StopOnSignal() as stop:
            for mailbox in _until_stopped(settings.all_mailboxes(), stop):
                if not leases.acquire(mailbox.account, mailbox.mailbox_name):
                    log.info("mailbox %s is worked by another process: skipped", mailbox.mailbox_name)
                    continue
                store_of = store_for(store.db, mailbox)
                codes.append(
                    _one_shot(Runner(mailbox, store_of, chain, dry_run, _label(settings, mailbox), stop))
                )
    finally:
        leases.release_all()
    return max(codes)


def _until_stopped(mailboxes: Iterable[Settings], stop: _StopOnSignal) -> Iterator[Settings]:
    """The mailboxes of a one-shot run, until a signal asks it to stop: the pass it stopped in
    finishes its batch, the passes of the mailboxes after it do not start."""
    for mailbox in mailboxes:
        if stop.asked():
            return
        yield mailbox


def _dry_run(settings: Settings, chain: tuple[Link, ...]) -> int:
    """Every mailbox, without leases (a dry run only reads, so it may run beside the daemon), on a
    database opened read-only; the worst exit code wins."""
    try:
        db = open_read_only(settings)
    except StoreNotReady as exc:
        log.error("--dry-run: %s", exc)
        return EXIT_CONFIG
    codes = [EXIT_OK]
    with _StopOnSignal() as stop:
        for mailbox in _until_stopped(settings.all_mailboxes(), stop):
            try:
                store = store_for(db, mailbox, read_only=True)
            except StoreNotReady as exc:
                log.error("--dry-run: mailbox %s: %s", mailbox.mailbox_name, exc)
                codes.append(EXIT_CONFIG)
                continue
            codes.append(_one_shot(Runner(mailbox, store, chain, True, _label(settings, mailbox), stop)))
    db.close()
    return max(codes)


@contextlib.contextmanager
def _no_temp_dirs_left(settings: Settings) -> Iterator[None]:
    """A dry run spools large attachments as a pass does, and its pass removes the files: the
    directories that held them go too, so that a dry run leaves the data dir as it found it.
    Only empty ones, and ``tmp`` only where the dry run made it (a daemon beside it uses its own)."""
    data_dirs = {mailbox.data_dir for mailbox in settings.all_mailboxes()}
    made = {d / "tmp" for d in data_dirs if not (d / "tmp").exists()}
    try:
        yield
    finally:
        for data_dir in data_dirs:
            for path in (process_tmp_dir(data_dir, os.getpid()), *({data_dir / "tmp"} & made)):
                with contextlib.suppress(OSError):
                    path.rmdir()


def _label(settings: Settings, mailbox: Settings) -> str:
    return f"mailbox {mailbox.mailbox_name}: " if settings.mailboxes else ""


def _one_shot(runner: Runner) -> int:
    try:
        runner.one_pass()
    except START_UP_FAILURES as exc:
        return _exit_code(exc)
    return EXIT_OK


def _daemon(daemon: Daemon) -> int:
    try:
        daemon.start()
    except START_UP_FAILURES as exc:
        return _exit_code(exc)
    return daemon.run()


def _exit_code(exc: BaseException) -> int:
    """The exit code for a start-up (or one-shot) failure, logged in one line without a traceback."""
    code, line = start_up_failure(exc)
    log.error("%s", line)
    return code
