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

import contextlib
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.aggregation import engine
from exchange.aggregation.engine import Line, Node, Quality, Source, SourceKind
from exchange.aggregation.models import (
    BomLine,
    DerivedRecord,
    Product,
    RecordValues,
    Result,
    StaleNotice,
)
from exchange.aggregation.schemas import LineInput, ProductInput
from exchange.db import chunked, insert_unless_present, utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.factors import units
from exchange.factors.models import Factor, FactorStatus
from exchange.footprints import services as footprints
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
OTHER_COMPONENT_CHANGED: Final = "a component from another organisation changed"
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
    return chunked(values, CHUNK)


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
    """Records an organisation may use: the same rule as every read of a record."""
    return footprints.visible_to(owner_id)


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
        # Filtered on ``stale`` here rather than in SQL, where SQLite would pick the
        # ``stale`` index (every fresh row) over the primary key.
        newly += [
            (product_id, owner)
            for product_id, owner, stale in session.execute(
                sa.select(Result.product_id, Product.owner_id, Result.stale)
                .join(Product, Product.id == Result.product_id)
                .where(Result.product_id.in_(chunk))
            )
            if not stale
        ]
    if not newly:
        return []
    # The reason may name inputs only their user may see: another organisation's product
    # higher up learns that a component changed, never which input.
    first_owners: set[str] = set()
    for chunk in _chunks(product_ids):
        first_owners.update(
            session.scalars(sa.select(Product.owner_id).where(Product.id.in_(chunk)))
        )
    reasons = {
        product_id: reason if owner in first_owners else OTHER_COMPONENT_CHANGED
        for product_id, owner in newly
    }
    for text_of_reason in sorted(set(reasons.values())):
        ids_with = [product_id for product_id, why in reasons.items() if why == text_of_reason]
        for chunk in _chunks(ids_with):
            session.execute(
                sa.update(Result)
                .where(Result.product_id.in_(chunk))
                .values(stale=True, stale_since=now, stale_reason=text_of_reason)
            )
    session.execute(
        sa.insert(StaleNotice),
        [
            {
                "organisation_id": owner,
                "product_id": product_id,
                "reason": reasons[product_id],
                "created_at": now,
            }
            for product_id, owner in sorted(newly)
        ],
    )
    return sorted(reasons)


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
    """Submission hook: superseded inputs make results stale; derived records are linked.

    A few queries per batch, whatever its size: this runs inside every submission.
    """
    if not created:
        return
    superseded = sorted(pid for item in created for pid in item.preceding_ids)
    if superseded:
        # Only the record the owner used is named: its successor may not be shared with it.
        reason = f"input record {superseded[0]} was superseded"
        if len(superseded) > 1:
            reason = f"{len(superseded)} input records were superseded ({superseded[0]}, ...)"
        mark_inputs_stale(session, superseded, reason)
    arrived: dict[tuple[str, str], str] = {}
    for item in created:
        if not item.preceding_ids:
            for pid in item.terms.product_ids:
                arrived.setdefault((item.record.owner_id, pid), item.record.id)
    if arrived:
        # Lines that fell back to a factor for want of this supplier's data.
        owners = sorted({owner for owner, _ in arrived})
        waiting: dict[str, str] = {}
        for product_id, supplier_id, supplier_product in session.execute(
            sa.select(BomLine.product_id, BomLine.supplier_id, BomLine.supplier_product).where(
                BomLine.supplier_id.in_(owners),
                BomLine.record_id.is_(None),
                BomLine.resolved_record_id.is_(None),
            )
        ):
            key = (str(supplier_id), str(supplier_product))
            if key in arrived:
                # The line's own product id, never the record: it may not be shared yet.
                waiting.setdefault(product_id, f"new supplier data for {supplier_product}")
        for product_id, reason in sorted(waiting.items()):
            mark_products_stale(session, [product_id], reason)
    for item in created:
        # Cheap test first: only a footprint naming our provenance schema is parsed.
        if PROVENANCE_EXTENSION_PATH in item.record.footprint_json:
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
#
# The bulk paths read through Core with untyped ("lightweight") columns and convert the
# few decimal columns themselves, and write with DBAPI executemany: at 100,000 products
# the per-value type processing of typed columns would cost more than the computation.


