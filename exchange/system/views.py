"""Liveness and the exchange's published keys."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from exchange import signing, web
from exchange.system.services import database_answers

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    healthy = database_answers(current_app.extensions["exchange.engine"])
    response = jsonify({"status": "ok" if healthy else "unavailable", "database": healthy})
    response.status_code = 200 if healthy else 503
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    key = web.exchange_key()
    jwk = {**signing.public_jwk(key.public_key), "kid": key.kid, "alg": "EdDSA", "use": "sig"}
    response = jsonify({"keys": [jwk]})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
