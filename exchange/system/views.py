"""Liveness and the exchange's published keys."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from exchange import web
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
    """Every key the exchange has signed with: the current one first, then the retired ones,
    each with its validity (``notBefore``, ``retiredAt``), so that what a retired key signed
    still verifies by its kid."""
    keys = [{**jwk, "alg": "EdDSA", "use": "sig"} for jwk in web.exchange_key().published()]
    response = jsonify({"keys": keys})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
