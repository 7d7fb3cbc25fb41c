"""The gunicorn worker ``exchange serve`` runs: threads for the application, and a request's
head read in the worker's event loop before any thread is given to it.

gunicorn's sync worker gives a whole process to each connection from its first byte, and
its threaded worker (``gthread``) a whole thread: a client that sends its headers one byte
at a time holds that process or thread for as long as it likes, and a few hundred such
clients leave nobody to answer anyone else (slowloris). This worker is gunicorn's threaded
worker with one change: a connection gets a thread only once its request head (request
line and headers, up to the blank line) is complete. Until then the worker's main loop
does the TLS handshake and reads the head without blocking, next to every other waiting
connection; a head that is not complete ``EXCHANGE_HEADER_TIMEOUT`` seconds after the
connection (or, on a kept-alive connection, the next request) began is dropped. Waiting
connections cost a socket and a buffer, not a thread, so thousands can wait while the
threads keep answering complete requests.

A thread then reads the body as gunicorn always does: a client that sends a complete head
and then a body slowly holds its thread (bounded by the body size limit); a buffering
proxy in front (see the README's Operations section) also takes that away.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import ssl
import time
from functools import partial
from typing import Any, Final

from gunicorn import http
from gunicorn import sock as gunicorn_sock
from gunicorn.workers.gthread import TConn, ThreadWorker

END_OF_HEAD: Final = b"\r\n\r\n"
# Longer heads are refused (431) here: a buffered head costs memory in the loop, and real
# ones are a few KiB (nginx's default buffers take 32 KiB).
HEAD_BYTES_MAX: Final = 64 * 1024
READ_SIZE: Final = 65536


def header_timeout() -> float:
    """Seconds a client has to send a request's whole head (``EXCHANGE_HEADER_TIMEOUT``)."""
    return float(os.environ.get("EXCHANGE_HEADER_TIMEOUT", "10"))


class _Waiting:
    """A connection whose request head is still arriving."""

    __slots__ = ("buffer", "deadline", "handshaken", "want_write")

    def __init__(self, deadline: float, buffer: bytes, handshaken: bool) -> None:
        self.deadline = deadline
        self.buffer = bytearray(buffer)
        self.handshaken = handshaken
        self.want_write = False


class HeadFirstWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker that gives a connection a thread only with a whole head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[TConn, _Waiting] = {}
        self.header_timeout = header_timeout()

    def enqueue_req(self, conn: TConn) -> None:
        """Every way a connection reaches the thread pool passes here: a new connection, a
        kept-alive one that became readable, pipelined bytes after a response. Each waits
        in the loop until its head is in (:meth:`_hand_over` then queues it)."""
        pipelined = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.sock.setblocking(False)
        state = _Waiting(
            time.monotonic() + self.header_timeout,
            pipelined,
            handshaken=conn.initialized or not self.cfg.is_ssl,
        )
        if not conn.initialized and self.cfg.is_ssl:
            try:
                context = gunicorn_sock.ssl_context(self.cfg)
                conn.sock = context.wrap_socket(
                    conn.sock,
                    server_side=True,
                    suppress_ragged_eofs=self.cfg.suppress_ragged_eofs,
                    do_handshake_on_connect=False,
                )
            except (OSError, ValueError):
                self._drop(conn)
                return
        self.waiting[conn] = state
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_ready, conn))
        if END_OF_HEAD in state.buffer:
            self._on_ready(conn, conn.sock)

    def _on_ready(self, conn: TConn, _fileobj: Any) -> None:
        state = self.waiting.get(conn)
        if state is None:
            return
        try:
            if not state.handshaken:
                conn.sock.do_handshake()
                state.handshaken = True
            while END_OF_HEAD not in state.buffer and len(state.buffer) < HEAD_BYTES_MAX:
                data = conn.sock.recv(READ_SIZE)
                if not data:
                    self._forget(conn)
                    self._drop(conn)
                    return
                state.buffer += data
        except ssl.SSLWantReadError:
            self._want(conn, state, write=False)
            return
        except ssl.SSLWantWriteError:
            self._want(conn, state, write=True)
            return
        except (BlockingIOError, InterruptedError):
            self._want(conn, state, write=False)
            return
        except (OSError, ValueError):  # reset, TLS alert, a closed socket
            self._forget(conn)
            self._drop(conn)
            return
        self._forget(conn)
        if END_OF_HEAD not in state.buffer[:HEAD_BYTES_MAX]:
            self._refuse(conn, b"431 Request Header Fields Too Large")
            return
        self._hand_over(conn, bytes(state.buffer))

    def _want(self, conn: TConn, state: _Waiting, *, write: bool) -> None:
        if write != state.want_write:
            state.want_write = write
            events = selectors.EVENT_WRITE if write else selectors.EVENT_READ
            self.poller.modify(conn.sock, events, partial(self._on_ready, conn))

    def _hand_over(self, conn: TConn, head: bytes) -> None:
        """The head is in: make the connection what gunicorn's thread expects, and queue it."""
        if not conn.initialized:
            conn.initialized = True
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(head)
        conn.data_ready = True
        super().enqueue_req(conn)

    def _forget(self, conn: TConn) -> None:
        self.waiting.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: TConn) -> None:
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.close()

    def murder_pending(self) -> None:
        """gunicorn's own pending connections, then heads past their deadline (or all of
        them when the worker stops: a request not yet begun is the client's to retry)."""
        super().murder_pending()
        now = time.monotonic()
        late = [
            conn for conn, state in self.waiting.items() if not self.alive or state.deadline <= now
        ]
        for conn in late:
            self._forget(conn)
            self._refuse(conn, b"408 Request Timeout")

    def _refuse(self, conn: TConn, status: bytes) -> None:
        """Answer ``status`` if the socket takes it at once (never blocking), and close."""
        with contextlib.suppress(OSError, ValueError):
            conn.sock.send(b"HTTP/1.1 " + status + b"\r\nConnection: close\r\n\r\n")
        self._drop(conn)