def _light(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(column) for column in columns))


_PRODUCTS = _light(
    "agg_products",
    "id",
    "owner_id",
    "code",
    "declared_unit",
    "declared_amount",
    "mass_per_declared_unit",
)
_LINES = _light(
    "agg_lines",
    "product_id",
    "id",
    "position",
    "category",
    "label",
    "quantity",
    "unit",
    "supplier_id",
    "supplier_product",
    "record_id",
    "child_product_id",
    "factor_code",
    "resolved_record_id",
    "resolved_factor_id",
)
_RESULT_COLUMNS: Final = (
    "product_id",
    "total",
    "fossil",
    "biogenic",
    "land_use",
    "packaging",
    "primary_data_share",
    "dqr_technological",
    "dqr_geographical",
    "dqr_temporal",
    "coverage",
)
_RESULTS = _light("agg_results", *_RESULT_COLUMNS, "stale")
_VALUE_COLUMNS: Final = (
    "record_id",
    "declared_unit",
    "declared_amount",
    "mass_per_declared_unit",
    "total",
    "fossil",
    "biogenic",
    "land_use",
    "packaging",
    "primary_data_share",
    "dqr_technological",
    "dqr_geographical",
    "dqr_temporal",
)
_VALUES = _light("agg_record_values", *_VALUE_COLUMNS)
_VALUES_TABLE: Final = cast(sa.Table, RecordValues.__table__)
_F = Factor.__table__.c
_FACTOR_COLUMNS: Final = (_F.id, _F.code, _F.version, _F.value, _F.unit, _F.gwp_set, _F.source)
_FR = FootprintRecord.__table__.c


_canonical_units: dict[str, str] = {}


def canonical_unit(name: str) -> str:
    """The unit system's symbol for a unit name (``kilogram`` is ``kg``), else the name.

    Units in their canonical spelling compare equal without a conversion; an unknown name
    is kept for the engine to report.
    """
    found = _canonical_units.get(name)
    if found is None:
        try:
            found = units.unit(name).symbol
        except units.UnitError:
            found = name
        _canonical_units[name] = found
    return found


def _dec(value: Any) -> Decimal | None:
    """A decimal read from an untyped column (text on SQLite, Decimal on PostgreSQL)."""
    return None if value is None else Decimal(value)


def _rows(
    session: Session, query: Any, column: Any, ids: Collection[str] | None, *, raw: bool = False
) -> list[Any]:
    """Rows of ``query``, all of them or those whose ``column`` is in ``ids`` (in chunks).

    ``raw``: the query's columns have no type processing (the lightweight tables above),
    so its rows are taken from the DBAPI cursor as they come, without building a Row each.
    """
    connection = session.connection()

    def fetch(statement: Any) -> list[Any]:
        result = connection.execute(statement)
        if not raw:
            return list(result.all())
        try:
            return list(result.cursor.fetchall())
        finally:
            result.close()

    if ids is None:
        return fetch(query)
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += fetch(query.where(column.in_(chunk)))
    return rows


def record_values(footprint: Mapping[str, Any]) -> dict[str, Any]:
    """The figures aggregation reads from a PACT footprint (see :class:`RecordValues`)."""
    pcf = footprint["pcf"]
    total = Decimal(pcf["pcfIncludingBiogenicUptake"])
    excluding = Decimal(pcf["pcfExcludingBiogenicUptake"])
    dqi = pcf.get("dqi") or {}
    mass = pcf.get("productMassPerDeclaredUnit")
    pds = pcf.get("primaryDataShare")
    return {
        "declared_unit": pcf["declaredUnitOfMeasurement"],
        "declared_amount": Decimal(pcf["declaredUnitAmount"]),
        "mass_per_declared_unit": None if mass is None else Decimal(mass),
        "total": total,
        "fossil": Decimal(pcf["fossilGhgEmissions"]),
        "biogenic": engine.CONTEXT.subtract(total, excluding),
        "land_use": Decimal(pcf.get("landUseChangeGhgEmissions", "0")),
        "packaging": Decimal(pcf.get("packagingGhgEmissions", "0")),
        "primary_data_share": None if pds is None else Decimal(pds),
        "dqr_technological": _dec(dqi.get("technologicalDQR")),
        "dqr_geographical": _dec(dqi.get("geographicalDQR")),
        "dqr_temporal": _dec(dqi.get("temporalDQR")),
    }


