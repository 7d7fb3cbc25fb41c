"""``GET /api/v1/openapi.json``: the OpenAPI document of this exchange's API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from exchange.apidoc.spec import build_document

bp = Blueprint("apidoc", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document of every API route, built once per app from its routes."""
    document: dict[str, Any] | None = current_app.extensions.get("exchange.openapi")
    if document is None:
        document = build_document(current_app)
        current_app.extensions["exchange.openapi"] = document
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
