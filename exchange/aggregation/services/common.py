"""What every part of aggregation shares: scopes, PACT declared units, the records an
organisation may use, and the caller's own products."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities
from exchange.aggregation import commitments
from exchange.aggregation.models import DerivedRecord, Product
from exchange.db import chunked
from exchange.errors import NotFound, ValidationFailed
from exchange.factors import units
from exchange.footprints import services as footprints
from exchange.footprints.models import FootprintRecord
from exchange.organisations.principals import Principal

READ_SCOPE: Final = "footprints:read"
WRITE_SCOPE: Final = "footprints:write"
# The signed provenance extension's schema (confidential: commitments, not lines); every
# version's path starts with PROVENANCE_EXTENSION_PREFIX.
PROVENANCE_EXTENSION_PATH: Final = commitments.PROVENANCE_PATH
PROVENANCE_EXTENSION_PREFIX: Final = "/api/v1/aggregation/extensions/provenance/"


# PACT's declaredUnitOfMeasurement for each unit symbol a product may be declared in.
PACT_UNITS: Final = {
    "kg": "kilogram",
    "L": "liter",
    "m3": "cubic meter",
    "kWh": "kilowatt hour",
    "MJ": "megajoule",
    "t·km": "ton kilometer",
    "m2": "square meter",
    "piece": "piece",
}


def pact_unit(symbol: str) -> str:
    """The PACT declared unit of a unit symbol or alias; other units cannot be declared."""
    try:
        found = units.unit(symbol).symbol
    except units.UnitError as exc:
        raise ValidationFailed(
            str(exc), details=[{"field": "declaredUnit", "message": str(exc)}]
        ) from exc
    if found not in PACT_UNITS:
        raise ValidationFailed(
            f"a product is declared per one of {', '.join(PACT_UNITS.values())}",
            details=[{"field": "declaredUnit", "message": "not a PACT declared unit"}],
        )
    return PACT_UNITS[found]


def visible_record_ids(session: Session, owner_id: str, record_ids: Collection[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunked(record_ids):
        found.update(
            session.scalars(
                sa.select(FootprintRecord.id).where(
                    FootprintRecord.id.in_(chunk), footprints.visible_to(owner_id)
                )
            )
        )
    return found


def own_product(session: Session, principal: Principal, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.owner_id != principal.organisation_id:
        raise NotFound(f"you have no product {product_id}")
    return product


def derived_records_of(session: Session, product_id: str) -> list[DerivedRecord]:
    return list(
        session.scalars(
            sa.select(DerivedRecord)
            .where(DerivedRecord.product_id == product_id)
            .order_by(DerivedRecord.linked_at, DerivedRecord.record_id)
        )
    )


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "owner": product.owner_id,
        "productUrn": product.product_urn,
        "declaredUnit": product.declared_unit,
        "declaredAmount": quantities.rounded_text(product.declared_amount),
    }
