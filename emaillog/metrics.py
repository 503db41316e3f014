"""Prometheus text metrics on 127.0.0.1:EMAILLOG_METRICS_PORT (stdlib http.server in a thread).

The daemon's main thread updates the counters; the HTTP thread only reads them under a lock, so the
database is never touched from two threads. A fleet (fleet.py) serves one endpoint for the process:
each mailbox's daemon keeps its own ``Metrics``, shown with ``mailbox`` and ``account`` labels.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("emaillog.metrics")


Labels = tuple[tuple[str, str], ...]
# One line of a family: the suffix of its name (a summary's _sum), its labels, its value.
Sample = tuple[str, Labels, str]


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str
    samples: list[Sample]


def _one(name: str, kind: str, help: str, labels: Labels, value: object) -> Family:
    return Family(name, kind, help, [("", labels, str(value))])


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: dict[str, int] = {}
        self.passes = 0
        self.pass_failures = 0
        self.reconnects = 0
        self.pass_seconds_sum = 0.0
        self.last_pass_seconds = 0.0
        self.last_pass_time = 0.0
        self.logged_in = 0

    def pass_done(self, outcomes: dict[str, int], seconds: float) -> None:
        with self._lock:
            for outcome, n in outcomes.items():
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
            self.passes += 1
            self.pass_seconds_sum += seconds
            self.last_pass_seconds = seconds
            self.last_pass_time = time.time()

    def pass_failed(self) -> None:
        with self._lock:
            self.pass_failures += 1

    def connection(self, logged_in: bool, reconnect: bool = False) -> None:
        with self._lock:
            self.logged_in = int(logged_in)
            self.reconnects += int(reconnect)

    def families(self, labels: Labels = ()) -> list[Family]:
        """The metric families, each series carrying ``labels`` before its own; read under the lock."""
        with self._lock:
            outcomes = sorted(self.outcomes.items())
            return [
                Family(
                    "emaillog_messages_total",
                    "counter",
                    "Messages processed, by outcome.",
                    [("", (*labels, ("outcome", k)), str(v)) for k, v in outcomes],
                ),
                _one(
                    "emaillog_passes_total", "counter", "Passes over the intake folder.", labels, self.passes
                ),
                _one(
                    "emaillog_pass_failures_total",
                    "counter",
                    "Passes that failed (mailbox or database trouble).",
                    labels,
                    self.pass_failures,
                ),
                Family(
                    "emaillog_pass_duration_seconds",
                    "summary",
                    "Time spent in passes.",
                    [("_sum", labels, f"{self.pass_seconds_sum:.6f}"), ("_count", labels, str(self.passes))],
                ),
                _one(
                    "emaillog_last_pass_duration_seconds",
                    "gauge",
                    "Duration of the last pass.",
                    labels,
                    f"{self.last_pass_seconds:.6f}",
                ),
                _one(
                    "emaillog_last_pass_timestamp_seconds",
                    "gauge",
                    "When the last pass ended (Unix time).",
                    labels,
                    f"{self.last_pass_time:.3f}",
                ),
                _one(
                    "emaillog_imap_logged_in",
                    "gauge",
                    "Whether the IMAP connection is logged in.",
                    labels,
                    self.logged_in,
                ),
                _one(
                    "emaillog_reconnects_total",
                    "counter",
                    "Reconnections to the IMAP server.",
                    labels,
                    self.reconnects,
                ),
            ]

    def render(self) -> str:
        return exposition(self.families())


class FleetMetrics:
    """The metrics of a fleet (fleet.py): every mailbox this process holds, each series labelled
    with its mailbox and account, and how many mailboxes it holds of those configured.

    The fleet's main thread replaces the mailboxes whenever it starts or drops one (a mailbox given
    back is gone from the output at once); each mailbox's counters are its daemon's, begun anew when
    the daemon is (a restart, SIGHUP, a lease regained), which Prometheus reads as a counter reset.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mailboxes: dict[str, tuple[str, Metrics]] = {}
        self._configured = 0

    def publish(self, mailboxes: dict[str, tuple[str, Metrics]], configured: int) -> None:
        """``mailboxes``: the held ones, name to (account, the daemon's Metrics)."""
        with self._lock:
            self._mailboxes, self._configured = dict(mailboxes), configured

    def render(self) -> str:
        with self._lock:
            held, configured = sorted(self._mailboxes.items()), self._configured
        families = [
            _one(
                "emaillog_mailboxes_held", "gauge", "Mailboxes whose lease this process holds.", (), len(held)
            ),
            _one("emaillog_mailboxes_configured", "gauge", "Mailboxes configured.", (), configured),
        ]
        # Each mailbox's Metrics is read under its own lock, one after the other: never both locks.
        per_mailbox = [m.families((("mailbox", name), ("account", account))) for name, (account, m) in held]
        for merged in zip(*per_mailbox, strict=True):
            families.append(replace(merged[0], samples=[s for family in merged for s in family.samples]))
        return exposition(families)


def exposition(families: list[Family]) -> str:
    """The Prometheus text format (0.0.4): each family's HELP and TYPE once, then its series."""
    lines = []
    for family in families:
        lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}"]
        lines += [
            f"{family.name}{suffix}{_labels(labels)} {value}" for suffix, labels, value in family.samples
        ]
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in labels) + "}"


def escape(value: str) -> str:
    """A label value as the text format wants it: a mailbox's name or account comes from the
    settings, and a quote or a line break in it would break the whole scrape."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsUnavailable(Exception):
    """The metrics port cannot be listened on (another program holds it): a setting to change."""


def serve(metrics: Metrics | FleetMetrics, port: int) -> ThreadingHTTPServer:
    """Serve ``/metrics`` on 127.0.0.1 only; the caller shuts the server down.

    Raises MetricsUnavailable when the port cannot be had (exit 78 at start-up)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        raise MetricsUnavailable(
            f"EMAILLOG_METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}"
        ) from exc
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://127.0.0.1:%d/metrics", port)
    return server
