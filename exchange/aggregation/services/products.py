"""Defining chain-owners' products and their bills of materials (a cycle is refused)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.aggregation import engine
from exchange.aggregation.models import BomLine, Product, Result
from exchange.aggregation.schemas import LineInput, ProductInput
from exchange.aggregation.services.common import (
    READ_SCOPE,
    WRITE_SCOPE,
    own_product,
    pact_unit,
    visible_record_ids,
)
from exchange.aggregation.services.staleness import definition_changed
from exchange.db import utcnow
from exchange.errors import ValidationFailed
from exchange.factors import units
from exchange.footprints.models import FootprintRecord, Share
from exchange.organisations.models import Organisation
from exchange.organisations.principals import Principal


def usable_product(session: Session, owner_id: str, product_id: str) -> Product | None:
    """A product of the graph the organisation may use: its own, or one shared with it."""
    product = session.get(Product, product_id)
    if product is None:
        return None
    if product.owner_id == owner_id:
        return product
    shared = session.scalar(
        sa.select(Share.id).where(
            Share.grantee_id == owner_id,
            Share.owner_id == product.owner_id,
            Share.product_id == product.product_urn.lower(),
        )
    )
    return product if shared is not None else None


def _check_line(
    session: Session, principal: Principal, index: int, item: LineInput
) -> dict[str, Any]:
    """A validated line as column values; every error names its field."""
    field = f"lines.{index}"
    kinds = [
        name
        for name, given in (
            ("supplier", item.supplier_id is not None or item.supplier_product is not None),
            ("record", item.record_id is not None),
            ("product", item.product_id is not None),
        )
        if given
    ]
    if len(kinds) > 1 or (not kinds and item.factor_code is None):
        raise ValidationFailed(
            "a line is a supplier product, a pinned record, a product of the graph, or a factor",
            details=[{"field": field, "message": "give exactly one kind of input"}],
        )
    try:
        units.unit(item.unit)
    except units.UnitError as exc:
        raise ValidationFailed(
            str(exc), details=[{"field": f"{field}.unit", "message": str(exc)}]
        ) from exc
    values: dict[str, Any] = {
        "category": item.category,
        "label": item.label,
        "quantity": item.quantity,
        "unit": item.unit,
        "supplier_id": None,
        "supplier_product": None,
        "record_id": None,
        "child_product_id": None,
        "factor_code": item.factor_code,
    }
    if "supplier" in kinds:
        if item.supplier_id is None or item.supplier_product is None:
            raise ValidationFailed(
                "a supplier line names supplierId and supplierProduct",
                details=[{"field": field, "message": "supplierId and supplierProduct"}],
            )
        if session.get(Organisation, item.supplier_id) is None:
            raise ValidationFailed(
                f"no organisation {item.supplier_id}",
                details=[{"field": f"{field}.supplierId", "message": "unknown organisation"}],
            )
        values["supplier_id"] = item.supplier_id
        values["supplier_product"] = item.supplier_product.lower()
    elif "record" in kinds:
        assert item.record_id is not None
        record_id = item.record_id.lower()
        if not visible_record_ids(session, principal.organisation_id, [record_id]):
            raise ValidationFailed(
                f"no footprint {item.record_id} has been shared with you",
                details=[{"field": f"{field}.recordId", "message": "not found"}],
            )
        owner = session.scalar(
            sa.select(FootprintRecord.owner_id).where(FootprintRecord.id == record_id)
        )
        values["record_id"] = record_id
        values["supplier_id"] = owner
    elif "product" in kinds:
        assert item.product_id is not None
        child = usable_product(session, principal.organisation_id, item.product_id)
        if child is None:
            raise ValidationFailed(
                f"no product {item.product_id} you may use",
                details=[{"field": f"{field}.productId", "message": "not found"}],
            )
        values["child_product_id"] = child.id
    return values


def define_product(session: Session, principal: Principal, data: ProductInput) -> Product:
    """Create the caller's product with this code, or change it; lines replace the BOM."""
    principal.require_scope(WRITE_SCOPE)
    pact_unit(data.declared_unit)
    if data.declared_amount <= 0:
        raise ValidationFailed(
            "declaredAmount must be positive",
            details=[{"field": "declaredAmount", "message": "must be positive"}],
        )
    product = session.scalar(
        sa.select(Product).where(
            Product.owner_id == principal.organisation_id, Product.code == data.code
        )
    )
    now = utcnow()
    if product is None:
        product_id = str(uuid.uuid4())
        product = Product(
            id=product_id,
            owner_id=principal.organisation_id,
            code=data.code,
            created_at=now,
        )
        session.add(product)
    product.name = data.name
    product.declared_unit = data.declared_unit
    product.declared_amount = data.declared_amount
    product.mass_per_declared_unit = data.mass_per_declared_unit
    product.product_urn = (data.product_urn or f"urn:uuid:{product.id}").lower()
    product.updated_at = now
    session.flush()
    if data.lines is not None:
        replace_bom(session, principal, product.id, data.lines)
    else:
        definition_changed(session, [product.id], f"product {product.code} was changed")
    return product


