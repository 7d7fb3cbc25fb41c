"""Liveness, metrics and the exchange's published keys."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, jsonify

from exchange import web
from exchange.errors import Unauthenticated
from exchange.observability import Metrics
from exchange.system.services import log_size

bp = Blueprint("system", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    size = log_size(current_app.extensions["exchange.engine"])
    healthy = size is not None
    response = jsonify(
        {"status": "ok" if healthy else "unavailable", "database": healthy, "logSize": size}
    )
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
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


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition of request counts and latencies, summed over workers."""
    token: str | None = current_app.config["METRICS_TOKEN"]
    if token is not None:
        offered = web.bearer_token() or ""
        if not hmac.compare_digest(offered.encode(), token.encode()):
            raise Unauthenticated("/metrics needs Authorization: Bearer <metrics token>")
    collected: Metrics = current_app.extensions["exchange.metrics"]
    body, content_type = collected.exposition()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
