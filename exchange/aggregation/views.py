"""HTTP API of chain-owners' products: define, upload BOMs, compute, explain, export."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from exchange import quantities, signing, web
from exchange.aggregation import schemas, services
from exchange.aggregation.models import BomLine, Product, Result
from exchange.db import iso_or_none
from exchange.errors import BadRequest
from exchange.organisations import access
from exchange.organisations.principals import Principal

bp = Blueprint("aggregation", __name__, url_prefix="/api/v1")


def _line_json(line: BomLine) -> dict[str, Any]:
    return {
        "position": line.position,
        "category": line.category,
        "label": line.label,
        "quantity": quantities.rounded_text(line.quantity),
        "unit": line.unit,
        "supplierId": line.supplier_id,
        "supplierProduct": line.supplier_product,
        "recordId": line.record_id,
        "productId": line.child_product_id,
        "factorCode": line.factor_code,
        "resolvedRecordId": line.resolved_record_id,
        "resolvedFactorId": line.resolved_factor_id,
    }


def _result_json(result: Result | None) -> dict[str, Any] | None:
    if result is None:
        return None
    text = quantities.rounded_text
    return {
        "computedAt": result.computed_at.isoformat(),
        "stale": result.stale,
        "staleSince": iso_or_none(result.stale_since),
        "staleReason": result.stale_reason,
        "pcf": {
            "total": text(result.total),
            "fossil": text(result.fossil),
            "biogenic": text(result.biogenic),
            "landUse": text(result.land_use),
            "packaging": text(result.packaging),
        },
        "primaryDataShare": None
        if result.primary_data_share is None
        else text(result.primary_data_share),
        "coverage": None if result.coverage is None else text(result.coverage),
    }


def _product_json(product: Product, *, detail: bool = True) -> dict[str, Any]:
    session = web.session()
    document = services.product_json(product)
    document["result"] = _result_json(services.result_of(session, product.id))
    if detail:
        document["lines"] = [_line_json(line) for line in services.lines_of(session, product.id)]
        document["derivedRecords"] = [
            {
                "recordId": link.record_id,
                "resultDigest": link.result_digest,
                "matchedResult": link.matched_result,
                "linkedAt": link.linked_at.isoformat(),
            }
            for link in services.derived_records_of(session, product.id)
        ]
    return document


def _lines_from_request() -> list[schemas.LineInput]:
    if request.mimetype == "text/csv":
        try:
            text = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("the CSV is not UTF-8") from exc
        return schemas.parse_csv(text)
    return schemas.parse_lines(web.json_body())


@bp.post("/products")
def define_product() -> Response:
    """Create or change (by ``code``) one of your products, with its ``lines`` if given."""
    principal = access.require_principal("footprints:write")
    data = schemas.parse_product(web.json_body())
    session = web.session()
    product = services.define_product(session, principal, data)
    session.commit()
    response = jsonify(_product_json(product))
    response.status_code = 201
    return response


@bp.get("/products")
def list_products() -> Response:
    principal = access.require_principal("footprints:read")
    session = web.session()
    return jsonify(
        {
            "data": [
                {**services.product_json(product), "result": _result_json(result)}
                for product, result in services.list_products(session, principal)
            ]
        }
    )


@bp.get("/products/notices")
def list_notices() -> Response:
    """Why your computed footprints went stale, newest first."""
    principal = access.require_principal("footprints:read")
    return jsonify(
        {
            "data": [
                {
                    "id": notice.id,
                    "productId": notice.product_id,
                    "reason": notice.reason,
                    "createdAt": notice.created_at.isoformat(),
                }
                for notice in services.notices(web.session(), principal, limit=web.page_limit())
            ]
        }
    )


@bp.post("/products/recompute-stale")
def recompute_stale() -> Response:
    """Recompute exactly your stale products (and nothing else)."""
    principal = access.require_principal("footprints:write")
    session = web.session()
    outcome = services.recompute_stale(session, principal.organisation_id)
    session.commit()
    return jsonify({"computed": outcome.computed, "changed": outcome.changed})


@bp.get("/products/<id:product_id>")
def get_product(product_id: str) -> Response:
    principal = access.require_principal("footprints:read")
    return jsonify(_product_json(services.own_product(web.session(), principal, product_id)))


@bp.put("/products/<id:product_id>/bom")
def put_bom(product_id: str) -> Response:
    """Replace the bill of materials: ``{"lines": [...]}`` or ``text/csv``."""
    principal = access.require_principal("footprints:write")
    lines = _lines_from_request()
    session = web.session()
    services.replace_bom(session, principal, product_id, lines)
    session.commit()
    return jsonify(_product_json(services.own_product(session, principal, product_id)))


@bp.post("/products/<id:product_id>/compute")
def compute(product_id: str) -> Response:
    """Compute the product (and its own stale components); answers with the result."""
    principal = access.require_principal("footprints:write")
    session = web.session()
    services.compute_product(session, principal, product_id)
    session.commit()
    return _result_response(principal, product_id)


def _result_response(principal: Principal, product_id: str) -> Response:
    principal.require_scope("footprints:read")
    session = web.session()
    document = services.result_document(session, principal, product_id)
    stored = services.result_of(session, product_id)
    assert stored is not None
    body = {
        "digest": services.digest_of(document),
        "computedAt": stored.computed_at.isoformat(),
        "stale": stored.stale,
        "staleReason": stored.stale_reason,
        "result": document,
    }
    return Response(signing.canonical_json(body), mimetype="application/json")


@bp.get("/products/<id:product_id>/result")
def get_result(product_id: str) -> Response:
    """The reproducible result with every input and its contribution (JSON export)."""
    return _result_response(access.require_principal("footprints:read"), product_id)


@bp.get("/products/<id:product_id>/explain")
def explain(product_id: str) -> Response:
    principal = access.require_principal("footprints:read")
    return jsonify(services.explain(web.session(), principal, product_id))


@bp.get("/products/<id:product_id>/export")
def export(product_id: str) -> Response:
    """Every input of the breakdown tree as CSV (``?format=csv``, default) or JSON rows."""
    principal = access.require_principal("footprints:read")
    rows = services.export_rows(web.session(), principal, product_id)
    if request.args.get("format", "csv") == "json":
        return jsonify({"data": rows})
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(rows[0]) if rows else ["path"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return Response(buffer.getvalue(), mimetype="text/csv")


@bp.post("/products/<id:product_id>/requests")
def request_missing(product_id: str) -> Response:
    """Send a footprint request to every supplier whose data the result lacks."""
    principal = access.require_principal("footprints:read")
    session = web.session()
    sent = services.request_missing(session, principal, product_id, host=web.pact_host())
    session.commit()
    return jsonify({"data": sent})


@bp.get("/products/<id:product_id>/derived-footprint")
def derived_footprint(product_id: str) -> Response:
    """The PACT footprint draft to review, sign locally and submit to ``/api/v1/footprints``.

    Its provenance holds commitments to the input lines; making it verifies every input
    and keeps the openings, so each draft is new (sign it unchanged)."""
    principal = access.require_principal("footprints:read")
    year = web.int_arg(
        "referenceYear", minimum=1901, maximum=2999, message="referenceYear is a year such as 2025"
    )
    session = web.session()
    draft = services.derived_draft(
        session,
        principal,
        product_id,
        host=web.pact_host(),
        reference_year=year,
    )
    session.commit()
    return jsonify(draft)


@bp.get("/footprints/<id:record_id>/provenance")
def provenance(record_id: str) -> Response:
    """A derived footprint's provenance as the caller may see it: commitments and totals,
    the lines it may open, how many it may not, and the exchange's attestation."""
    principal = access.optional_principal()
    session = web.session()
    document = services.provenance_view(
        session,
        principal,
        record_id,
        key=web.exchange_key(),
        origin=current_app.config["EXCHANGE_ORIGIN"],
    )
    session.commit()
    return jsonify(document)


@bp.get("/aggregation/extensions/provenance/2.0.0/schema.json", strict_slashes=False)
def provenance_schema() -> Response:
    return jsonify(services.provenance_schema(web.pact_host()))


@bp.get("/aggregation/extensions/provenance/1.0.0/schema.json", strict_slashes=False)
def cleartext_provenance_schema() -> Response:
    """The schema of records signed before confidential provenance (no longer issued)."""
    return jsonify(services.cleartext_provenance_schema(web.pact_host()))