def replace_bom(
    session: Session, principal: Principal, product_id: str, items: Sequence[LineInput]
) -> list[BomLine]:
    """Replace a product's bill of materials; a cycle through the graph is refused."""
    principal.require_scope(WRITE_SCOPE)
    product = own_product(session, principal, product_id)
    rows = [_check_line(session, principal, index, item) for index, item in enumerate(items)]
    children = {row["child_product_id"] for row in rows if row["child_product_id"]}
    cycle = _cycle_through(session, product.id, children)
    if cycle is not None:
        names = dict(
            session.execute(sa.select(Product.id, Product.code).where(Product.id.in_(cycle))).all()
        )
        error = engine.CycleError(cycle, names)
        raise ValidationFailed(error.message, details=error.details)
    session.execute(sa.delete(BomLine).where(BomLine.product_id == product.id))
    lines = [BomLine(product_id=product.id, position=i, **row) for i, row in enumerate(rows)]
    session.add_all(lines)
    product.updated_at = utcnow()
    session.flush()
    definition_changed(
        session, [product.id], f"the bill of materials of {product.code} was changed"
    )
    return lines


def _cycle_through(session: Session, product_id: str, children: set[str]) -> list[str] | None:
    """The cycle the new children would close back to ``product_id``, if any."""
    graph: dict[str, list[str]] = {product_id: sorted(children)}
    frontier = set(children)
    while frontier:
        rows = session.execute(
            sa.select(BomLine.product_id, BomLine.child_product_id).where(
                BomLine.product_id.in_(sorted(frontier)),
                BomLine.child_product_id.is_not(None),
                BomLine.product_id != product_id,
            )
        )
        for parent, child in rows:
            assert child is not None
            graph.setdefault(parent, []).append(child)
        for node in frontier:
            graph.setdefault(node, [])
        frontier = {child for kids in graph.values() for child in kids} - set(graph)
    cycle = engine.find_cycle(graph)
    if cycle is not None and product_id in cycle[:-1]:
        start = cycle.index(product_id)
        cycle = [*cycle[start:-1], *cycle[:start], product_id]
    return cycle


def list_products(session: Session, principal: Principal) -> list[tuple[Product, Result | None]]:
    principal.require_scope(READ_SCOPE)
    rows = session.execute(
        sa.select(Product, Result)
        .outerjoin(Result, Result.product_id == Product.id)
        .where(Product.owner_id == principal.organisation_id)
        .order_by(Product.code)
    )
    return list(rows)


def lines_of(session: Session, product_id: str) -> list[BomLine]:
    return list(
        session.scalars(
            sa.select(BomLine).where(BomLine.product_id == product_id).order_by(BomLine.position)
        )
    )


def result_of(session: Session, product_id: str) -> Result | None:
    return session.get(Result, product_id)
