"""Products, bills of materials, computation, explanation, staleness and derived footprints.

Reading and writing are shaped for whole graphs: the lines, sources and stored child
results of the products being computed are read with Core selects (no per-row ORM),
the pure :mod:`exchange.aggregation.engine` computes them, and results are written with
executemany statements. A recomputation of stale products touches only those products;
their other children are read as stored.

Access: a chain-owner defines and computes only its own products; supplier records are
the ones shared with it (or public); another chain-owner's product is usable when its
owner shared that product (a product share of its URN) and then appears as an opaque
input - figures and quality only, never its lines or its suppliers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.aggregation import engine
from exchange.aggregation.engine import Line, Node, Quality, Source, SourceKind
from exchange.aggregation.models import BomLine, DerivedRecord, Product, Result, StaleNotice
from exchange.aggregation.schemas import LineInput, ProductInput
from exchange.db import utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.factors import units
from exchange.factors.models import Factor, FactorStatus
from exchange.footprints.models import (
    Disclosure,
    FootprintProduct,
    FootprintRecord,
    RecordStatus,
    Share,
)
from exchange.footprints.services import NewRecord
from exchange.pact import services as pact
from exchange.pact.filters import Criteria
from exchange.partners.models import CompanyIdentifier, Organisation
from exchange.partners.services import Principal

READ_SCOPE: Final = "footprints:read"
WRITE_SCOPE: Final = "footprints:write"
PROVENANCE_EXTENSION_PATH: Final = "/api/v1/aggregation/extensions/provenance/1.0.0/schema.json"
CHUNK: Final = 900
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


def _chunks(values: Collection[str]) -> Iterable[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


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


# --- defining products -----------------------------------------------------------------------


def _visible_records(owner_id: str) -> sa.ColumnElement[bool]:
    """Records an organisation may use: public, its own, or shared with it."""
    return sa.or_(
        FootprintRecord.disclosure == Disclosure.PUBLIC,
        FootprintRecord.owner_id == owner_id,
        sa.exists().where(Share.grantee_id == owner_id, Share.record_id == FootprintRecord.id),
        sa.exists().where(
            Share.grantee_id == owner_id,
            Share.owner_id == FootprintRecord.owner_id,
            Share.product_id == FootprintProduct.product_id,
            FootprintProduct.record_id == FootprintRecord.id,
        ),
    )


def visible_record_ids(session: Session, owner_id: str, record_ids: Collection[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(record_ids):
        found.update(
            session.scalars(
                sa.select(FootprintRecord.id).where(
                    FootprintRecord.id.in_(chunk), _visible_records(owner_id)
                )
            )
        )
    return found


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
        _changed(session, [product.id], f"product {product.code} was changed")
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
    _changed(session, [product.id], f"the bill of materials of {product.code} was changed")
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


def own_product(session: Session, principal: Principal, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.owner_id != principal.organisation_id:
        raise NotFound(f"you have no product {product_id}")
    return product


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


def derived_records_of(session: Session, product_id: str) -> list[DerivedRecord]:
    return list(
        session.scalars(
            sa.select(DerivedRecord)
            .where(DerivedRecord.product_id == product_id)
            .order_by(DerivedRecord.linked_at, DerivedRecord.record_id)
        )
    )


# --- staleness -------------------------------------------------------------------------------


def _changed(session: Session, product_ids: Collection[str], reason: str) -> None:
    """A product's own definition changed: its result is dropped, its ancestors go stale."""
    session.execute(sa.delete(Result).where(Result.product_id.in_(sorted(product_ids))))
    parents = set(
        session.scalars(
            sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(sorted(product_ids)))
        )
    )
    if parents:
        mark_products_stale(session, parents, reason)


def mark_products_stale(session: Session, product_ids: Collection[str], reason: str) -> list[str]:
    """These products and every product above them, transitively, go stale.

    Each computed result that was fresh becomes stale and its owner gets a notice. The
    newly stale product ids are returned.
    """
    now = utcnow()
    seen: set[str] = set()
    frontier = set(product_ids)
    while frontier:
        seen |= frontier
        parents: set[str] = set()
        for chunk in _chunks(frontier):
            parents.update(
                session.scalars(
                    sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(chunk))
                )
            )
        frontier = parents - seen
    newly: list[tuple[str, str]] = []
    for chunk in _chunks(seen):
        newly += session.execute(
            sa.select(Result.product_id, Product.owner_id)
            .join(Product, Product.id == Result.product_id)
            .where(Result.product_id.in_(chunk), Result.stale.is_(False))
        )
    if not newly:
        return []
    ids = [product_id for product_id, _ in newly]
    for chunk in _chunks(ids):
        session.execute(
            sa.update(Result)
            .where(Result.product_id.in_(chunk))
            .values(stale=True, stale_since=now, stale_reason=reason)
        )
    session.execute(
        sa.insert(StaleNotice),
        [
            {
                "organisation_id": owner,
                "product_id": product_id,
                "reason": reason,
                "created_at": now,
            }
            for product_id, owner in sorted(newly)
        ],
    )
    return sorted(ids)


