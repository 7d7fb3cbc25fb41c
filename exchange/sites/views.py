"""HTTP API of sites: register, list, record output, roll up (JSON and a printable page)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from exchange import web
from exchange.db import utcnow
from exchange.organisations import access
from exchange.organisations.schemas import parse
from exchange.sites import schemas, services
from exchange.trade.schemas import PAGE_POLICY

bp = Blueprint("sites", __name__, url_prefix="/api/v1/sites", template_folder="templates")


@bp.post("")
def register() -> Response:
    principal = access.require_principal("footprints:write")
    session = web.session()
    site = services.register_site(
        session, principal, parse(schemas.SiteRequest, web.json_object()).to_new()
    )
    session.commit()
    response = jsonify(schemas.site_json(site))
    response.status_code = 201
    return response


@bp.get("")
def list_sites() -> Response:
    principal = access.require_principal("footprints:read")
    sites = services.list_sites(web.session(), principal)
    return jsonify({"data": [schemas.site_json(site) for site in sites]})


@bp.get("/<id:site_id>")
def get_site(site_id: str) -> Response:
    principal = access.require_principal("footprints:read")
    return jsonify(schemas.site_json(services.get_site(web.session(), principal, site_id)))


@bp.post("/<id:site_id>/productions")
def record_production(site_id: str) -> Response:
    principal = access.require_principal("footprints:write")
    session = web.session()
    production = services.record_production(
        session, principal, site_id, parse(schemas.ProductionRequest, web.json_object()).to_new()
    )
    session.commit()
    response = jsonify(schemas.production_json(production))
    response.status_code = 201
    return response


def _rollup_document(site_id: str) -> dict[str, object]:
    principal = access.require_principal("footprints:read")
    session = web.session()
    now = web.time_arg("asOf") or utcnow()
    period_from, period_to = web.time_arg("from"), web.time_arg("to")
    whole, factories = services.site_rollup(
        session, principal, site_id, now=now, period_from=period_from, period_to=period_to
    )
    site = services.get_site(session, principal, site_id)
    return schemas.site_rollup_json(
        site, whole, factories, now=now, period_from=period_from, period_to=period_to
    )


@bp.get("/<id:site_id>/rollup")
def rollup(site_id: str) -> Response:
    return jsonify(_rollup_document(site_id))


@bp.get("/<id:site_id>/rollup.html")
def rollup_page(site_id: str) -> Response:
    html = render_template("sites/rollup.html", doc=_rollup_document(site_id))
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