def _fits(value: Decimal | None) -> bool:
    return value is None or value == engine.q12(value)


def _record_sources(session: Session, ids: Collection[str], *, detail: bool) -> dict[str, Source]:
    """Records as sources: their figures from ``agg_record_values``, extracted on first use.

    A record whose figures have more than 12 decimal places is read from its document
    every time (the table keeps 12 places), so no figure is ever rounded.
    """
    found: dict[str, tuple[Any, ...]] = {
        row[0]: tuple(row)
        for row in _rows(session, sa.select(_VALUES), _VALUES.c.record_id, ids, raw=True)
    }
    missing = set(ids) - set(found)
    if missing:
        fresh = []
        for record_id, footprint_json in _rows(
            session, sa.select(_FR.id, _FR.footprint_json), _FR.id, missing
        ):
            values = record_values(json.loads(footprint_json))
            row = (record_id, *(values[name] for name in _VALUE_COLUMNS[1:]))
            found[record_id] = row
            if all(_fits(value) for value in row[2:] if not isinstance(value, str)):
                fresh.append({"record_id": record_id, **values})
        if fresh:
            # Two computations may meet the same new record at once: the first one keeps it.
            insert_unless_present(session, _VALUES_TABLE, fresh)
    references: dict[str, dict[str, Any]] = {}
    if detail:
        query = sa.select(_FR.id, _FR.owner_id, _FR.signature_kid, _FR.signature, _FR.log_index)
        for record_id, owner, kid, signature, log_index in _rows(session, query, _FR.id, ids):
            references[record_id] = {
                "recordId": record_id,
                "owner": owner,
                "signed": kid is not None,
                "kid": kid,
                "signature": signature,
                "logIndex": log_index,
            }
    sources: dict[str, Source] = {}
    one = engine.ONE
    for record_id, row in found.items():
        dqr = None if row[10] is None else (_dec(row[10]), _dec(row[11]), _dec(row[12]))
        sources[record_id] = Source(
            record_id,
            SourceKind.RECORD,
            canonical_unit(row[1]),
            Decimal(row[2]),
            (Decimal(row[4]), Decimal(row[5]), Decimal(row[6]), Decimal(row[7]), Decimal(row[8])),
            Quality(_dec(row[9]), dqr, one),  # type: ignore[arg-type]
            _dec(row[3]),
            references.get(record_id, engine.NO_REFERENCE),
        )
    return sources