def mark_inputs_stale(
    session: Session, record_ids: Collection[str], reason: str | None = None
) -> list[str]:
    """Every derived result that used one of these records goes stale, up the tiers.

    Called when a supplier supersedes a record (the submission hook) and when a
    certification body revokes what an input relied on.
    """
    wanted = {record_id.lower() for record_id in record_ids}
    products: set[str] = set()
    for chunk in _chunks(wanted):
        products.update(
            session.scalars(
                sa.select(BomLine.product_id).where(BomLine.resolved_record_id.in_(chunk))
            )
        )
    if not products:
        return []
    why = reason or f"input record {', '.join(sorted(wanted))} is no longer valid"
    return mark_products_stale(session, products, why)


def records_accepted(session: Session, created: Sequence[NewRecord]) -> None:
    """Submission hook: superseded inputs make results stale; derived records are linked."""
    superseded = {pid: item.record.id for item in created for pid in item.preceding_ids}
    for old, new in sorted(superseded.items()):
        mark_inputs_stale(session, [old], f"input record {old} was superseded by {new}")
    arrived: list[tuple[str, str, str]] = []
    for item in created:
        if not item.preceding_ids:
            owner = item.record.owner_id
            arrived += [(owner, pid, item.record.id) for pid in sorted(item.terms.product_ids)]
    for supplier_id, supplier_product, record_id in arrived:
        waiting = set(
            session.scalars(
                sa.select(BomLine.product_id).where(
                    BomLine.supplier_id == supplier_id,
                    BomLine.supplier_product == supplier_product,
                    BomLine.record_id.is_(None),
                    BomLine.resolved_record_id.is_(None),
                )
            )
        )
        if waiting:
            mark_products_stale(
                session, waiting, f"supplier data arrived for {supplier_product}: {record_id}"
            )
    for item in created:
        _link_derived(session, item.record)


def _link_derived(session: Session, record: FootprintRecord) -> None:
    footprint = json.loads(record.footprint_json)
    for extension in footprint.get("extensions") or ():
        if not str(extension.get("dataSchema", "")).endswith(PROVENANCE_EXTENSION_PATH):
            continue
        data = extension.get("data") or {}
        product = session.get(Product, str(data.get("productId", "")))
        digest = data.get("resultDigest")
        if product is None or product.owner_id != record.owner_id or not isinstance(digest, str):
            continue
        current = _document_digest_or_none(session, product)
        session.add(
            DerivedRecord(
                record_id=record.id,
                product_id=product.id,
                result_digest=digest[:64],
                matched_result=current == digest,
                linked_at=utcnow(),
            )
        )
        session.flush()


def notices(session: Session, principal: Principal, *, limit: int = 100) -> list[StaleNotice]:
    principal.require_scope(READ_SCOPE)
    return list(
        session.scalars(
            sa.select(StaleNotice)
            .where(StaleNotice.organisation_id == principal.organisation_id)
            .order_by(StaleNotice.id.desc())
            .limit(limit)
        )
    )


# --- loading the graph -----------------------------------------------------------------------

_L = BomLine.__table__.c
_P = Product.__table__.c
_R = Result.__table__.c


@dataclasses.dataclass(slots=True)
class _Graph:
    products: dict[str, tuple[str, str, str, Decimal, Decimal | None]]  # owner, code, unit, ...
    lines: dict[str, list[tuple[Any, ...]]]


def _product_rows(session: Session, ids: Collection[str] | None) -> dict[str, tuple[Any, ...]]:
    columns = (
        _P.id,
        _P.owner_id,
        _P.code,
        _P.declared_unit,
        _P.declared_amount,
        _P.mass_per_declared_unit,
    )
    found: dict[str, tuple[Any, ...]] = {}
    if ids is None:
        for row in session.execute(sa.select(*columns)):
            found[row[0]] = row[1:]
        return found
    for chunk in _chunks(ids):
        for row in session.execute(sa.select(*columns).where(_P.id.in_(chunk))):
            found[row[0]] = row[1:]
    return found


_LINE_COLUMNS: Final = (
    _L.product_id,
    _L.id,
    _L.position,
    _L.category,
    _L.label,
    _L.quantity,
    _L.unit,
    _L.supplier_id,
    _L.supplier_product,
    _L.record_id,
    _L.child_product_id,
    _L.factor_code,
    _L.resolved_record_id,
    _L.resolved_factor_id,
)


def _line_rows(session: Session, ids: Collection[str] | None) -> list[tuple[Any, ...]]:
    query = sa.select(*_LINE_COLUMNS)
    if ids is None:
        return list(session.execute(query))
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(ids):
        rows += session.execute(query.where(_L.product_id.in_(chunk)))
    return rows


