"""A small TCP proxy on loopback that cuts connections, for fault-injection tests.

It sits between a client (the daemon) and a server (Dovecot): every accepted connection is relayed
to the upstream address by two pump threads. Faults:

- ``cut_all()`` closes every open connection now (both sides see a reset or end of file);
- ``drop_rate``: after each relayed chunk a connection is cut with this probability, so cuts land
  at random points of a conversation (mid-FETCH, mid-MOVE, during login, in IDLE);
- ``refuse``: while set, new connections are accepted and closed at once;
- ``answers``: applied to what the server sends (chunk by chunk), to put words in its mouth
  (an answer some other server gives).

``cuts`` counts the connections the proxy cut; ``from_server`` the bytes the server sent (what a
client fetched, whatever it kept of it).
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable
from types import TracebackType

CHUNK = 65536


class FaultProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        drop_rate: float = 0.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.drop_rate = drop_rate
        self.refuse = False
        self.answers: Callable[[bytes], bytes] | None = None
        self.cuts = 0
        self.connections = 0
        self.from_server = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut_all(count=False)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def cut_all(self, *, count: bool = True) -> int:
        """Close every open connection; returns how many were cut."""
        with self._lock:
            pairs = list(self._pairs)
            self._pairs.clear()
        for pair in pairs:
            _close(*pair)
        if count:
            with self._lock:
                self.cuts += len(pairs)
        return len(pairs)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)  # upstream down: the client sees the connection drop, as it would
                continue
            pair = (client, server)
            with self._lock:
                self._pairs.add(pair)
                self.connections += 1
            for src, dst, edit in ((client, server, None), (server, client, self.answers)):
                threading.Thread(
                    target=self._pump, args=(pair, src, dst, edit), daemon=True, name="faultproxy-pump"
                ).start()

    def _pump(
        self,
        pair: tuple[socket.socket, socket.socket],
        src: socket.socket,
        dst: socket.socket,
        edit: Callable[[bytes], bytes] | None,
    ) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                dst.sendall(edit(data) if edit else data)
                if src is pair[1]:
                    with self._lock:
                        self.from_server += len(data)
                if self.drop_rate and self._roll():
                    with self._lock:
                        if pair in self._pairs:
                            self._pairs.discard(pair)
                            self.cuts += 1
                    break
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        _close(*pair)

    def _roll(self) -> bool:
        with self._lock:
            return self._random.random() < self.drop_rate


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
