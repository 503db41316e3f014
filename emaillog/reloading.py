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
    else:
        apply(settings, chain)
    notifier.ready()