def record_source(row: Sequence[Any]) -> Source:
    """A stored record (id, owner, kid, signature, log index, canonical JSON) as a source."""
    record_id, owner_id, kid, signature, log_index, footprint_json = row
    footprint = json.loads(footprint_json)
    pcf = footprint["pcf"]
    total = Decimal(pcf["pcfIncludingBiogenicUptake"])
    excluding = Decimal(pcf["pcfExcludingBiogenicUptake"])
    dqi = pcf.get("dqi")
    pds = pcf.get("primaryDataShare")
    mass = pcf.get("productMassPerDeclaredUnit")
    return Source(
        key=record_id,
        kind=SourceKind.RECORD,
        declared_unit=pcf["declaredUnitOfMeasurement"],
        declared_amount=Decimal(pcf["declaredUnitAmount"]),
        values=(
            total,
            Decimal(pcf["fossilGhgEmissions"]),
            engine.CONTEXT.subtract(total, excluding),
            Decimal(pcf.get("landUseChangeGhgEmissions", "0")),
            Decimal(pcf.get("packagingGhgEmissions", "0")),
        ),
        quality=Quality(
            primary_data_share=None if pds is None else Decimal(pds),
            dqr=None
            if not dqi
            else (
                Decimal(dqi["technologicalDQR"]),
                Decimal(dqi["geographicalDQR"]),
                Decimal(dqi["temporalDQR"]),
            ),
            coverage=engine.ONE,
        ),
        mass_per_declared_unit=None if mass is None else Decimal(mass),
        reference={
            "recordId": record_id,
            "owner": owner_id,
            "signed": kid is not None,
            "kid": kid,
            "signature": signature,
            "logIndex": log_index,
            "productIds": footprint.get("productIds", []),
        },
    )


def factor_source(factor: Factor | Sequence[Any]) -> Source:
    if isinstance(factor, Factor):
        row: Sequence[Any] = (
            factor.id,
            factor.code,
            factor.version,
            factor.value,
            factor.unit,
            factor.gwp_set.value,
            factor.source,
        )
    else:
        row = factor
    factor_id, code, version, value, unit, gwp_set, source_text = row
    return Source(
        key=f"factor:{factor_id}",
        kind=SourceKind.FACTOR,
        declared_unit=unit,
        declared_amount=engine.ONE,
        values=(value, value, engine.ZERO, engine.ZERO, engine.ZERO),
        quality=Quality(primary_data_share=engine.ZERO, coverage=engine.ZERO),
        reference={
            "factorId": factor_id,
            "code": code,
            "version": version,
            "gwpSet": str(gwp_set),
            "source": source_text,
        },
    )


_F = Factor.__table__.c
_FACTOR_COLUMNS: Final = (_F.id, _F.code, _F.version, _F.value, _F.unit, _F.gwp_set, _F.source)


def _approved_factors(session: Session, codes: Collection[str]) -> dict[str, tuple[Any, ...]]:
    """The newest approved version of each code."""
    found: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(codes):
        rows = session.execute(
            sa.select(*_FACTOR_COLUMNS)
            .where(_F.code.in_(chunk), _F.status == FactorStatus.APPROVED.value)
            .order_by(_F.code, _F.version)
        )
        for row in rows:
            found[row[1]] = row
    return found


def _factors_by_id(session: Session, ids: Collection[str]) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(ids):
        for row in session.execute(sa.select(*_FACTOR_COLUMNS).where(_F.id.in_(chunk))):
            found[row[0]] = row
    return found


_FR = FootprintRecord.__table__.c
_RECORD_COLUMNS: Final = (
    _FR.id,
    _FR.owner_id,
    _FR.signature_kid,
    _FR.signature,
    _FR.log_index,
    _FR.footprint_json,
)


def _records(session: Session, ids: Collection[str]) -> dict[str, Source]:
    found: dict[str, Source] = {}
    for chunk in _chunks(ids):
        for row in session.execute(sa.select(*_RECORD_COLUMNS).where(_FR.id.in_(chunk))):
            found[row[0]] = record_source(row)
    return found