def factor_source(row: Sequence[Any]) -> Source:
    factor_id, code, version, value, unit, gwp_set, source_text = row
    return Source(
        key=f"factor:{factor_id}",
        kind=SourceKind.FACTOR,
        declared_unit=canonical_unit(unit),
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


def _approved_factors(session: Session, codes: Collection[str]) -> dict[str, tuple[Any, ...]]:
    """The newest approved version of each code."""
    found: dict[str, tuple[Any, ...]] = {}
    query = (
        sa.select(*_FACTOR_COLUMNS)
        .where(_F.status == FactorStatus.APPROVED.value)
        .order_by(_F.code, _F.version)
    )
    for row in _rows(session, query, _F.code, codes):
        found[row[1]] = tuple(row)
    return found


def _factors_by_id(session: Session, ids: Collection[str]) -> dict[str, tuple[Any, ...]]:
    return {row[0]: tuple(row) for row in _rows(session, sa.select(*_FACTOR_COLUMNS), _F.id, ids)}


class _Visibility:
    """Which records each organisation may use, decided in memory from the shares table;
    rare cases (a record shared through another of its products) ask the database."""

    def __init__(self, session: Session, grantees: Collection[str]) -> None:
        self.session = session
        self.records: set[tuple[str, str]] = set()
        self.products: set[tuple[str, str, str]] = set()
        query = sa.select(Share.grantee_id, Share.owner_id, Share.record_id, Share.product_id)
        for grantee, owner, record_id, product in _rows(session, query, Share.grantee_id, grantees):
            if record_id is not None:
                self.records.add((grantee, record_id))
            else:
                self.products.add((grantee, owner, product))
        self.asked: dict[str, dict[str, bool]] = {}

    def visible(
        self, grantee: str, record_id: str, owner: str, product: str, disclosure: str
    ) -> bool:
        if disclosure == Disclosure.PUBLIC.value or owner == grantee:
            return True
        if (grantee, record_id) in self.records or (grantee, owner, product) in self.products:
            return True
        asked = self.asked.setdefault(grantee, {})
        if record_id not in asked:
            asked[record_id] = bool(visible_record_ids(self.session, grantee, [record_id]))
        return asked[record_id]


def _resolve_supplier_lines(
    session: Session,
    line_owner: Mapping[int, str],
    lines: Sequence[Any],
    *,
    everything: bool,
) -> dict[int, str]:
    """Line id -> the supplier's latest Active record of the product its owner may see."""
    wanted = [row for row in lines if row[7] is not None and row[8] is not None and row[9] is None]
    if not wanted:
        return {}
    pairs = {(row[7], row[8]) for row in wanted}
    query = (
        sa.select(
            FootprintRecord.owner_id,
            FootprintProduct.product_id,
            FootprintRecord.received_at,
            FootprintRecord.id,
            FootprintRecord.disclosure,
        )
        .join(FootprintProduct, FootprintProduct.record_id == FootprintRecord.id)
        .where(FootprintRecord.status == RecordStatus.ACTIVE)
    )
    rows: list[Any] = []
    if everything:
        rows = list(session.execute(query).all())
    else:
        # By product id (indexed); the owner is checked below.
        for chunk in _chunks({product for _, product in pairs}):
            rows += session.execute(query.where(FootprintProduct.product_id.in_(chunk))).all()
    candidates: dict[tuple[str, str], list[tuple[Any, str, str]]] = {}
    for owner, product, received, record_id, disclosure in rows:
        if (owner, product) in pairs:
            candidates.setdefault((owner, product), []).append(
                (received, record_id, str(disclosure))
            )
    for options in candidates.values():
        options.sort(reverse=True)
    visibility = _Visibility(session, set(line_owner.values()))
    resolved: dict[int, str] = {}
    chosen: dict[tuple[str, str, str], str | None] = {}
    for row in wanted:
        key = (line_owner[row[1]], row[7], row[8])
        if key not in chosen:
            chosen[key] = next(
                (
                    record_id
                    for _, record_id, disclosure in candidates.get((row[7], row[8]), ())
                    if visibility.visible(key[0], record_id, row[7], row[8], disclosure)
                ),
                None,
            )
        record = chosen[key]
        if record is not None:
            resolved[row[1]] = record
    return resolved


@dataclasses.dataclass(slots=True)
class _Loaded:
    nodes: dict[str, Node]
    sources: dict[str, Source]
    known: dict[str, Source]
    names: dict[str, str]
    resolved: dict[int, tuple[str | None, str | None]]  # line id -> (record id, factor id)
    previous: dict[int, tuple[str | None, str | None]]


def _withdrawn_children(
    session: Session, products: Mapping[str, tuple[Any, ...]], line_rows: Sequence[Any]
) -> set[tuple[str, str]]:
    """``(parent owner, child product)`` pairs where the child belongs to another
    organisation that no longer shares it: its figures may not be used any more."""
    wanted = {(products[row[0]][0], row[10]) for row in line_rows if row[10] is not None}
    if not wanted:
        return set()
    children = session.execute(
        sa.select(Product.id, Product.owner_id, Product.product_urn).where(
            Product.id.in_(sorted({child for _, child in wanted}))
        )
    ).all()
    child_of = {child_id: (owner_id, urn.lower()) for child_id, owner_id, urn in children}
    foreign = {
        (owner, child)
        for owner, child in wanted
        if child in child_of and child_of[child][0] != owner
    }
    if not foreign:
        return set()
    granted = set(
        session.execute(
            sa.select(Share.grantee_id, Share.owner_id, Share.product_id).where(
                Share.grantee_id.in_(sorted({owner for owner, _ in foreign})),
                Share.product_id.is_not(None),
            )
        ).all()
    )
    return {
        (owner, child)
        for owner, child in foreign
        if (owner, child_of[child][0], child_of[child][1]) not in granted
    }


def _load(session: Session, targets: Collection[str] | None, *, pinned: bool) -> _Loaded:
    """The nodes to compute with their sources and stored children.

    ``pinned``: use what the last computation resolved (an explanation, with provenance
    detail) instead of resolving supplier records and factors again (a computation).
    """
    products = {
        row[0]: tuple(row[1:])
        for row in _rows(session, sa.select(_PRODUCTS), _PRODUCTS.c.id, targets, raw=True)
    }
    line_rows = _rows(session, sa.select(_LINES), _LINES.c.product_id, targets, raw=True)
    # One pass sorts the lines out: their owners (for visibility), the children outside
    # the set, pinned records and factor codes.
    line_owner: dict[int, str] = {}
    children: set[str] = set()
    pins: dict[int, str] = {}
    factor_lines: list[tuple[int, str]] = []
    for row in line_rows:
        if row[7] is not None or row[9] is not None:
            line_owner[row[1]] = products[row[0]][0]
        if row[9] is not None:
            pins[row[1]] = row[9]
        if row[10] is not None:
            if row[10] not in products:
                children.add(row[10])
            continue
        if row[11] is not None:
            factor_lines.append((row[1], row[11]))
    if pinned:
        resolved_records = {row[1]: row[12] for row in line_rows if row[12] is not None}
    else:
        # One visibility query per owner of pinned lines, not one per line.
        pinned_by_owner: dict[str, set[str]] = {}
        for line_id, record_id in pins.items():
            pinned_by_owner.setdefault(line_owner[line_id], set()).add(record_id)
        visible = {
            owner: visible_record_ids(session, owner, record_ids)
            for owner, record_ids in pinned_by_owner.items()
        }
        resolved_records = {
            line_id: record_id
            for line_id, record_id in pins.items()
            if record_id in visible[line_owner[line_id]]
        }
        resolved_records.update(
            _resolve_supplier_lines(session, line_owner, line_rows, everything=targets is None)
        )
    sources: dict[str, Source] = _record_sources(
        session, set(resolved_records.values()), detail=pinned
    )
    if pinned:
        factor_rows = _factors_by_id(session, {row[13] for row in line_rows if row[13] is not None})
        resolved_factors = {
            row[1]: row[13] for row in line_rows if row[13] is not None and row[13] in factor_rows
        }
    else:
        codes = {code for line_id, code in factor_lines if line_id not in resolved_records}
        by_code = _approved_factors(session, codes)
        factor_rows = {row[0]: row for row in by_code.values()}
        resolved_factors = {
            line_id: by_code[code][0]
            for line_id, code in factor_lines
            if line_id not in resolved_records and code in by_code
        }
    for factor_id, row in factor_rows.items():
        sources[f"factor:{factor_id}"] = factor_source(row)
    known = _stored_sources(session, children) if children else {}
    withdrawn = _withdrawn_children(session, products, line_rows)
    names = {product_id: row[1] for product_id, row in products.items()}
    grouped: dict[str, list[Line]] = {product_id: [] for product_id in products}
    problems: list[dict[str, Any]] = []
    # What each non-product line resolves to now and what the last computation stored,
    # for _write_resolutions; gathered in the one pass below rather than in two more.
    resolved: dict[int, tuple[str | None, str | None]] = {}
    previous: dict[int, tuple[str | None, str | None]] = {}
    new = tuple.__new__
    spelled = _canonical_units
    # Quantities repeat across a graph: one Decimal per distinct stored text (SQLite keeps
    # text; PostgreSQL hands Decimals, used as they are). Decimals are immutable, so sharing
    # them changes nothing but the allocations.
    quantities: dict[str, Decimal] = {}
    for row in line_rows:
        (product_id, line_id, position, category, label, quantity, unit, supplier_id,
         supplier_product, record_id, child, factor_code, was_record, was_factor) = row  # fmt: skip
        if quantity.__class__ is str:
            text_of_quantity = quantity
            quantity = quantities.get(text_of_quantity)
            if quantity is None:
                quantity = quantities[text_of_quantity] = Decimal(text_of_quantity)
        else:
            quantity = Decimal(quantity)
        unit = spelled.get(unit) or canonical_unit(unit)
        if child is not None:
            line = new(Line, (position, quantity, unit, child, None, category, label, None))
            if (products[product_id][0], child) in withdrawn:
                problems.append(
                    {
                        "field": f"lines.{position}",
                        "product": product_id,
                        "message": f"product {child} is no longer shared with you",
                    }
                )
                continue
            if child not in products and child not in known:
                problems.append(
                    {
                        "field": f"lines.{position}",
                        "product": product_id,
                        "message": f"product {child} has not been computed by its owner",
                    }
                )
            grouped[product_id].append(line)
            continue
        chosen_record = resolved_records.get(line_id)
        chosen_factor = resolved_factors.get(line_id)
        resolved[line_id] = (chosen_record, chosen_factor)
        previous[line_id] = (was_record, was_factor)
        if chosen_record is not None:
            line = new(
                Line,
                (position, quantity, unit, None, chosen_record, category, label, None),
            )
        elif chosen_factor is not None:
            missing = None
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
                None,
                f"factor:{chosen_factor}",
                category,
                label,
                missing,
            )
        else:
            wanted = (
                f"no shared record of {supplier_product or record_id} from {supplier_id}"
                if supplier_id is not None
                else "no input"
            )
            if factor_code is not None:
                wanted += f" and no approved factor {factor_code}"
            problems.append({"field": f"lines.{position}", "product": product_id,
                             "message": wanted})  # fmt: skip
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
    nodes: dict[str, Node] = {}
    amounts: dict[Any, Decimal] = {}
    for product_id, (_, code, unit, amount, mass) in products.items():
        lines = grouped[product_id]
        if len(lines) > 1:
            lines.sort()
        declared = amounts.get(amount)
        if declared is None or amount.__class__ is not str:
            declared = amounts[amount] = Decimal(amount)
        nodes[product_id] = new(
            Node,
            (
                product_id,
                spelled.get(unit) or canonical_unit(unit),
                declared,
                tuple(lines),
                None if mass is None else Decimal(mass),
                code,
            ),
        )
    return _Loaded(nodes, sources, known, names, resolved, previous)


