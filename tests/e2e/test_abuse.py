"""Abuse resistance over real gunicorn servers: one rate limit for all workers, bodies over
the limit refused even when chunked, HSTS only over TLS, and no secret in the server's logs."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine

from exchange.footprints.models import FootprintRecord
from exchange.organisations.models import Role
from tests.conftest import empty_all_tables
from tests.e2e.conftest import TLSServer, running_server
from tests.factories import add_member
from tests.portal.helpers import PASSWORD, add_user

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["database", "redis"])
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> Iterator[str]:
    """Where the server counts: the test database, or Redis under a prefix of its own."""
    if request.param == "redis":
        prefix = f"fx:test:{uuid.uuid4().hex}:"
        monkeypatch.setenv("EXCHANGE_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("EXCHANGE_REDIS_PREFIX", prefix)
        yield request.param
        client = redis.Redis.from_url(REDIS_URL)
        for name in client.scan_iter(f"{prefix}*"):
            client.delete(name)
        client.close()
    else:
        yield request.param
    empty_all_tables(engine)


def wait_until_accepted(port: int) -> None:
    """Until no connection waits in the accept queue of the socket listening on ``port``
    (Linux: ``/proc/net/tcp`` shows a listening socket's queue length as its rx_queue)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                if int(queues.split(":")[1], 16) == 0:
                    return
                break
        else:
            raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.01)
    raise AssertionError("no worker took the connection")


def test_a_limit_holds_across_gunicorn_workers(
    store: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_RATE_LIMIT_VERIFY", "10/3600")
    instance = tmp_path / "server-instance"
    # The server has two workers, which take new connections as
    # they come; half a request no longer holds a worker (exchange.system.worker reads heads
    # in its event loop), so the stalls below only add connections. Phases go on until both
    # workers have answered some of the verifications.
    with running_server(database_url, instance, tmp_path / "server.log", workers=2) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        statuses: list[int] = []

        def stall() -> socket.socket:
            stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            wait_until_accepted(port)  # a worker has taken it, and waits for the rest
            return stalled

        def release(stalled: socket.socket) -> None:
            stalled.sendall(b"Connection: close\r\n\r\n")
            stalled.recv(1024)
            stalled.close()

        def verify() -> None:
            for _ in range(3):
                response = requests.post(
                    f"{base_url}/api/v1/labels/verify", json={"text": "no label"}, timeout=60
                )
                if response.status_code == 429:
                    assert response.json()["code"] == "TooManyRequests"
                    assert int(response.headers["Retry-After"]) >= 1
                statuses.append(response.status_code)

        # Phases go on for at least 30 requests, and until both workers have answered (on a
        # loaded machine a worker may take a stalled connection later than the pause).
        for _phase in range(20):
            first = stall()
            verify()
            second = stall()
            release(first)
            verify()
            release(second)
            answered = _verifications(instance / "access.log")
            if len(statuses) >= 30 and len({entry["pid"] for entry in answered}) >= 2:
                break
    # Without a shared count, each worker would let ten through.
    assert sum(status != 429 for status in statuses) == 10, statuses
    assert statuses.count(429) == len(statuses) - 10
    answered = _verifications(instance / "access.log")
    assert len(answered) == len(statuses)
    workers = {entry["pid"] for entry in answered}
    assert len(workers) >= 2, "one worker took every request: the test proves nothing"


def _verifications(access_log: Path) -> list[dict[str, Any]]:
    """The access log's lines (JSON, each naming the worker's pid) of label verifications."""
    return [
        entry
        for entry in map(json.loads, access_log.read_text().splitlines())
        if entry.get("route") == "/api/v1/labels/verify"
    ]


def test_a_chunked_body_over_the_limit_is_refused_and_changes_nothing(
    app: Flask, database_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = add_member(app, Role.SUPPLIER)
    envelope = json.dumps({"items": [member.envelope() for _ in range(60)]}).encode()
    monkeypatch.setenv("EXCHANGE_MAX_BODY_BYTES", str(len(envelope) // 2))
    headers = {**member.headers, "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(envelope), 4096):
            yield envelope[start : start + 4096]

    with running_server(
        database_url, tmp_path / "server-instance", tmp_path / "server.log"
    ) as base_url:
        chunked = requests.post(
            f"{base_url}/api/v1/footprints", data=chunks(), headers=headers, timeout=60
        )
        assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
        assert chunked.status_code == 413, chunked.text
        assert chunked.json()["code"] == "PayloadTooLarge"
        sized = requests.post(
            f"{base_url}/api/v1/footprints", data=envelope, headers=headers, timeout=60
        )
        assert sized.status_code == 413
        assert sized.json()["code"] == "PayloadTooLarge"
        # Under the limit, the same server takes a batch.
        small = {"items": [member.envelope() for _ in range(2)]}
        accepted = requests.post(
            f"{base_url}/api/v1/footprints", json=small, headers=member.headers, timeout=60
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted"] == 2
    with engine.connect() as connection:
        stored = connection.scalar(sa.select(sa.func.count()).select_from(FootprintRecord))
    assert stored == 2


def test_hsts_over_the_built_in_tls_server_and_not_over_plain_http(
    tls_server: TLSServer, live_server: str
) -> None:
    for path in ("/portal/login", "/healthz", "/01/09506000134352", "/api/v1/log/checkpoint"):
        secure = requests.get(
            tls_server.base_url + path, verify=str(tls_server.ca_file), timeout=30
        )
        assert secure.headers["Strict-Transport-Security"] == "max-age=31536000", path
        assert secure.headers["X-Content-Type-Options"] == "nosniff", path
        plain = requests.get(live_server + path, timeout=30)
        assert "Strict-Transport-Security" not in plain.headers, path
        assert plain.headers["X-Content-Type-Options"] == "nosniff", path


def test_the_servers_logs_hold_no_secret(app: Flask, tmp_path: Path, database_url: str) -> None:
    """gunicorn's access and error logs after tokens, pushes and portal sign-ins."""
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "li@coop.example")
    instance = tmp_path / "server-instance"
    log_path = tmp_path / "server.log"
    with running_server(database_url, instance, log_path) as base_url:
        basic = base64.b64encode(f"{member.client_id}:{member.client_secret}".encode()).decode()
        issued = requests.post(
            f"{base_url}/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
            timeout=30,
        )
        token = issued.json()["access_token"]
        pushed = requests.post(
            f"{base_url}/api/v1/footprints",
            json=member.envelope(),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert pushed.status_code == 201
        requests.get(f"{base_url}/api/v1/footprints", headers={"Authorization": "Bearer forged"})
        with requests.Session() as browser:
            page = browser.get(f"{base_url}/portal/login", timeout=30).text
            found = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert found is not None
            form = {"email": email, "csrf_token": found.group(1)}
            wrong = browser.post(
                f"{base_url}/portal/login", data={**form, "password": "wrong-pass-4711"}, timeout=30
            )
            assert wrong.status_code == 401
            right = browser.post(
                f"{base_url}/portal/login", data={**form, "password": PASSWORD}, timeout=30
            )
            assert right.status_code == 200  # after the redirect
            cookie = browser.cookies["fx_portal"]
            assert browser.get(f"{base_url}/portal/records?next=/x", timeout=30).status_code == 200
    logs = (instance / "access.log").read_text() + log_path.read_text()
    assert "POST /auth/token" in logs
    for name, value in {
        "client secret": member.client_secret,
        "bearer token": token,
        "password": PASSWORD,
        "wrong password": "wrong-pass-4711",
        "session cookie": cookie,
        "CSRF token": found.group(1),
    }.items():
        assert value not in logs, f"the {name} appears in the server's logs"
