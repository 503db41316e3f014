"""Logging set-up: readable lines or JSON objects on stderr, never timestamps when journald reads them.

journald stamps every line itself, so under ``JOURNAL_STREAM`` a timestamp would only be noise. Log
shippers (Vector, Fluent Bit, Promtail) want one JSON object per line instead:
``EMAILLOG_LOG_FORMAT=json``. The per-message line's ``key=value`` pairs become JSON fields.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
# key=value pairs as the per-message line writes them (values have no spaces).
_PAIR = re.compile(r"(?:^|\s)([a-z_]+)=(\S*)")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (unless journald), level, logger, message, and its fields."""

    def __init__(self, timestamps: bool = True) -> None:
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        data: dict[str, Any] = {}
        if self.timestamps:
            data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        data.update(level=record.levelname.lower(), logger=record.name, message=message)
        for key, value in _PAIR.findall(message):
            data.setdefault(key, None if value == "None" else value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM"))


def setup_logging(log_format: str = "text") -> None:
    """(Re)configure the root logger on stderr; safe to call again after settings are known."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(timestamps=not under_journald()))
    else:
        handler.setFormatter(logging.Formatter(JOURNAL_FORMAT if under_journald() else TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # The formats use none of these: without them a record costs less to make (the logging HOWTO's
    # "Optimization"), which shows at one line per message on a backlog of thousands.
    logging._srcfile = None  # no caller frame lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # APScheduler announces every job it adds at INFO: noise beside one line per message.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # imapclient says "Connection closed" at INFO whenever a connection is shut without a logout (a
    # refused login, a dropped connection): a second line beside emaillog's own, which says why.
    logging.getLogger("imapclient").setLevel(logging.WARNING)
    # tnefparse warns for each oddity of a stranger's winmail.dat (a line per property it skips):
    # emaillog.tnef says in one line when a part stays packed.
    logging.getLogger("tnefparse").setLevel(logging.CRITICAL)