def _stored_sources(session: Session, product_ids: Collection[str]) -> dict[str, Source]:
    """Stored results of products outside the computation, as sources."""
    found: dict[str, Source] = {}
    query = sa.select(
        *(_RESULTS.c[name] for name in _RESULT_COLUMNS),
        _PRODUCTS.c.owner_id,
        _PRODUCTS.c.declared_unit,
        _PRODUCTS.c.declared_amount,
        _PRODUCTS.c.mass_per_declared_unit,
    ).join_from(_RESULTS, _PRODUCTS, _PRODUCTS.c.id == _RESULTS.c.product_id)
    for row in _rows(session, query, _RESULTS.c.product_id, product_ids, raw=True):
        product_id = row[0]
        dqr = None if row[7] is None else (_dec(row[7]), _dec(row[8]), _dec(row[9]))
        found[product_id] = Source(
            key=product_id,
            kind=SourceKind.PRODUCT,
            declared_unit=canonical_unit(row[12]),
            declared_amount=Decimal(row[13]),
            values=(
                Decimal(row[1]),
                Decimal(row[2]),
                Decimal(row[3]),
                Decimal(row[4]),
                Decimal(row[5]),
            ),
            quality=Quality(_dec(row[6]), dqr, _dec(row[10])),  # type: ignore[arg-type]
            mass_per_declared_unit=_dec(row[14]),
            reference={"productId": product_id, "owner": row[11]},
        )
    return found