def _resolve_supplier_lines(
    session: Session, line_owner: Mapping[int, str], lines: Sequence[tuple[Any, ...]]
) -> dict[int, str]:
    """Line id -> the supplier's latest Active record of the product its owner may see."""
    wanted = [row for row in lines if row[7] is not None and row[8] is not None and row[9] is None]
    if not wanted:
        return {}
    pairs = sorted({(row[7], row[8]) for row in wanted})
    candidates: dict[tuple[str, str], list[tuple[dt.datetime, str]]] = {}
    for start in range(0, len(pairs), 400):
        part = pairs[start : start + 400]
        query = (
            sa.select(
                FootprintRecord.owner_id,
                FootprintProduct.product_id,
                FootprintRecord.received_at,
                FootprintRecord.id,
            )
            .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
            .where(
                FootprintRecord.status == RecordStatus.ACTIVE,
                sa.tuple_(FootprintRecord.owner_id, FootprintProduct.product_id).in_(part),
            )
        )
        for owner, product, received, record_id in session.execute(query):
            candidates.setdefault((owner, product), []).append((received, record_id))
    all_ids = {record_id for items in candidates.values() for _, record_id in items}
    visible_for: dict[str, set[str]] = {}
    resolved: dict[int, str] = {}
    for row in wanted:
        owner = line_owner[row[1]]
        if owner not in visible_for:
            visible_for[owner] = visible_record_ids(session, owner, all_ids)
        options = [
            item for item in candidates.get((row[7], row[8]), ()) if item[1] in visible_for[owner]
        ]
        if options:
            resolved[row[1]] = max(options)[1]
    return resolved


@dataclasses.dataclass(slots=True)
class _Loaded:
    nodes: dict[str, Node]
    sources: dict[str, Source]
    known: dict[str, Source]
    names: dict[str, str]
    resolved: dict[int, tuple[str | None, str | None]]  # line id -> (record id, factor id)
    previous: dict[int, tuple[str | None, str | None]]


def _load(session: Session, targets: Collection[str] | None, *, pinned: bool) -> _Loaded:
    """The nodes to compute with their sources and stored children.

    ``pinned``: use what the last computation resolved (an explanation) instead of
    resolving supplier records and factors again (a computation).
    """
    products = _product_rows(session, targets)
    line_rows = _line_rows(session, targets)
    line_owner = {row[1]: products[row[0]][0] for row in line_rows}
    children = {row[10] for row in line_rows if row[10] is not None} - set(products)
    if pinned:
        resolved_records = {row[1]: row[12] for row in line_rows if row[12] is not None}
    else:
        pins = {row[1]: row[9] for row in line_rows if row[9] is not None}
        visible_pins: dict[str, set[str]] = {}
        for line_id in pins:
            owner = line_owner[line_id]
            if owner not in visible_pins:
                visible_pins[owner] = visible_record_ids(
                    session, owner, {r for i, r in pins.items() if line_owner[i] == owner}
                )
        resolved_records = {
            line_id: record_id
            for line_id, record_id in pins.items()
            if record_id in visible_pins[line_owner[line_id]]
        }
        resolved_records.update(_resolve_supplier_lines(session, line_owner, line_rows))
    sources: dict[str, Source] = dict(_records(session, set(resolved_records.values())))
    if pinned:
        factor_rows = _factors_by_id(session, {row[13] for row in line_rows if row[13] is not None})
        resolved_factors = {
            row[1]: row[13] for row in line_rows if row[13] is not None and row[13] in factor_rows
        }
    else:
        codes = {
            row[11]
            for row in line_rows
            if row[11] is not None and row[10] is None and row[1] not in resolved_records
        }
        by_code = _approved_factors(session, codes)
        factor_rows = {row[0]: row for row in by_code.values()}
        resolved_factors = {
            row[1]: by_code[row[11]][0]
            for row in line_rows
            if row[1] not in resolved_records and row[10] is None and row[11] in by_code
        }
    for factor_id, row in factor_rows.items():
        sources[f"factor:{factor_id}"] = factor_source(row)
    known = _stored_sources(session, children)
    names = {product_id: row[1] for product_id, row in products.items()}
    grouped: dict[str, list[Line]] = {product_id: [] for product_id in products}
    problems: list[dict[str, Any]] = []
    for row in line_rows:
        (
            product_id,
            line_id,
            position,
            category,
            label,
            quantity,
            unit,
            supplier_id,
            supplier_product,
            record_id,
            child,
            factor_code,
            _,
            _,
        ) = row
        missing = None
        if child is not None:
            line = Line(position, quantity, unit, child=child, category=category, label=label)
            if child not in products and child not in known:
                problems.append(
                    {
                        "field": f"lines.{position}",
                        "product": product_id,
                        "message": f"product {child} has not been computed by its owner",
                    }
                )
        elif line_id in resolved_records:
            line = Line(
                position,
                quantity,
                unit,
                source=resolved_records[line_id],
                category=category,
                label=label,
            )
        elif line_id in resolved_factors:
            if supplier_id is not None:
                missing = {"supplierId": supplier_id}
                if supplier_product is not None:
                    missing["productId"] = supplier_product
                if record_id is not None:
                    missing["recordId"] = record_id
            line = Line(
                position,
                quantity,
                unit,
                source=f"factor:{resolved_factors[line_id]}",
                category=category,
                label=label,
                missing=missing,
            )
        else:
            wanted = (
                f"no shared record of {supplier_product or record_id} from {supplier_id}"
                if supplier_id is not None
                else "no input"
            )
            if factor_code is not None:
                wanted += f" and no approved factor {factor_code}"
            problems.append(
                {"field": f"lines.{position}", "product": product_id, "message": wanted}
            )
            continue
        grouped[product_id].append(line)
    if problems:
        raise ValidationFailed(
            "some inputs cannot be resolved: "
            + "; ".join(
                f"{names.get(p['product'], p['product'])} {p['field']}: {p['message']}"
                for p in problems[:10]
            ),
            details=problems[:100],
        )
    nodes = {
        product_id: Node(
            id=product_id,
            declared_unit=row[2],
            declared_amount=row[3],
            mass_per_declared_unit=row[4],
            lines=tuple(grouped[product_id]),
            name=row[1],
        )
        for product_id, row in products.items()
    }
    resolved = {
        row[1]: (resolved_records.get(row[1]), resolved_factors.get(row[1])) for row in line_rows
    }
    previous = {row[1]: (row[12], row[13]) for row in line_rows}
    return _Loaded(nodes, sources, known, names, resolved, previous)


