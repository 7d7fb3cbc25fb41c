"""Health and the exchange's published key."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from exchange import create_app, signing
from exchange.keyring import KEY_FILE_NAME
from tests.factories import add_member, json_of


def test_healthz_checks_the_database_and_names_the_log_size(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True, "logSize": 0}
    add_member(app)  # registering its key appends to the log
    assert json_of(client.get("/healthz"))["logSize"] == 1


def test_healthz_answers_503_when_the_database_does_not(tmp_path: Path) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'no.db'}"},
        instance_path=str(tmp_path / "instance"),
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": False, "logSize": None}


def test_jwks_publishes_the_key_created_on_first_start(app: Flask, client: FlaskClient) -> None:
    key_file = Path(app.instance_path) / KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    (jwk,) = json_of(client.get("/.well-known/jwks.json"))["keys"]
    public_key = signing.public_key_from_jwk({k: jwk[k] for k in ("kty", "crv", "x")})
    assert jwk["kid"] == signing.key_id(public_key) == app.extensions["exchange.key"].kid


def test_unknown_paths_and_methods_answer_in_json(client: FlaskClient) -> None:
    missing = client.get("/no/such/thing")
    assert (missing.status_code, json_of(missing)["code"]) == (404, "NotFound")
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert set(json_of(wrong)) == {"code", "message", "details"}