# --- computing -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Recomputation:
    computed: int
    changed: int
    newly_stale: tuple[str, ...]


def _executemany(session: Session, table: str, columns: Sequence[str], rows: list[Any]) -> None:
    """One DBAPI executemany of positional rows (no per-value processing)."""
    connection = session.connection()
    style = connection.dialect.paramstyle
    marker = "?" if style == "qmark" else "%s"
    statement = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - fixed names only
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    connection.exec_driver_sql(statement, rows)


def _update_many(
    session: Session, table: str, sets: Sequence[str], key: str, rows: list[Any]
) -> None:
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"UPDATE {table} SET {', '.join(f'{c} = {marker}' for c in sets)} "  # noqa: S608
        f"WHERE {key} = {marker}"
    )
    connection.exec_driver_sql(statement, rows)


def _write_results(
    session: Session,
    results: Mapping[str, engine.NodeResult],
    *,
    everything: bool,
    now: dt.datetime,
) -> None:
    dialect = session.get_bind().dialect
    processor = Result.__table__.c.computed_at.type.bind_processor(dialect)
    moment: Any = processor(now) if processor else now
    if dialect.name == "sqlite" and isinstance(moment, dt.datetime):
        moment = moment.isoformat(" ")  # what the sqlite3 module stores for a datetime
    # Rows already there are updated in place (cheaper than deleting and inserting them),
    # and on a full recomputation only where a figure changed: the stored figures are
    # read back (as the cursor gives them: text on SQLite, Decimal on PostgreSQL) and
    # compared with what would be written.
    stored = {
        row[0]: tuple(row[1:])
        for row in _rows(
            session,
            sa.select(*(_RESULTS.c[name] for name in _RESULT_COLUMNS)),
            _RESULTS.c.product_id,
            None if everything else results,
            raw=True,
        )
    }
    # SQLite keeps ExactDecimal's fixed-point text; the engine's figures have 12 places.
    as_text = dialect.name == "sqlite"
    updates = []
    inserts = []
    for product_id, (_, values, quality, _) in results.items():
        pds, dqr, coverage = quality
        figures = (*values, pds, *(dqr or (None, None, None)), coverage)
        if as_text:
            # The engine's figures have exactly 12 places, so str() is already the fixed-point
            # text format() gives, at half its cost, except below 1e-6 (scientific: "E").
            figures = tuple(
                [
                    None if v is None else shown if "E" not in (shown := str(v)) else format(v, "f")
                    for v in figures
                ]
            )
        before = stored.get(product_id)
        if before is None:
            inserts.append((product_id, *figures, moment, False))
        elif not everything:
            updates.append((*figures, moment, False, None, None, product_id))
        elif before != figures:
            updates.append((*figures, product_id))
    connection = session.connection()
    if everything and stored:
        # Every stored row was computed again just now: its time and freshness are set by
        # two set-wide statements, and only changed figures are written row by row below.
        marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        connection.exec_driver_sql(
            f"UPDATE agg_results SET computed_at = {marker}",  # noqa: S608 - fixed names only
            (moment,),
        )
        connection.exec_driver_sql(
            f"UPDATE agg_results SET stale = {marker}, stale_since = NULL, "  # noqa: S608
            f"stale_reason = NULL WHERE stale = {marker}",
            (False, True),
        )
        if updates:
            _update_many(session, "agg_results", _RESULT_COLUMNS[1:], "product_id", updates)
    elif updates:
        columns = [*_RESULT_COLUMNS[1:], "computed_at", "stale", "stale_since", "stale_reason"]
        _update_many(session, "agg_results", columns, "product_id", updates)
    if inserts:
        _executemany(session, "agg_results", [*_RESULT_COLUMNS, "computed_at", "stale"], inserts)


def _write_resolutions(session: Session, loaded: _Loaded) -> None:
    changes = [
        (record, factor, line_id)
        for line_id, (record, factor) in loaded.resolved.items()
        if loaded.previous.get(line_id) != (record, factor)
    ]
    if changes:
        _update_many(
            session, "agg_lines", ["resolved_record_id", "resolved_factor_id"], "id", changes
        )


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk computation, restored after.

    A full recomputation allocates several hundred thousand tuples (lines, nodes, sources,
    results) that stay alive until it ends and form no reference cycles; the collector
    would walk all of them again at every collection of the oldest generation, which cost
    about a third of the CPU of a 100,000-product run. Reference counting still frees
    everything as usual; only cycle detection waits until the end.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def recompute(session: Session, targets: Collection[str] | None = None) -> Recomputation:
    """Compute ``targets`` (None: every product) bottom-up and store their results.

    Children outside ``targets`` are read as stored. A parent outside ``targets`` of a
    product whose figures changed goes stale.
    """
    with _without_cyclic_gc():
        return _recompute(session, targets)


def _recompute(session: Session, targets: Collection[str] | None) -> Recomputation:
    session.flush()
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
