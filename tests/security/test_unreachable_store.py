"""Redis away: every rate-limited endpoint answers 503 ServiceUnavailable with Retry-After and
one ERROR line that never holds the URL's password, everything else keeps working, and the
counter tries Redis again after its back-off. With Redis reachable, the limits hold."""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.engine import Engine

from exchange import create_app
from exchange.errors import ServiceUnavailable
from exchange.security.services import STORE_RETRY_SECONDS, RedisCounter
from tests.conftest import empty_all_tables
from tests.factories import add_member
from tests.portal.helpers import PASSWORD, add_user, csrf

REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_PASSWORD = "redis-password-8c1f0e"
ADDRESS = "192.0.2.120"


def free_port() -> int:
    """A loopback port where nothing listens: bound once by us, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _app(tmp_path: Path, database_url: str, **config: Any) -> Flask:
    return create_app(
        {"DATABASE_URL": database_url, "TESTING": True, **config},
        instance_path=str(tmp_path / "instance"),
    )


@pytest.fixture
def dead_redis_app(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Flask]:
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    application = _app(tmp_path, database_url, REDIS_URL=url)
    yield application
    application.extensions["exchange.engine"].dispose()
    empty_all_tables(engine)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def test_limited_endpoints_answer_503_while_redis_is_unreachable(
    dead_redis_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    member = add_member(dead_redis_app)
    email = add_user(dead_redis_app, member, "lin@coop.example")
    client = dead_redis_app.test_client()
    remote = {"REMOTE_ADDR": ADDRESS}
    json_answers = {
        "token": client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers=_basic(member.client_id, member.client_secret),
            environ_base=remote,
        ),
        "label verification": client.post(
            "/api/v1/labels/verify", json={"text": "nonsense"}, environ_base=remote
        ),
        "verification bundle": client.get(
            f"/api/v1/footprints/{uuid.uuid4()}/verification", environ_base=remote
        ),
        "inclusion proof": client.get("/api/v1/log/proof/inclusion?index=0", environ_base=remote),
        "label status": client.get("/api/v1/labels/1/status", environ_base=remote),
    }
    for name, response in json_answers.items():
        assert response.status_code == 503, name
        assert response.json == {
            "code": "ServiceUnavailable",
            "message": "the rate-limit store is unreachable; retry later",
            "details": [],
        }, name
        assert 1 <= int(response.headers["Retry-After"]) <= STORE_RETRY_SECONDS, name
    # The portal's pages say it as a page, with the same header; its sign-in cannot count
    # failures either, so it is refused rather than left without a lockout.
    pages = {
        "label verification page": client.post("/portal/verify", environ_base=remote),
        "sign-in": client.post(
            "/portal/login",
            data={"email": email, "password": PASSWORD, "csrf_token": csrf(client)},
            environ_base=remote,
        ),
    }
    for name, response in pages.items():
        assert response.status_code == 503, name
        assert response.mimetype == "text/html", name
        assert "the rate-limit store is unreachable" in response.get_data(as_text=True), name
        assert 1 <= int(response.headers["Retry-After"]) <= STORE_RETRY_SECONDS, name
    assert client.get("/portal/keys").status_code == 303  # not signed in

    # What never counts keeps working: the health check, the directory, PACT for a caller
    # with a token it already holds.
    assert client.get("/healthz", environ_base=remote).status_code == 200
    assert client.get("/api/v1/organisations", environ_base=remote).status_code == 200
    listed = client.get("/3/footprints", headers=member.headers, environ_base=remote)
    assert listed.status_code == 200
    assert listed.json == {"data": []}

    # One ERROR line for the operators (the counter then backs off), naming where Redis is
    # and never its password, not even in the lines of other loggers.
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    message = errors[0].getMessage()
    assert errors[0].name == "exchange.security"
    assert message.startswith("the rate-limit store is unreachable (Redis at 127.0.0.1:")
    assert "ConnectionError" in message
    assert REDIS_PASSWORD not in caplog.text


def test_the_counter_backs_off_then_tries_redis_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    counter = RedisCounter(
        redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1),
        f"fx:test:{uuid.uuid4().hex}:",
        retry_seconds=5,
        clock=lambda: now[0],
    )
    caplog.set_level(logging.ERROR, logger="exchange.security")
    with pytest.raises(ServiceUnavailable) as first:
        counter.get("token-address:abc", 1)
    assert first.value.retry_after == 5
    assert first.value.status == 503

    # Inside the back-off Redis is not asked at all.
    asked: list[str] = []

    def answering_get(name: str) -> bytes:
        asked.append(name)
        return b"3"

    monkeypatch.setattr(counter.client, "get", answering_get)
    now[0] += 3.5
    with pytest.raises(ServiceUnavailable) as second:
        counter.get("token-address:abc", 1)
    assert second.value.retry_after == 2
    assert asked == []
    # After it, Redis is asked again, and its answers are used.
    now[0] += 1.5
    assert counter.get("token-address:abc", 1) == 3
    assert asked == [f"{counter.prefix}token-address:abc:1"]
    assert len(caplog.records) == 1
    counter.client.close()


def test_a_redis_that_accepts_but_never_answers_times_out(
    tmp_path: Path, database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A hung Redis (accepts the connection, says nothing) costs one timeout, not a hang."""
    caplog.set_level(logging.ERROR, logger="exchange.security")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes connections; no one ever reads or answers
        port = silent.getsockname()[1]
        application = _app(
            tmp_path, database_url, REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT="0.2"
        )
        try:
            started = time.monotonic()
            response = application.test_client().get("/api/v1/labels/1/status")
            elapsed = time.monotonic() - started
        finally:
            application.extensions["exchange.engine"].dispose()
            empty_all_tables(engine)
    assert response.status_code == 503
    assert "TimeoutError" in caplog.records[0].getMessage()
    # Not a timing benchmark: only far below the 5 s the client used to wait.
    assert elapsed < 4


