"""Running passes: once, or on a schedule with APScheduler, with signals and exit codes (SPEC §13)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from peewee import OperationalError

from .mailbox import ImapMailbox, LoginRefused, MailboxError
from .poll import Pass, PassReport
from .sdnotify import Notifier
from .rules import ChainError, Link, load_chain
from .settings import Settings
from .store import Store, open_store

log = logging.getLogger("emaillog")

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_TEMPFAIL, EXIT_LOGIN, EXIT_CONFIG = 0, 1, 2, 75, 77, 78


@dataclass
class Runner:
    settings: Settings
    store: Store
    chain: tuple[Link, ...]
    dry_run: bool = False

    def one_pass(self) -> PassReport:
        assert self.settings.imap is not None
        mailbox = ImapMailbox(self.settings.imap)
        try:
            report = Pass(self.settings, mailbox, self.store, self.chain, self.dry_run).run()
        finally:
            mailbox.close()
        log.info("pass done: %s", report.summary())
        return report

    def scheduled_pass(self) -> None:
        """A pass inside the scheduler: trouble is logged and retried on the next tick."""
        try:
            self.one_pass()
        except (MailboxError, OSError, OperationalError) as exc:
            log.warning("pass failed, will retry: %s", exc)


def setup_logging() -> None:
    # journald stamps each line itself; a terminal or a file wants the time.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt, stream=sys.stderr)


def run(settings: Settings, *, once: bool, dry_run: bool) -> int:
    """Run the daemon (or one pass); returns the process exit code."""
    try:
        chain = load_chain(settings.chain_file)
    except ChainError as exc:
        log.error("bad rule chain: %s", exc)
        return EXIT_CONFIG
    with ExitStack() as cleanup:
        return _run(settings, chain, cleanup, once=once, dry_run=dry_run)


def _run(settings: Settings, chain: tuple[Link, ...], cleanup: ExitStack, *, once: bool, dry_run: bool) -> int:
    if settings.imap is None:
        from .demo import DemoUnavailable, seed_crm, start_demo

        try:
            server, settings = start_demo(settings)
        except DemoUnavailable as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        cleanup.callback(server.stop)
        store = open_store(settings)
        seed_crm(store, settings)
    else:
        store = open_store(settings)
    runner = Runner(settings, store, chain, dry_run)
    try:
        runner.one_pass()
    except LoginRefused as exc:
        log.error("%s", exc)
        return EXIT_LOGIN
    except (MailboxError, OSError) as exc:
        log.error("mailbox unavailable: %s", exc)
        return EXIT_TEMPFAIL
    if once or dry_run:
        return EXIT_OK
    return _schedule(runner)


def _schedule(runner: Runner) -> int:
    notifier = Notifier.from_environ()
    scheduler = BlockingScheduler()
    scheduler.add_job(runner.scheduled_pass, "interval", seconds=runner.settings.poll_seconds,
                      max_instances=1, coalesce=True, id="pass")
    interval = notifier.watchdog_interval()
    if interval:
        # Ping at half the watchdog interval, as sd_watchdog_enabled(3) advises.
        scheduler.add_job(notifier.watchdog, "interval", seconds=max(interval / 2, 1.0), id="watchdog")

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the pass in hand, then stopping", signum)
        notifier.stopping()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("polling every %ds", runner.settings.poll_seconds)
    notifier.ready()
    notifier.status(f"polling every {runner.settings.poll_seconds}s")
    scheduler.start()
    return EXIT_OK
