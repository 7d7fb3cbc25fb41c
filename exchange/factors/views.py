"""HTTP API of the factor database: search, read, declare, review, import and export."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from exchange import quantities, web
from exchange.errors import BadRequest
from exchange.factors import gwp, mapping, schemas, services, units
from exchange.factors.models import Decision, FactorKind, FactorStatus
from exchange.organisations import access
from exchange.organisations.models import Role

bp = Blueprint("factors", __name__, url_prefix="/api/v1")


def _choice(name: str, kind: Any) -> Any:
    text = request.args.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise BadRequest(f"{name} is one of {', '.join(m.value for m in kind)}") from exc


def _filters() -> services.Filters:
    year = web.int_arg(
        "year", minimum=0, maximum=9999, message="year is a whole number such as 2023"
    )
    set_text = request.args.get("gwpSet")
    try:
        gwp_set = gwp.gwp_set(set_text) if set_text else None
    except gwp.GwpError as exc:
        raise BadRequest(str(exc)) from exc
    return services.Filters(
        text=request.args.get("q") or None,
        code=request.args.get("code") or None,
        region=request.args.get("region") or None,
        year=year,
        category=request.args.get("category") or None,
        kind=_choice("kind", FactorKind),
        status=_choice("status", FactorStatus),
        gwp_set=gwp_set,
    )


def _offset() -> int:
    offset = web.int_arg("offset", minimum=0, maximum=2**63 - 1, message="offset is a whole number")
    return offset or 0


@bp.get("/factors")
def list_factors() -> Response:
    """Visible versions; filters ``q`` (text), ``region``, ``year``, ``category``, ``kind``,
    ``status``, ``gwpSet``, ``code``; pages by ``limit`` and ``offset``."""
    principal = access.optional_principal()
    limit = web.page_limit()
    offset = _offset()
    found = services.search(web.session(), principal, _filters(), limit=limit + 1, offset=offset)
    body: dict[str, Any] = {"data": [schemas.factor_json(f) for f in found[:limit]]}
    if len(found) > limit:
        args = {**request.args.to_dict(), "offset": str(offset + limit)}
        body["next"] = url_for("factors.list_factors", _external=True, **args)
    return jsonify(body)


@bp.get("/factors/export")
def export_factors() -> Response:
    """Every visible version matching the filters, as ``format=csv`` or ``format=json``."""
    principal = access.optional_principal()
    file_format = request.args.get("format", "json")
    found = services.search(web.session(), principal, _filters())
    if file_format == "csv":
        return Response(schemas.factors_csv(found), mimetype="text/csv")
    if file_format == "json":
        return jsonify({"factors": [schemas.factor_json(f) for f in found]})
    raise BadRequest("format is csv or json")


def _decimal_arg(name: str) -> Decimal | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        return quantities.parse(text)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from exc


@bp.get("/factors/<id:factor_id>")
def get_factor(factor_id: str) -> Response:
    """One version with its decisions; ``unit`` (and ``massPerPiece``) or ``gwpSet``
    add the value re-expressed per another unit or in another GWP set."""
    session = web.session()
    factor = services.get_factor(session, access.optional_principal(), factor_id)
    body = schemas.factor_json(factor, services.reviews_of(session, factor))
    target_unit = request.args.get("unit")
    target_set = request.args.get("gwpSet")
    value = factor.value
    try:
        if target_set:
            value = gwp.reexpress_total(
                value, factor.gwp_set, gwp.gwp_set(target_set), schemas.stored_gases(factor)
            )
        if target_unit:
            value = units.convert_per_unit(
                value, factor.unit, target_unit, mass_per_piece=_decimal_arg("massPerPiece")
            )
    except (units.UnitError, gwp.GwpError) as exc:
        raise BadRequest(str(exc)) from exc
    if target_unit or target_set:
        unit = units.unit(target_unit).symbol if target_unit else factor.unit
        body["converted"] = {
            "value": quantities.text(value),
            "unit": unit,
            "gwpSet": gwp.gwp_set(target_set).value if target_set else factor.gwp_set.value,
        }
    return jsonify(body)


@bp.post("/factors")
def declare_factor() -> Response:
    """Declare a version (exchange format), or ``{"footprintRecordId": ...}`` plus the
    fields a record cannot give (``code``, ``licence``, ``category``, ``evidence``)."""
    principal = access.require_principal(services.WRITE_SCOPE)
    session = web.session()
    factor = services.declare(session, principal, web.json_body())
    session.commit()
    response = jsonify(schemas.factor_json(factor))
    response.status_code = 201
    response.headers["Location"] = url_for("factors.get_factor", factor_id=factor.id)
    return response


@bp.post("/factors/<id:factor_id>/review")
def review_factor(factor_id: str) -> Response:
    """``{"decision": "approve" | "return" | "reject" | "retire", "comment": "..."}``."""
    principal = access.require_principal(services.WRITE_SCOPE)
    body = web.json_object()
    decision = web.choice_field(body, "decision", Decision)
    comment = web.text_field(body, "comment")
    session = web.session()
    factor = services.review(
        session,
        principal,
        factor_id,
        decision=decision,
        comment=comment,
    )
    session.commit()
    return jsonify(schemas.factor_json(factor, services.reviews_of(session, factor)))


def _mapped_upload() -> tuple[mapping.Mapping, bytes] | None:
    """A published dataset and the mapping to read it through, when the request sends one:
    ``?mapping=<shipped name>`` with the file as the body, or multipart/form-data with the
    parts ``file`` and ``mapping`` (a TOML or JSON mapping file, or ``?mapping=<name>``)."""
    name = request.args.get("mapping")
    if request.mimetype != "multipart/form-data":
        return (mapping.shipped(name), request.get_data()) if name else None
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("a multipart import carries the dataset as the part 'file'")
    data = upload.read()
    sent = request.files.get("mapping")
    if sent is not None:
        try:
            text = sent.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest("the mapping file is not UTF-8") from exc
        syntax = "json" if (sent.filename or "").lower().endswith(".json") else None
        return mapping.parse_mapping(text, syntax=syntax), data
    if request.form.get("mapping"):
        return mapping.parse_mapping(request.form["mapping"]), data
    if name:
        return mapping.shipped(name), data
    raise BadRequest("a multipart import carries a mapping: the part 'mapping', or ?mapping=<name>")


@bp.post("/factors/import")
def import_factors() -> Response:
    """A regulator loads programme data: a CSV (text/csv) or JSON file; a per-row report.
    A published dataset in its own layout is read through a mapping (``?mapping=<name>``, or
    multipart/form-data with the parts ``file`` and ``mapping``)."""
    principal = access.require_principal(services.WRITE_SCOPE)
    principal.require_role(Role.REGULATOR, "only a regulator imports factors; others declare them")
    session = web.session()
    options: dict[str, Any] = {
        "reviewer_id": principal.organisation_id,
        "comment": "imported by the regulator",
    }
    mapped = _mapped_upload()
    if mapped is not None:
        report = mapping.import_mapped(session, mapped[1], mapped[0], **options)
    else:
        if request.mimetype == "text/csv":
            text, file_format = request.get_data(as_text=True), "csv"
        else:
            text, file_format = json.dumps(web.json_body()), "json"
        report = services.import_text(session, text, file_format, **options)
    session.commit()
    response = jsonify(report.to_json())
    response.status_code = 200 if report.count("rejected") == 0 else 207
    return response
