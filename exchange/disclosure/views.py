"""HTTP API of the disclosure regime: requirements (the regulator's), a company's
compliance, the regulator's overview, reminders; printable compliance pages."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, render_template, request

from exchange import web
from exchange.db import ROW_ID_MAX, utcnow
from exchange.disclosure import schemas, services
from exchange.disclosure.models import ComplianceState
from exchange.organisations import access
from exchange.organisations.schemas import parse
from exchange.trade.schemas import PAGE_POLICY

bp = Blueprint("disclosure", __name__, url_prefix="/api/v1/disclosure", template_folder="templates")


def _as_of() -> dt.datetime:
    """``?asOf=`` (an ISO 8601 time with a zone) to see states at another moment; else now."""
    return web.time_arg("asOf") or utcnow()


def _page(html: str) -> Response:
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/requirements")
def define() -> Response:
    principal = access.require_principal("footprints:write")
    session = web.session()
    body = parse(schemas.RequirementRequest, web.json_object())
    requirement = services.define_requirement(session, principal, body.to_new(), now=utcnow())
    session.commit()
    response = jsonify(schemas.requirement_json(requirement))
    response.status_code = 201
    return response


@bp.get("/requirements")
def requirements() -> Response:
    access.require_principal("footprints:read")
    found = services.list_requirements(web.session())
    return jsonify({"data": [schemas.requirement_json(item) for item in found]})


@bp.get("/requirements/<rowid:requirement_id>")
def requirement(requirement_id: int) -> Response:
    access.require_principal("footprints:read")
    return jsonify(
        schemas.requirement_json(services.get_requirement(web.session(), requirement_id))
    )


@bp.post("/requirements/<rowid:requirement_id>/withdraw")
def withdraw(requirement_id: int) -> Response:
    principal = access.require_principal("footprints:write")
    session = web.session()
    withdrawn = services.withdraw_requirement(session, principal, requirement_id, now=utcnow())
    session.commit()
    return jsonify(schemas.requirement_json(withdrawn))


def _compliance() -> tuple[dt.datetime, list[services.Obligation]]:
    principal = access.require_principal("footprints:read")
    now = _as_of()
    return now, services.my_compliance(web.session(), principal, now=now)


@bp.get("/compliance")
def compliance() -> Response:
    now, obligations = _compliance()
    return jsonify(
        {"asOf": now.isoformat(), "data": [schemas.obligation_json(o) for o in obligations]}
    )


@bp.get("/compliance.html")
def compliance_page() -> Response:
    now, obligations = _compliance()
    items = [schemas.obligation_json(o) for o in obligations]
    return _page(render_template("disclosure/compliance.html", as_of=now, items=items))


def _overview() -> tuple[dt.datetime, dict[str, object]]:
    principal = access.require_principal("footprints:read")
    now = _as_of()
    state_text = request.args.get("state")
    state = (
        None
        if state_text is None
        else web.choice_field({"state": state_text}, "state", ComplianceState)
    )
    requirement_id = web.int_arg(
        "requirement", minimum=1, maximum=ROW_ID_MAX, message="requirement is a requirement's id"
    )
    entries = services.overview(
        web.session(), principal, now=now, requirement_id=requirement_id, state=state
    )
    return now, schemas.overview_json(entries)


@bp.get("/overview")
def overview() -> Response:
    now, document = _overview()
    return jsonify({"asOf": now.isoformat(), **document})


@bp.get("/overview.html")
def overview_page() -> Response:
    now, document = _overview()
    return _page(render_template("disclosure/overview.html", as_of=now, doc=document))


@bp.get("/reminders")
def reminders() -> Response:
    principal = access.require_principal("footprints:read")
    found = services.reminders_of(web.session(), principal, limit=web.page_limit())
    return jsonify({"data": [schemas.reminder_json(item) for item in found]})
