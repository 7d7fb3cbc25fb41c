"""Rate limits: the shared counters (database and Redis), the limiter, and the 429 answers
of the token and verification endpoints."""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from exchange import create_app
from exchange.db import make_engine
from exchange.security.services import (
    Counter,
    DatabaseCounter,
    Limiter,
    Rate,
    RedisCounter,
    redis_counter,
)
from tests.conftest import empty_all_tables
from tests.factories import add_member

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database_counter(engine: Engine) -> Iterator[DatabaseCounter]:
    yield DatabaseCounter(engine)
    empty_all_tables(engine)


@pytest.fixture
def redis_store() -> Iterator[RedisCounter]:
    counter = redis_counter(REDIS_URL, f"fx:test:{uuid.uuid4().hex}:")
    try:
        counter.client.ping()
    except redis.ConnectionError:
        pytest.fail(f"the tests expect Redis at {REDIS_URL}")
    yield counter
    for name in counter.client.scan_iter(f"{counter.prefix}*"):
        counter.client.delete(name)
    counter.client.close()


@pytest.fixture(params=["database", "redis"])
def counter(request: pytest.FixtureRequest) -> Counter:
    found: Counter = request.getfixturevalue(
        f"{request.param}_counter" if request.param == "database" else "redis_store"
    )
    return found


def test_rates_parse_and_refuse_nonsense() -> None:
    assert Rate.parse("60/60") == Rate(60, 60)
    assert str(Rate.parse(" 5/900 ")) == "5/900"
    for text in ("60", "a/60", "0/60", "60/0", "-1/5", ""):
        with pytest.raises(ValueError, match="HITS/SECONDS"):
            Rate.parse(text)


def test_a_small_limit_is_exact_and_resets_with_the_window(counter: Counter) -> None:
    clock = Clock()
    limiter = Limiter(counter, clock=clock)
    rate = Rate(3, 60)
    decisions = [limiter.hit("token", "203.0.113.9", rate) for _ in range(5)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False, False]
    assert 1 <= decisions[-1].retry_after <= 60
    # Another client has a budget of its own.
    assert limiter.hit("token", "203.0.113.10", rate).allowed
    clock.now += 60
    assert limiter.hit("token", "203.0.113.9", rate).allowed


def test_workers_share_one_count(counter: Counter) -> None:
    """Two limiters (two gunicorn workers) on one counter let the limit through once."""
    clock = Clock()
    first, second = Limiter(counter, clock=clock), Limiter(counter, clock=clock)
    rate = Rate(10, 60)
    allowed = sum(
        worker.hit("verify", "198.51.100.7", rate).allowed
        for _ in range(10)
        for worker in (first, second)
    )
    assert allowed == 10


