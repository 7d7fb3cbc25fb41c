"""Chain-owners' products: bill-of-materials editor, computed footprint with its breakdown,
the supply-chain picture, stale inputs, requests for missing data, the derived record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import request
from werkzeug.wrappers import Response

from exchange.aggregation import schemas, services
from exchange.aggregation.models import Product
from exchange.errors import ExchangeError
from exchange.footprints.models import FootprintRecord, RecordStatus
from exchange.organisations.models import Organisation, Role
from exchange.portal import charts
from exchange.portal import services as portal
from exchange.portal.security import roles_required
from exchange.portal.views.common import bp, db, done, form_text, principal, render
from exchange.web import pact_host

LINE_FIELDS = (
    "category",
    "label",
    "quantity",
    "unit",
    "supplierId",
    "supplierProduct",
    "recordId",
    "productId",
    "factorCode",
)
BLANK_ROWS = 3


@bp.get("/products")
@roles_required(Role.CHAIN_OWNER)
def products() -> tuple[str, int]:
    return render(
        "products.html",
        items=services.list_products(db(), principal()),
        notices=services.notices(db(), principal(), limit=20),
    )


@bp.post("/products")
@roles_required(Role.CHAIN_OWNER)
def define_product() -> Response:
    fields: dict[str, Any] = {
        "code": form_text("code", 100).strip(),
        "name": form_text("name", 300).strip(),
        "declaredUnit": form_text("declaredUnit", 32).strip(),
        "declaredAmount": form_text("declaredAmount", 40).strip() or "1",
    }
    urn = form_text("productUrn", 300).strip()
    if urn:
        fields["productUrn"] = urn
    product = services.define_product(db(), principal(), schemas.parse_product(fields))
    db().commit()
    return done("Product saved.", "portal.product", product_id=product.id)


def _line_rows(lines: list[Any]) -> list[dict[str, str]]:
    rows = [
        {
            "category": line.category,
            "label": line.label,
            "quantity": format(line.quantity.normalize(), "f"),
            "unit": line.unit,
            "supplierId": line.supplier_id or "",
            "supplierProduct": line.supplier_product or "",
            "recordId": line.record_id or "",
            "productId": line.child_product_id or "",
            "factorCode": line.factor_code or "",
        }
        for line in lines
    ]
    return rows + [dict.fromkeys(LINE_FIELDS, "") for _ in range(BLANK_ROWS)]


def _deprecated_inputs(explanation: dict[str, Any]) -> set[str]:
    """Record ids among the inputs that a newer record has superseded (stale inputs)."""
    ids: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        for item in node["components"]:
            record_id = item["input"].get("recordId")
            if record_id:
                ids.add(str(record_id))
            if "breakdown" in item:
                walk(item["breakdown"])

    walk(explanation["tree"])
    if not ids:
        return set()
    return {
        record.id
        for record in db().scalars(
            sa.select(FootprintRecord).where(
                FootprintRecord.id.in_(sorted(ids)),
                FootprintRecord.status == RecordStatus.DEPRECATED,
            )
        )
    }


def _components(tree: dict[str, Any]) -> list[tuple[str, Decimal]]:
    return [
        (
            f"{item['position']}. {item['label'] or item['kind']}",
            Decimal(item["contributionToRootExcludingBiogenicUptake"]),
        )
        for item in tree["components"]
    ]


@bp.get("/products/<id:product_id>")
@roles_required(Role.CHAIN_OWNER)
def product(product_id: str) -> tuple[str, int]:
    session = db()
    found: Product = services.own_product(session, principal(), product_id)
    result = services.result_of(session, found.id)
    explanation: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    problem: str | None = None
    if services.lines_of(session, found.id):
        try:
            explanation = services.explain(session, principal(), found.id)
            document = services.result_document(session, principal(), found.id)
            session.commit()
        except ExchangeError as error:
            session.rollback()
            problem = error.message
    stale_inputs: set[str] = set()
    pictures: dict[str, Any] = {}
    if explanation is not None:
        stale_inputs = _deprecated_inputs(explanation)
        unit = f"kg CO2e / {found.declared_amount.normalize():f} {found.declared_unit}"
        pictures["tiers"] = charts.bar_chart(
            "By tier",
            [
                (f"tier {item['tier']}", Decimal(item["pcfExcludingBiogenicUptake"]))
                for item in explanation["byTier"]
            ],
            unit,
        )
        pictures["components"] = charts.bar_chart(
            "By component", _components(explanation["tree"]), unit
        )
        nodes, edges = charts.graph_of_explanation(explanation["tree"], stale_inputs)
        pictures["graph"] = charts.supply_chain("Supply chain", nodes, edges)
        result = services.result_of(session, found.id)
    missing = (document or {}).get("missingSupplierData", [])
    suppliers = {str(item.get("supplierId")) for item in missing}
    names = {
        organisation.id: organisation.name
        for organisation in session.scalars(
            sa.select(Organisation).where(Organisation.id.in_(sorted(suppliers)))
        )
    }
    return render(
        "product.html",
        names=names,
        product=found,
        result=result,
        rows=_line_rows(services.lines_of(session, found.id)),
        explanation=explanation,
        missing=missing,
        stale_inputs=stale_inputs,
        pictures=pictures,
        problem=problem,
        derived=services.derived_records_of(session, found.id),
        categories=["component", "electricity", "fuel", "transport", "waste", "packaging"],
    )


def _lines_from_form() -> list[schemas.LineInput]:
    csv_text = form_text("csv", 2_000_000).strip()
    if csv_text:
        return schemas.parse_csv(csv_text)
    columns = {name: request.form.getlist(name) for name in LINE_FIELDS}
    count = max((len(values) for values in columns.values()), default=0)
    items: list[dict[str, str]] = []
    for index in range(min(count, 5000)):
        row = {
            name: values[index].strip()[:300]
            for name, values in columns.items()
            if index < len(values) and values[index].strip()
        }
        if set(row) - {"category"}:  # a row with only its category chosen is an empty row
            items.append(row)
    return schemas.parse_lines(items)


@bp.post("/products/<id:product_id>/bom")
@roles_required(Role.CHAIN_OWNER)
def save_bom(product_id: str) -> Response:
    services.replace_bom(db(), principal(), product_id, _lines_from_form())
    db().commit()
    return done("Bill of materials saved.", "portal.product", product_id=product_id)


@bp.post("/products/<id:product_id>/compute")
@roles_required(Role.CHAIN_OWNER)
def compute(product_id: str) -> Response:
    services.compute_product(db(), principal(), product_id)
    db().commit()
    return done("Footprint computed.", "portal.product", product_id=product_id)


@bp.post("/products/<id:product_id>/request-missing")
@roles_required(Role.CHAIN_OWNER)
def request_missing(product_id: str) -> Response:
    sent = services.request_missing(db(), principal(), product_id, host=pact_host())
    db().commit()
    message = "Requests sent." if sent else "No supplier data is missing."
    return done(message, "portal.product", product_id=product_id)


@bp.post("/products/<id:product_id>/derive")
@roles_required(Role.CHAIN_OWNER)
def derive(product_id: str) -> Response:
    """The derived PACT footprint becomes a draft, signed like any record."""
    draft_document = services.derived_draft(db(), principal(), product_id, host=pact_host())
    draft = portal.create_draft(db(), principal(), kind="footprint", payload=draft_document)
    db().commit()
    return done("Draft ready: now sign it.", "portal.draft", draft_id=draft.id)
