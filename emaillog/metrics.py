"""Prometheus text metrics on 127.0.0.1:EMAILLOG_METRICS_PORT (stdlib http.server in a thread).

The daemon's main thread updates the counters; the HTTP thread only reads them under a lock, so the
database is never touched from two threads.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("emaillog.metrics")


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

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP emaillog_messages_total Messages processed, by outcome.",
                "# TYPE emaillog_messages_total counter",
            ]
            lines += [
                f'emaillog_messages_total{{outcome="{k}"}} {v}' for k, v in sorted(self.outcomes.items())
            ]
            lines += [
                "# HELP emaillog_passes_total Passes over the intake folder.",
                "# TYPE emaillog_passes_total counter",
                f"emaillog_passes_total {self.passes}",
                "# HELP emaillog_pass_failures_total Passes that failed (mailbox or database trouble).",
                "# TYPE emaillog_pass_failures_total counter",
                f"emaillog_pass_failures_total {self.pass_failures}",
                "# HELP emaillog_pass_duration_seconds Time spent in passes.",
                "# TYPE emaillog_pass_duration_seconds summary",
                f"emaillog_pass_duration_seconds_sum {self.pass_seconds_sum:.6f}",
                f"emaillog_pass_duration_seconds_count {self.passes}",
                "# HELP emaillog_last_pass_duration_seconds Duration of the last pass.",
                "# TYPE emaillog_last_pass_duration_seconds gauge",
                f"emaillog_last_pass_duration_seconds {self.last_pass_seconds:.6f}",
                "# HELP emaillog_last_pass_timestamp_seconds When the last pass ended (Unix time).",
                "# TYPE emaillog_last_pass_timestamp_seconds gauge",
                f"emaillog_last_pass_timestamp_seconds {self.last_pass_time:.3f}",
                "# HELP emaillog_imap_logged_in Whether the IMAP connection is logged in.",
                "# TYPE emaillog_imap_logged_in gauge",
                f"emaillog_imap_logged_in {self.logged_in}",
                "# HELP emaillog_reconnects_total Reconnections to the IMAP server.",
                "# TYPE emaillog_reconnects_total counter",
                f"emaillog_reconnects_total {self.reconnects}",
            ]
        return "\n".join(lines) + "\n"


def serve(metrics: Metrics, port: int) -> ThreadingHTTPServer:
    """Serve ``/metrics`` on 127.0.0.1 only; the caller shuts the server down."""

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

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://127.0.0.1:%d/metrics", port)
    return server
