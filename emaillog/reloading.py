"""SIGHUP: the settings read again, and applied only when they are good (SPEC §13).

The one-mailbox daemon and the fleet both reload this way; each says which changes it cannot take
while running (``check``) and how it applies the new settings (``apply``). A bad file is logged and
the settings in force stay: a reload never stops the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .rules import ChainError, Link, load_chain
from .sdnotify import Notifier
from .settings import Settings, SettingsError

log = logging.getLogger("emaillog")

# Raises SettingsError for a change the running process cannot take.
Check = Callable[[Settings], None]
Apply = Callable[[Settings, tuple[Link, ...]], None]


def keeps_what_start_up_set(running: Settings, new: Settings) -> None:
    """EMAILLOG_DATA_DIR, EMAILLOG_METRICS_PORT and EMAILLOG_LOG_FORMAT take a restart.

    The data dir holds the lease (SQLite's: a lock file there), the state file and the temporary
    files of the running process, taken or made at start. Applied on SIGHUP, the daemon moved to the
    new dir's database with its lease left in the old dir: a daemon started on the new dir worked
    the same mailbox beside it. The metrics port is bound and the log handler set up at start too: a
    reload said "settings reloaded; changed: ops" and went on serving the old port, or none, and
    writing the old format.
    """
    if new.data_dir != running.data_dir:
        raise SettingsError(
            [
                f"EMAILLOG_DATA_DIR: a running daemon keeps its data dir {running.data_dir} (its lease, "
                f"state and temporary files are there): restart it to use {new.data_dir}"
            ]
        )
    problems = []
    if new.ops.metrics_port != running.ops.metrics_port:
        problems.append(
            f"EMAILLOG_METRICS_PORT: a running daemon keeps the port it serves metrics on "
            f"({running.ops.metrics_port or 'none'}): restart it to use {new.ops.metrics_port or 'none'}"
        )
    if new.ops.log_format != running.ops.log_format:
        problems.append(
            f"EMAILLOG_LOG_FORMAT: a running daemon keeps its log format ({running.ops.log_format}): "
            f"restart it to write {new.ops.log_format}"
        )
    if problems:
        raise SettingsError(problems)


def reload(notifier: Notifier, source: Callable[[], Settings] | None, check: Check, apply: Apply) -> None:
    log.info("SIGHUP: reloading the settings")
    notifier.reloading()
    try:
        if source is None:
            raise SettingsError(["no settings source to reload from"])
        settings = source()
        check(settings)
        chain = load_chain(settings.chain_file)
    except (SettingsError, ChainError) as exc:
        log.error("reload failed, keeping the old settings: %s", exc)
        notifier.ready()
        return
    try:
        apply(settings, chain)
    finally:
        # Told whatever ``apply`` raised (a database away while a mailbox restarts): systemd
        # (Type=notify-reload) waits for READY=1 after RELOADING=1 and took the reload for hung.
        notifier.ready()