_RESULT_COLUMNS: Final = (
    _R.product_id,
    _R.total,
    _R.fossil,
    _R.biogenic,
    _R.land_use,
    _R.packaging,
    _R.primary_data_share,
    _R.dqr_technological,
    _R.dqr_geographical,
    _R.dqr_temporal,
    _R.coverage,
)


def _stored_sources(session: Session, product_ids: Collection[str]) -> dict[str, Source]:
    """Stored results of products outside the computation, as sources."""
    found: dict[str, Source] = {}
    for chunk in _chunks(product_ids):
        query = (
            sa.select(
                *_RESULT_COLUMNS,
                _P.owner_id,
                _P.declared_unit,
                _P.declared_amount,
                _P.mass_per_declared_unit,
                _R.stale,
            )
            .join_from(Result.__table__, Product.__table__, _P.id == _R.product_id)
            .where(_R.product_id.in_(chunk))
        )
        for row in session.execute(query):
            product_id = row[0]
            dqr = None if row[7] is None else (row[7], row[8], row[9])
            found[product_id] = Source(
                key=product_id,
                kind=SourceKind.PRODUCT,
                declared_unit=row[12],
                declared_amount=row[13],
                values=(row[1], row[2], row[3], row[4], row[5]),
                quality=Quality(primary_data_share=row[6], dqr=dqr, coverage=row[10]),
                mass_per_declared_unit=row[14],
                reference={"productId": product_id, "owner": row[11]},
            )
    return found


# --- computing -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Recomputation:
    computed: int
    changed: int
    newly_stale: tuple[str, ...]