def test_leases_never_let_more_than_the_limit_through(counter: Counter) -> None:
    clock = Clock()
    workers = [Limiter(counter, clock=clock) for _ in range(3)]
    rate = Rate(1000, 60)
    allowed = sum(
        workers[index % 3].hit("verify", "198.51.100.8", rate).allowed for index in range(1500)
    )
    # Each worker may strand one lease of limit/50 at the window's end, never exceed it.
    assert 1000 - 3 * (1000 // 50) <= allowed <= 1000
    # A lease is spent locally: far fewer writes than requests.
    assert counter.get(Limiter.key("verify", "198.51.100.8"), int(clock.now // 60)) >= 1000


def test_concurrent_counts_are_atomic(database_url: str, counter: Counter) -> None:
    """Threads on separate connections (SQLite or PostgreSQL, or Redis) lose no count."""
    if isinstance(counter, DatabaseCounter):
        # A pool of its own, so the threads really hold separate connections.
        counter = DatabaseCounter(make_engine(database_url))
    errors: list[BaseException] = []

    def add() -> None:
        try:
            for _ in range(25):
                counter.add("concurrent", 10**9, 60, 1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert counter.get("concurrent", 10**9) == 200
    if isinstance(counter, DatabaseCounter):
        counter.engine.dispose()


def test_ended_windows_are_swept_from_the_database(database_counter: DatabaseCounter) -> None:
    database_counter.add("old", 1, 60, 1)  # a window that ended in 1970
    database_counter.add("new", 10**9, 60, 1)
    assert database_counter.get("old", 1) == 0
    assert database_counter.get("new", 10**9) == 1


# --- the endpoints -------------------------------------------------------------------------


def _app(tmp_path: Path, database_url: str, **config: Any) -> Flask:
    return create_app(
        {"DATABASE_URL": database_url, "TESTING": True, **config},
        instance_path=str(tmp_path / "limited"),
    )


@pytest.fixture(params=["database", "redis"])
def limited_app(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, engine: Engine
) -> Iterator[Flask]:
    config: dict[str, Any] = {
        "RATE_LIMIT_TOKEN": "4/3600",
        "RATE_LIMIT_TOKEN_CLIENT": "2/3600",
        "RATE_LIMIT_VERIFY": "3/3600",
    }
    if request.param == "redis":
        config["REDIS_URL"] = REDIS_URL
        config["REDIS_PREFIX"] = f"fx:test:{uuid.uuid4().hex}:"
    application = _app(tmp_path, database_url, **config)
    yield application
    limiter = application.extensions["exchange.limiter"]
    if isinstance(limiter.counter, RedisCounter):
        for name in limiter.counter.client.scan_iter(f"{limiter.counter.prefix}*"):
            limiter.counter.client.delete(name)
    application.extensions["exchange.engine"].dispose()
    empty_all_tables(engine)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def _token(client: FlaskClient, client_id: str, secret: str, address: str) -> Any:
    return client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(client_id, secret),
        environ_base={"REMOTE_ADDR": address},
    )


def test_token_requests_are_limited_per_address(limited_app: Flask) -> None:
    # Four a window, whichever client ids it tries.
    client = limited_app.test_client()
    for number in range(4):
        assert _token(client, f"fx-guess-{number}", "x", "192.0.2.50").status_code == 401
    refused = _token(client, "fx-guess-5", "x", "192.0.2.50")
    assert refused.status_code == 429
    assert refused.json is not None
    assert refused.json["code"] == "TooManyRequests"
    assert set(refused.json) == {"code", "message", "details"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert _token(client, "fx-guess-5", "x", "192.0.2.51").status_code == 401


def test_strangers_wrong_secrets_do_not_lock_out_the_client(
    limited_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong secrets are limited per client id (two a window here); the right secret is not
    refused for them, from another address or from the attacker's own."""
    caplog.set_level(logging.WARNING, logger="exchange.security")
    member = add_member(limited_app)
    client = limited_app.test_client()
    attacker, owner = "192.0.2.66", "198.51.100.66"
    assert _token(client, member.client_id, "wrong", attacker).status_code == 401
    assert _token(client, member.client_id, "wrong again", attacker).status_code == 401
    refused = _token(client, member.client_id, "still wrong", attacker)
    assert refused.status_code == 429
    assert refused.json is not None
    assert refused.json["code"] == "TooManyRequests"
    assert set(refused.json) == {"code", "message", "details"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600

    granted = _token(client, member.client_id, member.client_secret, owner)
    assert granted.status_code == 200
    assert granted.json is not None
    assert granted.json["token_type"] == "Bearer"
    # The budget is the client id's, not the address's: more wrong secrets are refused
    # from anywhere, and the right one still passes (the attacker's address has one
    # request left of its four).
    assert _token(client, member.client_id, "wrong", "203.0.113.66").status_code == 429
    assert _token(client, member.client_id, member.client_secret, attacker).status_code == 200
    # Other client ids are not affected.
    other = add_member(limited_app)
    assert _token(client, other.client_id, "wrong", owner).status_code == 401
    # The operator is told once, with the client id and where the last wrong secret came from.
    locks = [r.getMessage() for r in caplog.records if "wrong secret are refused" in r.getMessage()]
    assert len(locks) == 1
    assert member.client_id in locks[0]
    assert locks[0].endswith(f"from {attacker}")


def test_right_secrets_do_not_spend_the_budget_of_wrong_ones(limited_app: Flask) -> None:
    member = add_member(limited_app)
    client = limited_app.test_client()
    for number in range(3):
        address = f"192.0.2.{70 + number}"
        assert _token(client, member.client_id, member.client_secret, address).status_code == 200
    assert _token(client, member.client_id, "wrong", "192.0.2.80").status_code == 401
    assert _token(client, member.client_id, "wrong", "192.0.2.80").status_code == 401
    assert _token(client, member.client_id, "wrong", "192.0.2.80").status_code == 429


def test_verification_endpoints_are_limited_per_address(limited_app: Flask) -> None:
    client = limited_app.test_client()
    paths = [
        ("post", "/api/v1/labels/verify", {"json": {"text": "nonsense"}}),
        ("get", f"/api/v1/footprints/{uuid.uuid4()}/verification", {}),
        ("get", "/api/v1/log/proof/inclusion?index=0", {}),
    ]
    statuses = [
        getattr(client, method)(path, environ_base={"REMOTE_ADDR": "192.0.2.80"}, **kwargs)
        for method, path, kwargs in paths
    ]
    assert all(response.status_code != 429 for response in statuses)
    over = client.get("/api/v1/labels/1/status", environ_base={"REMOTE_ADDR": "192.0.2.80"})
    assert over.status_code == 429
    assert over.headers["Retry-After"].isdigit()
    page = client.post("/portal/verify", environ_base={"REMOTE_ADDR": "192.0.2.80"})
    assert page.status_code == 429
    # Other addresses, and unlimited endpoints, are not affected.
    assert (
        client.get(
            "/api/v1/labels/1/status", environ_base={"REMOTE_ADDR": "192.0.2.81"}
        ).status_code
        == 404
    )
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "192.0.2.80"}).status_code == 200


def test_a_trusted_proxy_names_the_client_and_no_one_else_can(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    application = _app(tmp_path, database_url, RATE_LIMIT_VERIFY="1/3600")
    client = application.test_client()
    try:
        proxy = {"REMOTE_ADDR": "127.0.0.1"}
        first = {"X-Forwarded-For": "203.0.113.1"}
        second = {"X-Forwarded-For": "203.0.113.1, 203.0.113.2"}
        assert (
            client.get("/api/v1/labels/1/status", headers=first, environ_base=proxy).status_code
            == 404
        )
        assert (
            client.get("/api/v1/labels/1/status", headers=first, environ_base=proxy).status_code
            == 429
        )
        # The proxy appends the peer it saw: the last entry is the client.
        assert (
            client.get("/api/v1/labels/1/status", headers=second, environ_base=proxy).status_code
            == 404
        )
        # A client that is no trusted proxy cannot pick a fresh address with the header.
        direct = {"REMOTE_ADDR": "198.51.100.20"}
        for number, expected in ((1, 404), (2, 429)):
            spoofed = {"X-Forwarded-For": f"203.0.113.{100 + number}"}
            response = client.get("/api/v1/labels/1/status", headers=spoofed, environ_base=direct)
            assert response.status_code == expected
    finally:
        application.extensions["exchange.engine"].dispose()
        empty_all_tables(engine)


def test_limits_can_be_turned_off(tmp_path: Path, database_url: str, engine: Engine) -> None:
    application = _app(tmp_path, database_url, RATE_LIMITS=False, RATE_LIMIT_VERIFY="1/3600")
    client = application.test_client()
    try:
        for _ in range(3):
            assert client.get("/api/v1/labels/1/status").status_code == 404
    finally:
        application.extensions["exchange.engine"].dispose()
        empty_all_tables(engine)


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, engine: Engine
) -> None:
    monkeypatch.setenv("EXCHANGE_RATE_LIMIT_VERIFY", "7/30")
    monkeypatch.setenv("EXCHANGE_LOGIN_LOCKOUT_ACCOUNT", "3/600")
    monkeypatch.setenv("EXCHANGE_FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.2")
    application = _app(tmp_path, database_url)
    try:
        assert application.config["RATE_LIMIT_VERIFY"] == Rate(7, 30)
        assert application.config["LOGIN_LOCKOUT_ACCOUNT"] == Rate(3, 600)
        assert application.config["TRUSTED_PROXIES"] == {"10.0.0.1", "10.0.0.2"}
        assert isinstance(application.extensions["exchange.limiter"].counter, DatabaseCounter)
    finally:
        application.extensions["exchange.engine"].dispose()
    monkeypatch.setenv("EXCHANGE_RATE_LIMIT_VERIFY", "lots")
    with pytest.raises(ValueError, match="HITS/SECONDS"):
        _app(tmp_path, database_url)
