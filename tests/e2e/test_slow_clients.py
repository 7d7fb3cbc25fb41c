"""Slow clients against ``exchange serve`` as it runs by default (tests/e2e/conftest.py):
200 connections sending their heads a byte at a time must not stop anyone else's answers,
over plain HTTP and over the TLS the exchange terminates itself; a head that takes longer
than ``EXCHANGE_HEADER_TIMEOUT`` is dropped, and one longer than any real head refused."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import requests

from exchange.system.worker import HEAD_BYTES_MAX
from tests.e2e.conftest import TLSServer, running_server
from tests.e2e.slow_clients import slow_clients

pytestmark = pytest.mark.e2e

SLOW = 200
NORMAL = 30


def _normal_requests(base_url: str, verify: str | bool) -> list[int]:
    # A generous deadline: this proves the server answers, it does not time it.
    statuses = []
    with requests.Session() as http:
        for _ in range(NORMAL):
            statuses.append(http.get(f"{base_url}/healthz", timeout=20, verify=verify).status_code)
            # A fresh connection each time too: a new client must get in, not only one that
            # came before the slow ones.
            http.close()
    return statuses


def test_slow_heads_do_not_stop_normal_answers(live_server: str) -> None:
    port = int(live_server.rsplit(":", 1)[1])
    with slow_clients(port, SLOW) as slow:
        statuses = _normal_requests(live_server, True)
        assert slow.open_now == SLOW
    assert statuses == [200] * NORMAL


def test_slow_heads_over_tls_do_not_stop_normal_answers(tls_server: TLSServer) -> None:
    port = int(tls_server.base_url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(tls_server.ca_file))
    with slow_clients(port, SLOW, tls=context) as slow:
        statuses = _normal_requests(tls_server.base_url, str(tls_server.ca_file))
        assert slow.open_now == SLOW
    assert statuses == [200] * NORMAL


def _one_response(connection: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body), however the bytes arrive."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, data
        body += chunk
    assert len(body) == length, (head, body)
    return head + b"\r\n\r\n" + body


def test_a_head_past_the_header_timeout_is_dropped(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_HEADER_TIMEOUT", "1")
    with running_server(
        database_url, tmp_path / "server-instance", tmp_path / "server.log"
    ) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            answer = b""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                chunk = connection.recv(1024)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        # ... and a kept-alive connection's next head is held to the same deadline.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = _one_response(connection)
            assert first.startswith(b"HTTP/1.1 200 "), first
            connection.sendall(b"GET /healthz HTTP/1.1\r\n")
            answer = b""
            while time.monotonic() < deadline:
                chunk = connection.recv(1024)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        # A head longer than any real one is refused at once, not buffered on.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            start = b"GET /healthz HTTP/1.1\r\nX-Pad: "
            # Exactly the limit: all of it is read, so the close is not a reset.
            connection.sendall(start + b"p" * (HEAD_BYTES_MAX - len(start)))
            answer = connection.recv(1024)
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        assert requests.get(f"{base_url}/healthz", timeout=20).status_code == 200