def _decimal_param(session: Session) -> Any:
    """How a 12-place Decimal is bound in bulk writes (SQLite keeps ExactDecimal's text)."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda value: None if value is None else format(value, "f")
    return lambda value: value


def _write_results(
    session: Session,
    results: Mapping[str, engine.NodeResult],
    *,
    everything: bool,
    now: dt.datetime,
) -> None:
    put = _decimal_param(session)
    table = sa.table(
        "agg_results",
        *(sa.column(c.key) for c in _RESULT_COLUMNS),
        sa.column("computed_at", _R.computed_at.type),
        sa.column("stale"),
        sa.column("stale_since"),
        sa.column("stale_reason"),
    )
    if everything:
        session.execute(sa.delete(Result))
    else:
        for chunk in _chunks(results):
            session.execute(sa.delete(Result).where(Result.product_id.in_(chunk)))
    rows = []
    for product_id, result in results.items():
        values = result.values
        quality = result.quality
        dqr = quality.dqr or (None, None, None)
        rows.append(
            {
                "product_id": product_id,
                "total": put(values[0]),
                "fossil": put(values[1]),
                "biogenic": put(values[2]),
                "land_use": put(values[3]),
                "packaging": put(values[4]),
                "primary_data_share": put(quality.primary_data_share),
                "dqr_technological": put(dqr[0]),
                "dqr_geographical": put(dqr[1]),
                "dqr_temporal": put(dqr[2]),
                "coverage": put(quality.coverage),
                "computed_at": now,
                "stale": False,
                "stale_since": None,
                "stale_reason": None,
            }
        )
    if rows:
        session.execute(sa.insert(table), rows)


def _write_resolutions(session: Session, loaded: _Loaded) -> None:
    changes = [
        {"line_id": line_id, "record": record, "factor": factor}
        for line_id, (record, factor) in loaded.resolved.items()
        if loaded.previous.get(line_id) != (record, factor)
    ]
    if changes:
        table = sa.table(
            "agg_lines",
            sa.column("id"),
            sa.column("resolved_record_id"),
            sa.column("resolved_factor_id"),
        )
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("line_id"))
            .values(
                resolved_record_id=sa.bindparam("record"),
                resolved_factor_id=sa.bindparam("factor"),
            ),
            changes,
        )


def recompute(session: Session, targets: Collection[str] | None = None) -> Recomputation:
    """Compute ``targets`` (None: every product) bottom-up and store their results.

    Children outside ``targets`` are read as stored. A parent outside ``targets`` of a
    product whose figures changed goes stale.
    """
    before = _stored_sources(session, targets) if targets is not None else {}
    loaded = _load(session, targets, pinned=False)
    try:
        results = engine.compute(
            loaded.nodes, loaded.sources, known=loaded.known, names=loaded.names
        )
    except engine.AggregationError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc
    now = utcnow()
    _write_resolutions(session, loaded)
    _write_results(session, results, everything=targets is None, now=now)
    newly: list[str] = []
    if targets is not None:
        changed = [
            product_id
            for product_id, result in results.items()
            if product_id not in before
            or before[product_id].values != result.values
            or before[product_id].quality != result.quality
        ]
        if changed:
            parents: set[str] = set()
            for chunk in _chunks(changed):
                parents.update(
                    session.scalars(
                        sa.select(BomLine.product_id).where(BomLine.child_product_id.in_(chunk))
                    )
                )
            parents -= set(results)
            if parents:
                newly = mark_products_stale(session, parents, "a component was recomputed")
    else:
        changed = list(results)
    session.expire_all()
    return Recomputation(len(results), len(changed), tuple(newly))


def _needing_computation(session: Session, root: Product) -> set[str]:
    """The root and its own descendants (same owner) that are stale or never computed."""
    wanted = {root.id}
    frontier = {root.id}
    while frontier:
        rows = session.execute(
            sa.select(BomLine.child_product_id, Product.owner_id, Result.stale)
            .join(Product, Product.id == BomLine.child_product_id)
            .outerjoin(Result, Result.product_id == BomLine.child_product_id)
            .where(BomLine.product_id.in_(sorted(frontier)))
        )
        frontier = set()
        for child, owner, stale in rows:
            assert child is not None
            if owner == root.owner_id and stale is not False and child not in wanted:
                wanted.add(child)
                frontier.add(child)
    return wanted


def compute_product(session: Session, principal: Principal, product_id: str) -> Recomputation:
    """Compute one of the caller's products, with its own stale or uncomputed components."""
    principal.require_scope(WRITE_SCOPE)
    product = own_product(session, principal, product_id)
    return recompute(session, _needing_computation(session, product))


def stale_products(session: Session, owner_id: str | None = None) -> set[str]:
    query = sa.select(Result.product_id).where(Result.stale.is_(True))
    if owner_id is not None:
        query = query.join(Product, Product.id == Result.product_id).where(
            Product.owner_id == owner_id
        )
    return set(session.scalars(query))


def recompute_stale(session: Session, owner_id: str | None = None) -> Recomputation:
    """Recompute exactly the stale products (of one owner, or all): the incremental path."""
    targets = stale_products(session, owner_id)
    if not targets:
        return Recomputation(0, 0, ())
    return recompute(session, targets)


# --- explaining ------------------------------------------------------------------------------


def product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "owner": product.owner_id,
        "productUrn": product.product_urn,
        "declaredUnit": product.declared_unit,
        "declaredAmount": engine.text(product.declared_amount),
    }


def _detailed(session: Session, product: Product) -> engine.NodeResult:
    loaded = _load(session, [product.id], pinned=True)
    try:
        return engine.compute_node(
            loaded.nodes[product.id], {**loaded.sources, **loaded.known}, detail=True
        )
    except engine.AggregationError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc


def _computed(session: Session, product: Product) -> Result:
    result = session.get(Result, product.id)
    if result is None:
        raise Conflict(f"product {product.code} has not been computed yet; compute it first")
    return result


def result_document(session: Session, principal: Principal, product_id: str) -> dict[str, Any]:
    """The reproducible computation result of one of the caller's products."""
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    _computed(session, product)
    return _owner_document(session, product)


def _owner_document(session: Session, product: Product) -> dict[str, Any]:
    """The result document as its owner may see it now (unshared inputs withheld)."""
    document = engine.result_document(product_json(product), _detailed(session, product))
    _withhold_unshared(session, product.owner_id, document["inputs"])
    return document


def digest_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(document)).hexdigest()


def _document_digest_or_none(session: Session, product: Product) -> str | None:
    if session.get(Result, product.id) is None:
        return None
    try:
        return digest_of(_owner_document(session, product))
    except ValidationFailed:
        return None


def _withhold_unshared(session: Session, viewer_id: str, inputs: list[dict[str, Any]]) -> None:
    """Record inputs the viewer may no longer see keep their figures but lose their identity."""
    ids = {item["input"]["recordId"] for item in inputs if item["kind"] == SourceKind.RECORD.value}
    visible = visible_record_ids(session, viewer_id, ids)
    for item in inputs:
        if item["kind"] == SourceKind.RECORD.value and item["input"]["recordId"] not in visible:
            item["input"] = {"withheld": True, "reason": "no longer shared with you"}


