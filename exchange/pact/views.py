"""HTTP surface of the PACT v3 host (``/3/...``) and of footprint requests in the hub."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import msgspec
from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy.orm import Session

from exchange import pact_wire, web
from exchange.db import iso_or_none
from exchange.errors import BadRequest, ValidationFailed
from exchange.footprints import services as footprints
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import FlowKind
from exchange.footprints.models import Share
from exchange.organisations import access
from exchange.pact import services
from exchange.pact.models import EventEndpoint, FootprintRequest, RequestStatus
from exchange.pact_wire.filters import criteria_from_query, criteria_from_request
from exchange.pact_wire.host import SIGNATURE_EXTENSION_PATH

bp = Blueprint("pact", __name__)

DEFAULT_PAGE = 100


def records_accepted(session: Session, created: Sequence[footprints.NewRecord]) -> None:
    """Listens to :data:`exchange.footprints.views.RECORDS_ACCEPTED`: the open requests new
    records answer, and the notices their grantees' PACT hosts are sent."""
    services.records_accepted(session, created, host=web.pact_host())


def record_shared(session: Session, grant: Share) -> None:
    """Listens to :data:`exchange.footprints.views.RECORD_SHARED`: the grantee's PACT host
    hears of the records it may now read."""
    services.record_shared(session, grant, web.pact_host())


def _raw_json(document: Any, headers: dict[str, str] | None = None) -> Response:
    """A document holding served footprints (``msgspec.Raw``), which go out as they are."""
    return Response(msgspec.json.encode(document), mimetype="application/json", headers=headers)


def _pact_limit() -> int:
    """``limit`` as PACT reads it: a host may return fewer, so a large one is capped."""
    limit = web.int_arg(
        "limit", minimum=1, maximum=2**63 - 1, message="limit must be a positive integer"
    )
    maximum: int = current_app.config["PAGE_SIZE_MAX"]
    return DEFAULT_PAGE if limit is None else min(limit, maximum)


@bp.get("/3/footprints")
def list_footprints() -> Response:
    """ListFootprints: the caller's visible footprints meeting every filter, newest first.

    The ``Link`` to the next page holds a position, not a session, so it can be called
    again, at any later time, and shows what was there at that position.
    """
    principal = access.require_principal("footprints:read")
    host = web.pact_host()
    session = web.session()
    page = footprints.list_records(
        session,
        principal,
        limit=_pact_limit(),
        cursor=request.args.get("cursor"),
        criteria=criteria_from_query(request.args.items(multi=True)),
    )
    if flows.record_reads(session, principal, page.records, FlowKind.PACT_LIST):
        session.commit()
    headers = {}
    if page.next_cursor:
        args = request.args.copy()
        args["cursor"] = page.next_cursor
        target = (
            url_for("pact.list_footprints", _external=True)
            + "?"
            + urlencode(list(args.items(multi=True)))
        )
        headers["Link"] = f'<{target}>; rel="next"'
    served = footprints.served_to(session, page.records, principal)
    data = [
        msgspec.Raw(services.pact_footprint_json(record, host, footprint_json=served[record.id]))
        for record in page.records
    ]
    return _raw_json({"data": data}, headers=headers)


@bp.get("/3/footprints/<id:record_id>")
def get_footprint(record_id: str) -> Response:
    """GetFootprint; 403 only for a record the caller knows of, 404 for any other."""
    principal = access.require_principal("footprints:read")
    session = web.session()
    record = footprints.get_record_or_deny(session, principal, record_id)
    if flows.record_reads(session, principal, [record], FlowKind.PACT_GET):
        session.commit()
    served = footprints.served_to(session, [record], principal)[record.id]
    footprint = services.pact_footprint_json(record, web.pact_host(), footprint_json=served)
    return _raw_json({"data": msgspec.Raw(footprint)})


@bp.post("/3/events")
def events() -> Response:
    """Action Events: RequestCreated is answered later by an event to the sender's host."""
    principal = access.require_principal("footprints:read")
    body = web.json_body(mimetypes=frozenset({"application/cloudevents+json", "application/json"}))
    session = web.session()
    services.receive_event(session, principal, body, web.pact_host())
    session.commit()
    return Response(status=200)


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """Discovery of the token endpoint, as PACT clients look for it."""
    base = request.host_url.rstrip("/")
    return jsonify(
        {
            "issuer": base,
            "token_endpoint": url_for("organisations.token", _external=True),
            "jwks_uri": url_for("system.jwks", _external=True),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": ["token"],
            "scopes_supported": ["footprints:read", "footprints:write", "keys:write"],
        }
    )


@bp.get(SIGNATURE_EXTENSION_PATH)
def signature_extension_schema() -> Response:
    return jsonify(services.signature_extension_schema(web.pact_host()))


# --- the caller's own PACT host ------------------------------------------------------------


