"""A throwaway PostgreSQL cluster for the test suite.

It lives in its own temp dir, listens only on 127.0.0.1 at a free port (its unix sockets stay in
the temp dir too), trusts local connections, and trades durability for speed. The machine's own
PostgreSQL service, if any, is neither needed nor touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import psycopg2
from psycopg2 import sql

SUPERUSER = "postgres"
# initdb refuses to run as root, and so does the server: as root we run both as this OS user.
OS_USER_WHEN_ROOT = "postgres"


class PostgresError(RuntimeError):
    """The throwaway cluster could not be created, started or driven."""


def pg_bindir() -> Path | None:
    """Debian keeps the server tools per major version, off PATH; take the newest."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not found:
        return None
    return max(found, key=lambda p: _major(p.parent.name))


def _major(version: str) -> int:
    return int(version) if version.isdigit() else 0


def postgres_available() -> bool:
    bindir = pg_bindir()
    return bindir is not None and (bindir / "pg_ctl").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PgCluster:
    """initdb + pg_ctl in a temp dir; ``url`` names a database peewee's db_url accepts.

    ``durable``: commits wait for the disk, as on a real server (benchmarks); without it (tests) the
    cluster skips fsync, since it is thrown away after the run.
    """

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        bindir = pg_bindir()
        if bindir is None:
            raise PostgresError("no /usr/lib/postgresql/*/bin/initdb (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="emaillog-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        self._running = False

    @property
    def pid(self) -> int:
        """The postmaster's pid, from its postmaster.pid (the benchmarks read its children's CPU time)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self._as_root:
            # The postgres user must own the cluster; mkdtemp made the dir root's and 0700.
            entry = pwd.getpwnam(OS_USER_WHEN_ROOT)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            "60",
            "-o",
            self._server_options(),
            "start",
        )
        self._running = True

    def _server_options(self) -> str:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c max_connections=50"
        )
        if self.durable:
            return options
        # Durability is worthless for a cluster thrown away after the run; speed is not.
        return options + " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE (PostgreSQL 13+) ends sessions a failed test left open instead of failing the drop.
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: sql.Composed) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres")
        try:
            # CREATE/DROP DATABASE cannot run inside a transaction block.
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bindir / tool), *args]
        if self._as_root:
            argv = ["runuser", "-u", OS_USER_WHEN_ROOT, "--", *argv]
        result = subprocess.run(
            argv,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
            raise PostgresError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def lease_holders(url: str) -> dict[int, int]:
    """Process pid -> the mailbox leases it holds, read from PostgreSQL's own lock table: its
    exclusive advisory locks (the shared ones are the legacy names' and the fleet's)."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT a.application_name, count(*) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' "
                "AND a.application_name LIKE 'emaillog-lease-%%' GROUP BY 1"
            )
            return {int(name.rsplit("-", 1)[1]): int(n) for name, n in cursor.fetchall()}
    finally:
        conn.close()