def explain(session: Session, principal: Principal, product_id: str) -> dict[str, Any]:
    """The breakdown tree: by tier, by component, down to every input the caller may see.

    The caller's own sub-products are opened; another chain-owner's product is an opaque
    input (its figures and its signed derived record if any, never its lines).
    """
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    by_tier: dict[int, Decimal] = {}
    tree = _explain_node(session, principal.organisation_id, product, 1, engine.ONE, by_tier, [])
    return {
        "product": product_json(product),
        "tree": tree,
        "byTier": [
            {"tier": tier, "total": engine.text(total)} for tier, total in sorted(by_tier.items())
        ],
    }


def _explain_node(
    session: Session,
    viewer_id: str,
    product: Product,
    tier: int,
    factor: Decimal,
    by_tier: dict[int, Decimal],
    path: list[str],
) -> dict[str, Any]:
    result = _computed(session, product)
    detailed = _detailed(session, product)
    document = engine.result_document(product_json(product), detailed)
    _withhold_unshared(session, viewer_id, document["inputs"])
    for item, line_result in zip(document["inputs"], detailed.lines, strict=True):
        scale = engine.CONTEXT.divide(
            line_result.converted_quantity, line_result.source.declared_amount
        )
        share = engine.CONTEXT.multiply(factor, line_result.contribution[0])
        item["tier"] = tier + 1
        item["contributionToRoot"] = engine.text(share)
        child_id = item["input"].get("productId") if item["kind"] == "product" else None
        child = session.get(Product, child_id) if child_id else None
        if child is not None and child.owner_id == viewer_id and child.id not in path:
            item["breakdown"] = _explain_node(
                session,
                viewer_id,
                child,
                tier + 1,
                engine.CONTEXT.multiply(factor, scale),
                by_tier,
                [*path, product.id],
            )
        else:
            by_tier[tier + 1] = by_tier.get(tier + 1, engine.ZERO) + share
            if child is not None:
                item["opaque"] = True
                item["derivedRecords"] = [
                    link.record_id
                    for link in derived_records_of(session, child.id)
                    if visible_record_ids(session, viewer_id, [link.record_id])
                ]
    return {
        "tier": tier,
        "product": document["product"],
        "pcf": document["pcf"],
        "quality": document["quality"],
        "stale": result.stale,
        "staleReason": result.stale_reason,
        "components": document["inputs"],
    }


def export_rows(session: Session, principal: Principal, product_id: str) -> list[dict[str, str]]:
    """Every input of the tree the caller may see, one flat row each (for CSV)."""
    explanation = explain(session, principal, product_id)
    rows: list[dict[str, str]] = []

    def walk(node: dict[str, Any], path: str) -> None:
        for item in node["components"]:
            reference = item["input"]
            rows.append(
                {
                    "path": f"{path}/{item['position']}",
                    "tier": str(item["tier"]),
                    "product": node["product"]["code"],
                    "category": item["category"],
                    "label": item["label"],
                    "kind": item["kind"],
                    "secondary": "yes" if item["secondary"] else "no",
                    "quantity": item["quantity"],
                    "unit": item["unit"],
                    "input": str(
                        reference.get("recordId")
                        or reference.get("factorId")
                        or reference.get("productId")
                        or "withheld"
                    ),
                    "owner": str(reference.get("owner") or ""),
                    "kid": str(reference.get("kid") or ""),
                    "logIndex": str(reference.get("logIndex", "")),
                    "factorVersion": str(reference.get("version", "")),
                    "contribution": item["contribution"]["total"],
                    "contributionToRoot": item["contributionToRoot"],
                }
            )
            if "breakdown" in item:
                walk(item["breakdown"], f"{path}/{item['position']}")

    walk(explanation["tree"], node_path := explanation["product"]["code"])
    del node_path
    return rows


# --- missing data ----------------------------------------------------------------------------


def request_missing(
    session: Session, principal: Principal, product_id: str, *, host: pact.Host
) -> list[dict[str, Any]]:
    """One PACT footprint request to each supplier whose data the result lacks."""
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    document = engine.result_document(product_json(product), _detailed(session, product))
    wanted: dict[str, set[str]] = {}
    for missing in document["missingSupplierData"]:
        if "productId" in missing:
            wanted.setdefault(missing["supplierId"], set()).add(missing["productId"])
    sent = []
    for supplier_id, product_ids in sorted(wanted.items()):
        request = pact.create_request(
            session,
            principal,
            supplier_id=supplier_id,
            criteria=Criteria(product_ids=frozenset(product_ids)),
            comment=f"footprint needed for {product.name} ({product.code})",
            host=host,
        )
        sent.append(
            {
                "requestId": request.id,
                "supplierId": supplier_id,
                "productIds": sorted(product_ids),
                "status": request.status.value,
            }
        )
    return sent