def _endpoint_json(endpoint: EventEndpoint) -> dict[str, Any]:
    return {
        "baseUrl": endpoint.base_url,
        "clientId": endpoint.client_id,
        "updatedAt": endpoint.updated_at.isoformat(),
    }


@bp.put("/api/v1/events-endpoint")
def put_events_endpoint() -> Response:
    """``{"baseUrl", "clientId", "clientSecret"}`` of the caller's PACT host, for callbacks."""
    principal = access.require_principal("footprints:write")
    body = web.json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object with baseUrl, clientId and clientSecret")
    fields = {name: body.get(name) for name in ("baseUrl", "clientId", "clientSecret")}
    wrong = [name for name, value in fields.items() if not isinstance(value, str)]
    if wrong:
        raise ValidationFailed(
            "the events endpoint is not valid",
            details=[{"field": name, "message": "a string is required"} for name in wrong],
        )
    session = web.session()
    endpoint = services.register_endpoint(
        session,
        principal,
        base_url=str(fields["baseUrl"]),
        client_id=str(fields["clientId"]),
        client_secret=str(fields["clientSecret"]),
        key=web.exchange_key(),
        allow_private=current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
    )
    session.commit()
    return jsonify(_endpoint_json(endpoint))


@bp.get("/api/v1/events-endpoint")
def get_events_endpoint() -> Response:
    principal = access.require_principal("footprints:read")
    return jsonify(_endpoint_json(services.endpoint_of(web.session(), principal)))


# --- footprint requests in the hub ---------------------------------------------------------


def _request_json(item: FootprintRequest) -> dict[str, Any]:
    return {
        "id": item.id,
        "requester": item.requester_id,
        "supplier": item.supplier_id,
        "criteria": item.criteria,
        "comment": item.comment,
        "status": item.status.value,
        "viaPact": item.event_id is not None,
        "createdAt": item.created_at.isoformat(),
        "answeredAt": iso_or_none(item.answered_at),
        "answer": item.answer,
    }


@bp.post("/api/v1/requests")
def create_request() -> Response:
    """``{"supplierId", "criteria": {PACT request criteria}, "comment"}``."""
    principal = access.require_principal("footprints:read")
    body = web.json_body()
    if not isinstance(body, dict) or not isinstance(body.get("supplierId"), str):
        raise ValidationFailed(
            "name the supplier", details=[{"field": "supplierId", "message": "required"}]
        )
    criteria_data = pact_wire.parse_wire(
        pact_wire.RequestCreatedData,
        body.get("criteria", {}),
        message="the request criteria are not valid",
        prefix="criteria",
    )
    comment = body.get("comment")
    session = web.session()
    created = services.create_request(
        session,
        principal,
        supplier_id=body["supplierId"],
        criteria=criteria_from_request(criteria_data),
        comment=comment if isinstance(comment, str) else None,
        host=web.pact_host(),
    )
    session.commit()
    response = jsonify(_request_json(created))
    response.status_code = 201
    return response


@bp.get("/api/v1/requests")
def list_requests() -> Response:
    """``?direction=incoming`` for requests addressed to you; ``&status=open`` to narrow."""
    principal = access.require_principal("footprints:read")
    direction = request.args.get("direction", "outgoing")
    if direction not in {"incoming", "outgoing"}:
        raise BadRequest("direction is incoming or outgoing")
    status_text = request.args.get("status")
    try:
        status = RequestStatus(status_text) if status_text else None
    except ValueError as exc:
        raise BadRequest("status is open, fulfilled or rejected") from exc
    found = services.list_requests(
        web.session(), principal, incoming=direction == "incoming", status=status
    )
    return jsonify({"data": [_request_json(item) for item in found]})


@bp.post("/api/v1/requests/<id:request_id>/reject")
def reject_request(request_id: str) -> Response:
    """``{"message": "why"}``; the requester's host is told with a RequestRejectedEvent."""
    principal = access.require_principal("footprints:write")
    body = web.json_body()
    message = body.get("message") if isinstance(body, dict) else None
    session = web.session()
    answered = services.reject_request(
        session,
        principal,
        request_id=request_id,
        message=message if isinstance(message, str) else "",
        host=web.pact_host(),
    )
    session.commit()
    return jsonify(_request_json(answered))


@bp.post("/api/v1/requests/<id:request_id>/fulfil")
def fulfil_request(request_id: str) -> Response:
    """``{"recordIds": [...]}`` of records you hold that meet the request."""
    principal = access.require_principal("footprints:write")
    body = web.json_body()
    record_ids = body.get("recordIds") if isinstance(body, dict) else None
    if not isinstance(record_ids, list) or not all(isinstance(i, str) for i in record_ids):
        raise ValidationFailed(
            "name the records", details=[{"field": "recordIds", "message": "a list of ids"}]
        )
    session = web.session()
    answered = services.fulfil_request(
        session, principal, request_id=request_id, record_ids=record_ids, host=web.pact_host()
    )
    session.commit()
    return jsonify(_request_json(answered))
