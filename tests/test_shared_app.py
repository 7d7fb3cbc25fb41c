"""The worker's shared test app (tests/shared_app.py): whatever a test does to it, the next
test gets the app a fresh ``create_app`` would have given it."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy.engine import Engine

from exchange.keyring import rotate_exchange_key
from exchange.security.services import Rate
from tests.conftest import empty_all_tables
from tests.shared_app import SharedApp


def test_a_test_leaves_nothing_to_the_next(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    shared = SharedApp.build(database_url, tmp_path / "instance")
    app = shared.app
    try:
        metrics_before = _metrics(app)
        key = app.extensions["exchange.keyring"].current()
        client = app.test_client()
        jwks = client.get("/.well-known/jwks.json").get_json()

        # What a careless (or hostile) test does: config, extensions, a key rotation, rate
        # counters (shared and leased), metrics, a stray file in the instance folder.
        app.config["MAX_CONTENT_LENGTH"] = 10
        app.extensions["exchange.log_sources"] = {}
        rotated = rotate_exchange_key(Path(app.instance_path))
        assert app.extensions["exchange.keyring"].current().kid == rotated.kid
        (Path(app.instance_path) / "stray.txt").write_text("left behind")
        limiter = app.extensions["exchange.limiter"]
        tight = Rate.parse("1/3600")
        assert limiter.hit("test", "203.0.113.9", tight).allowed
        assert not limiter.hit("test", "203.0.113.9", tight).allowed
        assert client.get("/healthz").status_code == 200
        # Error answers, whose handler lookups Flask records in ``error_handler_spec``.
        assert client.post("/api/v1/footprints", json={}).status_code == 401
        assert client.get("/no/such/page").status_code == 404
        assert _metrics(app) != metrics_before

        assert shared.reusable()
        shared.reset()

        assert _metrics(app) == metrics_before  # (before this test's requests below)
        assert app.config["MAX_CONTENT_LENGTH"] != 10
        assert app.extensions["exchange.log_sources"] != {}
        assert app.extensions["exchange.keyring"].current().kid == key.kid
        assert app.extensions["exchange.key"].kid == key.kid
        assert not (Path(app.instance_path) / "stray.txt").exists()
        assert app.test_client().get("/.well-known/jwks.json").get_json() == jwks
        assert app.extensions["exchange.limiter"].hit("test", "203.0.113.9", tight).allowed
    finally:
        shared.dispose()
        empty_all_tables(engine)


def test_a_test_that_adds_a_route_makes_the_next_one_build_an_app(
    database_url: str, tmp_path: Path
) -> None:
    shared = SharedApp.build(database_url, tmp_path / "instance")
    try:
        shared.app.add_url_rule("/stray", "stray", lambda: "stray")
        assert not shared.reusable()
    finally:
        shared.dispose()


def test_a_test_that_adds_an_error_handler_makes_the_next_one_build_an_app(
    database_url: str, tmp_path: Path
) -> None:
    shared = SharedApp.build(database_url, tmp_path / "instance")
    try:
        shared.app.register_error_handler(418, lambda error: ("teapot", 418))
        assert not shared.reusable()
    finally:
        shared.dispose()


def _metrics(app: Flask) -> str:
    exposition: bytes = app.extensions["exchange.metrics"].exposition()[0]
    return exposition.decode()