# --- derived footprints ----------------------------------------------------------------------


def provenance_schema_url(host: pact.Host) -> str:
    return host.base_url + PROVENANCE_EXTENSION_PATH


def derived_draft(
    session: Session,
    principal: Principal,
    product_id: str,
    *,
    host: pact.Host,
    reference_year: int | None = None,
) -> dict[str, Any]:
    """The PACT footprint of a computed product, ready for its owner to sign and submit.

    The provenance (the result, its digest and the explanation tree as the owner may see
    it) rides in a ``DataModelExtension``, so the owner's signature covers it.
    """
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    stored = _computed(session, product)
    if stored.stale:
        raise Conflict(
            f"the result of {product.code} is stale ({stored.stale_reason}); recompute it first"
        )
    document = _owner_document(session, product)
    explanation = explain(session, principal, product_id)
    organisation = session.get(Organisation, principal.organisation_id)
    assert organisation is not None
    company_ids = sorted(
        session.scalars(
            sa.select(CompanyIdentifier.urn).where(
                CompanyIdentifier.organisation_id == organisation.id
            )
        )
    ) or [f"urn:uuid:{organisation.id}"]
    year = reference_year or stored.computed_at.year
    total, fossil, biogenic, land_use, packaging = (
        stored.total,
        stored.fossil,
        stored.biogenic,
        stored.land_use,
        stored.packaging,
    )
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": pact_unit(product.declared_unit),
        "declaredUnitAmount": engine.text(product.declared_amount),
        "productMassPerDeclaredUnit": engine.text(product.mass_per_declared_unit or engine.ZERO),
        "referencePeriodStart": f"{year}-01-01T00:00:00Z",
        "referencePeriodEnd": f"{year + 1}-01-01T00:00:00Z",
        "pcfExcludingBiogenicUptake": engine.text(total - biogenic),
        "pcfIncludingBiogenicUptake": engine.text(total),
        "fossilCarbonContent": "0",
        "fossilGhgEmissions": engine.text(max(fossil, engine.ZERO)),
        "landUseChangeGhgEmissions": engine.text(max(land_use, engine.ZERO)),
        "packagingEmissionsIncluded": packaging != 0,
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["ISO14067", "PACT-3.0"],
        "exemptedEmissionsPercent": "0",
    }
    if biogenic <= 0:
        pcf["biogenicCO2Uptake"] = engine.text(biogenic)
    if packaging > 0:
        pcf["packagingGhgEmissions"] = engine.text(packaging)
    if stored.primary_data_share is not None:
        pcf["primaryDataShare"] = engine.text(stored.primary_data_share)
    if stored.dqr_technological is not None:
        assert stored.dqr_geographical is not None and stored.dqr_temporal is not None
        pcf["dqi"] = {
            "technologicalDQR": engine.text(stored.dqr_technological),
            "geographicalDQR": engine.text(stored.dqr_geographical),
            "temporalDQR": engine.text(stored.dqr_temporal),
        }
    factor_sources = sorted(
        {
            (item["input"]["source"][:200] or item["input"]["code"], str(item["input"]["version"]))
            for item in document["inputs"]
            if item["kind"] == SourceKind.FACTOR.value
        }
    )
    if factor_sources:
        pcf["secondaryEmissionFactorSources"] = [
            {"name": name, "version": version} for name, version in factor_sources
        ]
    return {
        "id": str(uuid.uuid4()),
        "specVersion": "3.0.0",
        "created": utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "status": "Active",
        "companyName": organisation.name,
        "companyIds": company_ids,
        "productDescription": product.name,
        "productIds": [product.product_urn],
        "productNameCompany": product.name,
        "comment": "Derived on the Footprint Exchange from its bill of materials; "
        "see the provenance extension.",
        "pcf": pcf,
        "extensions": [
            {
                "specVersion": "2.0.0",
                "dataSchema": provenance_schema_url(host),
                "data": {
                    "productId": product.id,
                    "resultDigest": digest_of(document),
                    "result": document,
                    "explanation": explanation["tree"],
                },
            }
        ],
    }


def provenance_schema(host: pact.Host) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": provenance_schema_url(host),
        "title": "Footprint Exchange aggregation provenance",
        "description": (
            "How a chain-owner's footprint was computed: the reproducible result (its "
            "SHA-256 over the RFC 8785 form is resultDigest) listing every input with its "
            "contribution - a supplier record by id, owner, signature kid and value and log "
            "index, or a factor by id, code and version - and the breakdown tree."
        ),
        "type": "object",
        "required": ["productId", "resultDigest", "result"],
        "properties": {
            "productId": {"type": "string"},
            "resultDigest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "result": {"type": "object"},
            "explanation": {"type": "object"},
        },
    }
