"""Slowloris: connections that send a request's head one byte at a time, and normal clients
timed while they are open. Used by the end-to-end test and by ``bench/load.py``."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 4000 + b"\r\n\r\n"


class SlowClients:
    """``count`` connections to ``port`` (TLS when ``tls`` is given), each sending one more
    byte of a request head every ``interval`` seconds, reconnecting when the server drops
    them, from one thread, until :meth:`stop`."""

    def __init__(
        self, port: int, count: int, *, interval: float = 1.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.port, self.count, self.interval, self.tls = port, count, interval, tls
        self.open_now = 0
        self.dropped = 0  # connections the server closed or timed out (and were reopened)
        self._sockets: list[tuple[socket.socket, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self) -> tuple[socket.socket, int] | None:
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            connection: socket.socket = raw
            if self.tls is not None:
                # The handshake is done at once: what is slow is the request's head.
                connection = self.tls.wrap_socket(raw, server_hostname="127.0.0.1")
            connection.settimeout(5)
            connection.sendall(HEAD[:1])
        except OSError:
            return None
        return connection, 1

    def _run(self) -> None:
        while not self._stop.is_set() and len(self._sockets) < self.count:
            opened = self._connect()
            if opened is not None:
                self._sockets.append(opened)
            self.open_now = len(self._sockets)
        while not self._stop.wait(self.interval):
            kept: list[tuple[socket.socket, int]] = []
            for connection, sent in self._sockets:
                try:
                    # One byte at a time, never the blank line that ends the head.
                    position = sent if sent < len(HEAD) - 2 else 1
                    connection.sendall(HEAD[position : position + 1])
                    kept.append((connection, position + 1))
                except OSError:
                    self.dropped += 1
                    connection.close()
                    reopened = self._connect()
                    if reopened is not None:
                        kept.append(reopened)
            self._sockets = kept
            self.open_now = len(kept)

    def start(self, ready_within: float = 60.0) -> None:
        """Open the connections; return once all are open."""
        self._thread.start()
        deadline = time.monotonic() + ready_within
        while self.open_now < self.count:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"only {self.open_now} of {self.count} slow connections opened")
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for connection, _sent in self._sockets:
            connection.close()


@contextmanager
def slow_clients(
    port: int, count: int, *, interval: float = 1.0, tls: ssl.SSLContext | None = None
) -> Iterator[SlowClients]:
    clients = SlowClients(port, count, interval=interval, tls=tls)
    try:
        clients.start()
        yield clients
    finally:
        clients.stop()


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
