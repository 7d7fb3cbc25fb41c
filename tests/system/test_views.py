"""Health and the exchange's published key."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.keyring import KEY_FILE_NAME


def test_healthz_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True}


def test_jwks_publishes_the_key_created_on_first_start(app: Flask, client: FlaskClient) -> None:
    key_file = Path(app.instance_path) / KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    (jwk,) = client.get("/.well-known/jwks.json").json["keys"]
    public_key = signing.public_key_from_jwk({k: jwk[k] for k in ("kty", "crv", "x")})
    assert jwk["kid"] == signing.key_id(public_key) == app.extensions["exchange.key"].kid


def test_unknown_paths_and_methods_answer_in_json(client: FlaskClient) -> None:
    missing = client.get("/no/such/thing")
    assert (missing.status_code, missing.json["code"]) == (404, "NotFound")
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert set(wrong.json) == {"code", "message", "details"}
