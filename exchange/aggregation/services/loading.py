"""Loading a product graph for the engine: products, lines, resolved supplier records,
factors and stored child results, read in bulk.

The bulk paths read through Core with untyped ("lightweight") columns and convert the
few decimal columns themselves: at 100,000 products the per-value type processing of
typed columns would cost more than the computation."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities
from exchange.aggregation import engine
from exchange.aggregation.engine import Line, Node, Quality, Source, SourceKind
from exchange.aggregation.models import Product, RecordValues
from exchange.aggregation.services.common import visible_record_ids
from exchange.db import chunked, insert_unless_present
from exchange.errors import ValidationFailed
from exchange.factors import units
from exchange.factors.models import Factor, FactorStatus
from exchange.footprints.models import (
    Disclosure,
    FootprintRecord,
    RecordStatus,
    Share,
)


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
RESULT_COLUMNS: Final = (
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
RESULTS = _light("agg_results", *RESULT_COLUMNS, "stale")
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
_RECORDS = _light("footprint_records", "id", "owner_id", "status", "disclosure", "received_at")
_RECORD_PRODUCTS = _light("footprint_products", "record_id", "product_id")
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


def fetch_rows(
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
    for chunk in chunked(ids):
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
    return value is None or quantities.fits(value)


def _record_sources(session: Session, ids: Collection[str], *, detail: bool) -> dict[str, Source]:
    """Records as sources: their figures from ``agg_record_values``, extracted on first use.

    A record whose figures have more than 12 decimal places is read from its document
    every time (the table keeps 12 places), so no figure is ever rounded.
    """
    found: dict[str, tuple[Any, ...]] = {
        row[0]: tuple(row)
        for row in fetch_rows(session, sa.select(_VALUES), _VALUES.c.record_id, ids, raw=True)
    }
    missing = set(ids) - set(found)
    if missing:
        fresh = []
        for record_id, footprint_json in fetch_rows(
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
        for record_id, owner, kid, signature, log_index in fetch_rows(session, query, _FR.id, ids):
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
    # Records' figures repeat (a supplier's products often share a declared amount, a
    # DQR, a primary-data share): one Decimal per distinct stored value.
    numbers: dict[Any, Decimal | None] = {None: None}

    def number(value: Any) -> Any:
        if value in numbers:
            return numbers[value]
        found = numbers[value] = Decimal(value)
        return found

    for record_id, row in found.items():
        dqr = None if row[10] is None else (number(row[10]), number(row[11]), number(row[12]))
        sources[record_id] = Source(
            record_id,
            SourceKind.RECORD,
            canonical_unit(row[1]),
            number(row[2]),
            (number(row[4]), number(row[5]), number(row[6]), number(row[7]), number(row[8])),
            Quality(number(row[9]), dqr, one),
            number(row[3]),
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
    for row in fetch_rows(session, query, _F.code, codes):
        found[row[1]] = tuple(row)
    return found


def _factors_by_id(session: Session, ids: Collection[str]) -> dict[str, tuple[Any, ...]]:
    return {
        row[0]: tuple(row) for row in fetch_rows(session, sa.select(*_FACTOR_COLUMNS), _F.id, ids)
    }


class _Visibility:
    """Which records each organisation may use, decided in memory from the shares table;
    rare cases (a record shared through another of its products) ask the database."""

    def __init__(self, session: Session, grantees: Collection[str]) -> None:
        self.session = session
        self.records: set[tuple[str, str]] = set()
        self.products: set[tuple[str, str, str]] = set()
        query = sa.select(Share.grantee_id, Share.owner_id, Share.record_id, Share.product_id)
        for grantee, owner, record_id, product in fetch_rows(
            session, query, Share.grantee_id, grantees
        ):
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
    session: Session, wanted: Sequence[tuple[str, Any]], *, everything: bool
) -> dict[int, str]:
    """Line id -> the supplier's latest Active record of the product its owner may see.

    ``wanted``: (owner, line row) of each line naming a supplier's product.
    """
    if not wanted:
        return {}
    pairs = {(row[7], row[8]) for _, row in wanted}
    # Untyped columns: the receipt times come as the database keeps them (fixed-width UTC
    # text on SQLite, timestamps on PostgreSQL), which order the same as the times.
    query = (
        sa.select(
            _RECORDS.c.owner_id,
            _RECORD_PRODUCTS.c.product_id,
            _RECORDS.c.received_at,
            _RECORDS.c.id,
            _RECORDS.c.disclosure,
        )
        .join_from(_RECORDS, _RECORD_PRODUCTS, _RECORD_PRODUCTS.c.record_id == _RECORDS.c.id)
        .where(_RECORDS.c.status == RecordStatus.ACTIVE.value)
    )
    # By product id (indexed) unless every line is wanted; the owner is checked below.
    rows = fetch_rows(
        session,
        query,
        _RECORD_PRODUCTS.c.product_id,
        None if everything else {product for _, product in pairs},
        raw=True,
    )
    candidates: dict[tuple[str, str], list[tuple[Any, str, str]]] = {}
    for owner, product, received, record_id, disclosure in rows:
        if (owner, product) in pairs:
            candidates.setdefault((owner, product), []).append((received, record_id, disclosure))
    for options in candidates.values():
        options.sort(reverse=True)
    visibility = _Visibility(session, {owner for owner, _ in wanted})
    resolved: dict[int, str] = {}
    chosen: dict[tuple[str, str, str], str | None] = {}
    for owner, row in wanted:
        key = (owner, row[7], row[8])
        if key not in chosen:
            chosen[key] = next(
                (
                    record_id
                    for _, record_id, disclosure in candidates.get((row[7], row[8]), ())
                    if visibility.visible(owner, record_id, row[7], row[8], disclosure)
                ),
                None,
            )
        record = chosen[key]
        if record is not None:
            resolved[row[1]] = record
    return resolved


@dataclasses.dataclass(slots=True)
class LoadedGraph:
    nodes: dict[str, Node]
    sources: dict[str, Source]
    known: dict[str, Source]
    names: dict[str, str]
    # (record id, factor id, line id) of each line that resolves to something other than
    # what the last computation stored.
    resolution_changes: list[tuple[str | None, str | None, int]]


def _withdrawn_children(
    session: Session, candidates: Collection[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Of ``(parent owner, child product)`` pairs whose child may belong to another
    organisation, those where it does and that organisation no longer shares it: its
    figures may not be used any more."""
    if not candidates:
        return set()
    child_of: dict[str, tuple[str, str]] = {}
    query = sa.select(Product.id, Product.owner_id, Product.product_urn)
    for child_id, owner_id, urn in fetch_rows(
        session, query, Product.id, {child for _, child in candidates}
    ):
        child_of[child_id] = (owner_id, urn.lower())
    foreign = {
        (owner, child)
        for owner, child in candidates
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


def load_graph(session: Session, targets: Collection[str] | None, *, pinned: bool) -> LoadedGraph:
    """The nodes to compute with their sources and stored children.

    ``pinned``: use what the last computation resolved (an explanation, with provenance
    detail) instead of resolving supplier records and factors again (a computation).
    """
    # Product rows: id, owner, code, declared unit, declared amount, mass per declared unit.
    products = {
        row[0]: row
        for row in fetch_rows(session, sa.select(_PRODUCTS), _PRODUCTS.c.id, targets, raw=True)
    }
    line_rows = fetch_rows(session, sa.select(_LINES), _LINES.c.product_id, targets, raw=True)
    # One pass sorts the lines out: their owners (for visibility), the children outside
    # the set or of another owner, pinned records and factor codes.
    line_owner: dict[int, str] = {}
    supplier_lines: list[tuple[str, Any]] = []
    children: set[str] = set()
    maybe_foreign: set[tuple[str, str]] = set()
    pins: dict[int, str] = {}
    factor_lines: list[tuple[int, str]] = []
    for row in line_rows:
        child = row[10]
        if child is not None:
            owner = products[row[0]][1]
            inside = products.get(child)
            if inside is None:
                children.add(child)
                maybe_foreign.add((owner, child))
            elif inside[1] != owner:
                maybe_foreign.add((owner, child))
            continue
        if row[9] is not None:
            line_owner[row[1]] = products[row[0]][1]
            pins[row[1]] = row[9]
        elif row[7] is not None and row[8] is not None:
            supplier_lines.append((products[row[0]][1], row))
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
            _resolve_supplier_lines(session, supplier_lines, everything=targets is None)
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
    known = stored_sources(session, children) if children else {}
    withdrawn = _withdrawn_children(session, maybe_foreign)
    names = {product_id: row[2] for product_id, row in products.items()}
    grouped: dict[str, list[Line]] = {product_id: [] for product_id in products}
    problems: list[dict[str, Any]] = []
    changes: list[tuple[str | None, str | None, int]] = []
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
            if withdrawn and (products[product_id][1], child) in withdrawn:
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
            grouped[product_id].append(
                new(Line, (position, quantity, unit, child, None, category, label, None))
            )
            continue
        chosen_record = resolved_records.get(line_id)
        chosen_factor = resolved_factors.get(line_id)
        if chosen_record != was_record or chosen_factor != was_factor:
            changes.append((chosen_record, chosen_factor, line_id))
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
            line = new(
                Line,
                (position, quantity, unit, None, f"factor:{chosen_factor}", category, label,
                 missing),
            )  # fmt: skip
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
    for product_id, (_, _, code, unit, amount, mass) in products.items():
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
    return LoadedGraph(nodes, sources, known, names, changes)


def stored_sources(session: Session, product_ids: Collection[str]) -> dict[str, Source]:
    """Stored results of products outside the computation, as sources."""
    found: dict[str, Source] = {}
    query = sa.select(
        *(RESULTS.c[name] for name in RESULT_COLUMNS),
        _PRODUCTS.c.owner_id,
        _PRODUCTS.c.declared_unit,
        _PRODUCTS.c.declared_amount,
        _PRODUCTS.c.mass_per_declared_unit,
    ).join_from(RESULTS, _PRODUCTS, _PRODUCTS.c.id == RESULTS.c.product_id)
    for row in fetch_rows(session, query, RESULTS.c.product_id, product_ids, raw=True):
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