def test_the_redis_timeout_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    monkeypatch.setenv("EXCHANGE_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    for setting, expected in ((None, 1.0), ("2.5", 2.5)):
        if setting is not None:
            monkeypatch.setenv("EXCHANGE_REDIS_TIMEOUT", setting)
        application = _app(tmp_path, database_url)
        counter = application.extensions["exchange.limiter"].counter
        assert isinstance(counter, RedisCounter)
        kwargs = counter.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == expected
        application.extensions["exchange.engine"].dispose()
    for nonsense in ("soon", "0", "-1", "600"):
        monkeypatch.setenv("EXCHANGE_REDIS_TIMEOUT", nonsense)
        with pytest.raises(ValueError, match="EXCHANGE_REDIS_TIMEOUT"):
            _app(tmp_path, database_url)


def test_with_redis_reachable_the_limits_still_hold(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    prefix = f"fx:test:{uuid.uuid4().hex}:"
    application = _app(
        tmp_path, database_url, REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix, RATE_LIMIT_VERIFY="2/3600"
    )
    store = redis.Redis.from_url(REDIS_URL)
    try:
        client = application.test_client()
        statuses = [
            client.get("/api/v1/labels/1/status", environ_base={"REMOTE_ADDR": ADDRESS}).status_code
            for _ in range(3)
        ]
        assert statuses == [404, 404, 429]
        assert list(store.scan_iter(f"{prefix}*"))  # counted in Redis, under our prefix
    finally:
        for name in store.scan_iter(f"{prefix}*"):
            store.delete(name)
        store.close()
        application.extensions["exchange.engine"].dispose()
        empty_all_tables(engine)


def test_unlock_says_redis_is_unreachable(dead_redis_app: Flask) -> None:
    result = dead_redis_app.test_cli_runner().invoke(
        args=["security", "unlock", "--email", "li@coop.example"]
    )
    assert result.exit_code == 1
    assert "Error: the rate-limit store is unreachable; retry later" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
