"""HTTP API of data-flow supervision: the owner's outbound flows, the regulator's summary."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from exchange import web
from exchange.footprints.flows import schemas, services
from exchange.organisations import access

bp = Blueprint("flows", __name__, url_prefix="/api/v1/flows")


@bp.get("/outbound")
def outbound() -> Response:
    """Who received the caller's records: ``recordId``, ``recipient``, ``kind``, ``from``,
    ``to`` (ISO times), ``limit`` and ``cursor``; newest first."""
    principal = access.require_principal("footprints:read")
    query = services.OutboundQuery(
        record_id=request.args.get("recordId"),
        recipient_id=request.args.get("recipient"),
        kinds=schemas.parse_kinds(request.args.getlist("kind")),
        since=web.time_arg("from"),
        until=web.time_arg("to"),
        limit=web.page_limit(),
        cursor=request.args.get("cursor"),
    )
    page = services.outbound(web.session(), principal, query)
    body: dict[str, object] = {"data": [schemas.flow_json(flow) for flow in page.flows]}
    response = jsonify(body)
    if page.next_cursor:
        args = {**request.args.to_dict(), "cursor": page.next_cursor}
        next_url = url_for("flows.outbound", _external=True, **args)
        body["next"] = next_url
        response = jsonify(body)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/summary")
def summary() -> Response:
    """For the regulator: flow counts per company pair and per partner country, per kind and
    ``period`` (day, month, year) between ``from`` and ``to``; no record ids, no values."""
    principal = access.require_principal("footprints:read")
    result = services.summary(
        web.session(),
        principal,
        period=request.args.get("period", "month"),
        since=web.time_arg("from"),
        until=web.time_arg("to"),
    )
    return jsonify(schemas.summary_json(result))
