"""The pure aggregation engine: a product graph in, exact per-product footprints out.

No database and no Flask here. A *node* is a product with a declared unit and bill of
materials lines; each line takes a quantity of either another node (a tier below) or a
*source* (a supplier's footprint record or an approved factor), per declared unit of the
node. PACT v3 semantics throughout: a source's values are per its ``declared_amount`` x
``declared_unit``, and so is every node's result.

Arithmetic is Decimal with 50 significant digits: products and sums of 12-place values
are exact at that precision. Two steps can round, both deterministically: a division by a
declared amount whose quotient does not terminate (at the 50th digit), and a unit ratio
that does not terminate in decimal (1 MJ = 1/3.6 kWh: the quantity is rounded half-even
to 12 places, as :mod:`exchange.factors.units` does). Every stored figure is rounded
half-even to 12 fractional digits, the precision of the database (:mod:`exchange.quantities`
says how, and writes every figure's text), and a parent is always
computed from its children's *rounded* figures, so a full recomputation and an
incremental one give the same numbers, byte for byte.

Parts kept apart (all per declared unit, kg CO2e):

* ``total`` - the footprint including biogenic uptake (PACT ``pcfIncludingBiogenicUptake``);
* ``fossil`` - fossil GHG emissions;
* ``biogenic`` - the biogenic uptake and removals, ``pcfIncluding - pcfExcluding`` of a
  record (negative when the product stores carbon);
* ``land_use`` - direct land-use change emissions;
* ``packaging`` - packaging emissions (a part of ``total``, not an addition): every line of
  category ``packaging`` whole (excluding its biogenic uptake, as PACT's
  ``packagingGhgEmissions``), plus the packaging part of the other lines' sources.

Quality roll-ups weight each line by the absolute value of its contribution to
``total``, so a removal counts as much as an emission of the same size:
primary-data share (percent), the three PACT DQRs (over inputs that state them) and
coverage (the share backed by supplier-specific records rather than secondary factors).
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from exchange import quantities
from exchange.factors import units

CONTEXT: Final = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN)
ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)
HUNDRED: Final = Decimal(100)
PART_NAMES: Final = ("total", "fossil", "biogenic", "landUse", "packaging")
# The bill-of-materials category whose lines make up the packaging part.
PACKAGING: Final = "packaging"
RESULT_SCHEMA: Final = "footprint-exchange:aggregation-result:v1"

Vector = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
ZERO_VECTOR: Final[Vector] = (ZERO, ZERO, ZERO, ZERO, ZERO)
NO_REFERENCE: Final[Mapping[str, Any]] = MappingProxyType({})


class AggregationError(ValueError):
    """A graph or a line the engine cannot compute; ``details`` say where."""

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class CycleError(AggregationError):
    """The bill of materials refers back to itself; ``cycle`` names it, first node repeated."""

    def __init__(self, cycle: Sequence[str], names: Mapping[str, str] | None = None) -> None:
        label = [names.get(node, node) if names else node for node in cycle]
        super().__init__(
            "the bill of materials has a cycle: " + " -> ".join(label),
            [{"field": "bom", "message": "cycle", "cycle": list(label)}],
        )
        self.cycle = list(cycle)


class SourceKind(enum.StrEnum):
    RECORD = "record"
    FACTOR = "factor"
    PRODUCT = "product"


class Quality(NamedTuple):
    """Roll-up figures of a source or a node; None where nothing stated them."""

    primary_data_share: Decimal | None = None
    dqr: tuple[Decimal, Decimal, Decimal] | None = None
    coverage: Decimal | None = None


class Source(NamedTuple):
    """A footprint the graph consumes: values per ``declared_amount`` x ``declared_unit``."""

    key: str
    kind: SourceKind
    declared_unit: str
    declared_amount: Decimal
    values: Vector
    quality: Quality
    mass_per_declared_unit: Decimal | None = None
    # Identification for provenance (record id/owner/kid/log index, factor id/code/version).
    reference: Mapping[str, Any] = NO_REFERENCE


class Line(NamedTuple):
    """``quantity`` ``unit`` of a child node or a source, per declared unit of the parent."""

    position: int
    quantity: Decimal
    unit: str
    child: str | None = None
    source: str | None = None
    category: str = "component"
    label: str = ""
    # A supplier record was wanted but is missing: the source is a fallback factor.
    missing: Mapping[str, str] | None = None


class Node(NamedTuple):
    id: str
    declared_unit: str
    declared_amount: Decimal
    lines: tuple[Line, ...]
    mass_per_declared_unit: Decimal | None = None
    name: str = ""


class LineResult(NamedTuple):
    line: Line
    source: Source
    converted_quantity: Decimal
    contribution: Vector


class NodeResult(NamedTuple):
    node_id: str
    values: Vector
    quality: Quality
    lines: tuple[LineResult, ...] = ()

    def as_source(self, node: Node) -> Source:
        return Source(
            key=node.id,
            kind=SourceKind.PRODUCT,
            declared_unit=node.declared_unit,
            declared_amount=node.declared_amount,
            values=self.values,
            quality=self.quality,
            mass_per_declared_unit=node.mass_per_declared_unit,
        )


# --- graph ---------------------------------------------------------------------------------


def find_cycle(children: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle among the nodes (first node repeated at the end), or None; deterministic."""
    white, grey, black = 0, 1, 2
    colour: dict[str, int] = {}
    for start in sorted(children):
        if colour.get(start, white) != white:
            continue
        path: list[str] = [start]
        stacks = [iter(sorted(children.get(start, ())))]
        colour[start] = grey
        while stacks:
            child = next(stacks[-1], None)
            if child is None:
                colour[path.pop()] = black
                stacks.pop()
                continue
            state = colour.get(child, white)
            if state == grey:
                return [*path[path.index(child) :], child]
            if state == white and child in children:
                colour[child] = grey
                path.append(child)
                stacks.append(iter(sorted(children.get(child, ()))))
    return None


def topological_order(
    children: Mapping[str, Sequence[str]], names: Mapping[str, str] | None = None
) -> list[str]:
    """Every node after all of its children (Kahn); a cycle is a :class:`CycleError`.

    Children not in ``children`` are outside the set (computed already) and ignored.
    """
    pending = dict.fromkeys(children, 0)
    parents: dict[str, list[str]] = {}
    for node, kids in children.items():
        # A child named twice is counted twice and released twice: no need for a set.
        for kid in kids:
            if kid in pending:
                pending[node] += 1
                if kid in parents:
                    parents[kid].append(node)
                else:
                    parents[kid] = [node]
    ready = [node for node, count in pending.items() if count == 0]
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in parents.get(node, ()):
            pending[parent] -= 1
            if pending[parent] == 0:
                ready.append(parent)
    if len(order) != len(pending):
        left = {node: children[node] for node in pending if node not in set(order)}
        cycle = find_cycle(left)
        assert cycle is not None
        raise CycleError(cycle, names)
    return order


# --- units ---------------------------------------------------------------------------------

# (unit, target) -> the exact ratio, None where it does not terminate in decimal, or
# False between dimensions (pieces and mass convert through a mass per piece).
_ratio_cache: dict[tuple[str, str], Decimal | bool | None] = {}


def _terminating(value: Fraction) -> bool:
    rest = value.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    return rest == 1


def _ratio(unit: str, target: str) -> Decimal | bool | None:
    key = (unit, target)
    found = _ratio_cache.get(key, True)
    if found is True:
        source, goal = units.unit(unit), units.unit(target)
        if source.dimension == goal.dimension:
            ratio = source.to_base / goal.to_base
            found = units.to_decimal(ratio) if _terminating(ratio) else None
            if found is not None and found == ONE:
                found = ONE
        else:
            found = False
        _ratio_cache[key] = found
    return found


_counted: dict[str, bool] = {}


def _is_count(symbol: str) -> bool:
    found = _counted.get(symbol)
    if found is None:
        try:
            found = units.unit(symbol).dimension == units.Dimension.COUNT
        except units.UnitError:
            found = False
        _counted[symbol] = found
    return found


def _mass_per_piece(source: Source) -> Decimal | None:
    """kg per piece of a source declared in pieces that states its mass, else None."""
    mass = source.mass_per_declared_unit
    if mass is None or mass <= 0 or not _is_count(source.declared_unit):
        return None
    return CONTEXT.divide(mass, source.declared_amount)


# --- computation ---------------------------------------------------------------------------


def _line_error(node: Node, line: Line, message: str) -> AggregationError:
    where = node.name or node.id
    return AggregationError(
        f"{where}, line {line.position} ({line.label or line.child or line.source}): {message}",
        [{"field": f"lines.{line.position}", "message": message, "product": node.id}],
    )


def compute_node(node: Node, resolve: Mapping[str, Source], *, detail: bool = False) -> NodeResult:
    """One node from its lines; ``resolve`` maps child node ids and source keys to sources."""
    with decimal.localcontext(CONTEXT):
        return _compute_node(node, resolve, detail)


def _amount(node: Node, line: Line, source: Source) -> Decimal:
    """The line's quantity in the source's declared unit (pieces and mass via its mass)."""
    unit, target = line[2], source.declared_unit
    ratio = _ratio_cache.get((unit, target), True)
    try:
        if ratio is True:
            ratio = _ratio(unit, target)
        if ratio is ONE:
            return line[1]
        if ratio.__class__ is Decimal:
            return line[1] * ratio
        return units.convert(line[1], unit, target, mass_per_piece=_mass_per_piece(source))
    except units.UnitError as exc:
        raise _line_error(
            node,
            line,
            f"{unit} cannot be used for a footprint declared per {target}: {exc}",
        ) from exc


def _compute_node(node: Node, resolve: Mapping[str, Source], detail: bool) -> NodeResult:
    # Runs under CONTEXT (see compute_node, compute): plain operators are exact here.
    # Lines are read by position (quantity 1, unit 2, child 3, source 4): this is the loop
    # every product of a full recomputation goes through.
    total = fossil = biogenic = land_use = packaging = ZERO
    weight = pds_weighted = coverage_weighted = ZERO
    pds_weight = dqr_weight = ZERO
    dqr_t = dqr_g = dqr_p = ZERO
    line_results: list[LineResult] = []
    packaging_category, zero = PACKAGING, ZERO  # locals: read once per line below
    for line in node.lines:
        ref = line[3] or line[4]
        try:
            source = resolve[ref]  # type: ignore[index]
        except KeyError:
            raise _line_error(node, line, f"no footprint for {ref}") from None
        # One unpacking instead of four attribute look-ups.
        _, _, declared_unit, declared, (v0, v1, v2, v3, v4), quality, _, _ = source
        amount = line[1] if line[2] == declared_unit else _amount(node, line, source)
        scale = amount if declared is ONE or declared == ONE else amount / declared
        part = v0 * scale
        total += part
        if v1:
            fossil += v1 * scale
        if v2:
            biogenic += v2 * scale
        if v3:
            land_use += v3 * scale
        if line[5] == packaging_category:
            # A packaging line is packaging as a whole, without its biogenic uptake (PACT's
            # packagingGhgEmissions excludes it), whatever its source says of packaging.
            packed = part - v2 * scale if v2 else part
            packaging += packed
        elif v4:
            packed = v4 * scale
            packaging += packed
        else:
            packed = zero
        size = abs(part)
        weight += size
        pds, dqr, coverage = quality
        if coverage is ONE:
            # A supplier record's coverage: size x 1 is size itself, same digits and exponent.
            coverage_weighted += size
        elif coverage:
            coverage_weighted += size * coverage
        if pds is not None:
            pds_weighted += size * pds
            pds_weight += size
        if dqr is not None:
            technological, geographical, temporal = dqr
            dqr_t += size * technological
            dqr_g += size * geographical
            dqr_p += size * temporal
            dqr_weight += size
        if detail:
            contribution: Vector = (part, v1 * scale, v2 * scale, v3 * scale, packed)
            line_results.append(LineResult(line, source, amount, contribution))
    # The stored figures' rounding (exchange.quantities.rounded), inlined: CONTEXT is the
    # current context here, half-even and wide enough.
    quantum = quantities.QUANTUM
    return tuple.__new__(
        NodeResult,
        (
            node.id,
            (
                total.quantize(quantum),
                fossil.quantize(quantum),
                biogenic.quantize(quantum),
                land_use.quantize(quantum),
                packaging.quantize(quantum),
            ),
            tuple.__new__(
                Quality,
                (
                    (pds_weighted / pds_weight).quantize(quantum) if pds_weight else None,
                    (
                        (dqr_t / dqr_weight).quantize(quantum),
                        (dqr_g / dqr_weight).quantize(quantum),
                        (dqr_p / dqr_weight).quantize(quantum),
                    )
                    if dqr_weight
                    else None,
                    (coverage_weighted / weight).quantize(quantum) if weight else None,
                ),
            ),
            tuple(line_results),
        ),
    )


def compute(
    nodes: Mapping[str, Node],
    sources: Mapping[str, Source],
    *,
    known: Mapping[str, Source] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, NodeResult]:
    """Every node of ``nodes`` in topological order.

    ``sources`` are the leaf inputs; ``known`` are the rounded results of child nodes
    outside ``nodes`` (computed earlier). A child found in neither is an error.
    """
    resolve: dict[str, Source] = dict(sources)
    if known:
        resolve.update(known)
    results: dict[str, NodeResult] = {}
    product = SourceKind.PRODUCT
    new = tuple.__new__
    with decimal.localcontext(CONTEXT):
        # Depth first, children before parents: one pass, no separate topological sort.
        # Each stack entry keeps an iterator over its node's lines, so a line is looked
        # at once however many of its siblings had to be computed first. The stack is
        # empty again after each root: one list and one set serve them all.
        stack: list[tuple[str, Iterator[Line]]] = []
        on_stack: set[str] = set()
        for root in nodes:
            if root in results:
                continue
            stack.append((root, iter(nodes[root].lines)))
            on_stack.add(root)
            while stack:
                node_id, pending = stack[-1]
                for line in pending:
                    child = line[3]
                    if child is not None and child not in resolve and child in nodes:
                        if child in on_stack:
                            path = [entry[0] for entry in stack]
                            raise CycleError([*path[path.index(child) :], child], names)
                        stack.append((child, iter(nodes[child].lines)))
                        on_stack.add(child)
                        break
                else:
                    stack.pop()
                    on_stack.discard(node_id)
                    node = nodes[node_id]
                    result = _compute_node(node, resolve, False)
                    results[node_id] = result
                    resolve[node_id] = new(
                        Source,
                        (
                            node_id,
                            product,
                            node.declared_unit,
                            node.declared_amount,
                            result.values,
                            result.quality,
                            node.mass_per_declared_unit,
                            NO_REFERENCE,
                        ),
                    )
    return results


# --- documents -----------------------------------------------------------------------------


HEADLINE: Final = "pcfExcludingBiogenicUptake"


def headline(values: Vector) -> Decimal:
    """PACT's headline figure, ``pcfExcludingBiogenicUptake``: the total without the
    biogenic part."""
    return CONTEXT.subtract(values[0], values[2])


def vector_json(values: Vector) -> dict[str, str]:
    """The parts as text, PACT's headline figure first (``total`` includes biogenic uptake)."""
    return {
        HEADLINE: quantities.rounded_text(headline(values)),
        **{
            name: quantities.rounded_text(value)
            for name, value in zip(PART_NAMES, values, strict=True)
        },
    }


def quality_json(quality: Quality) -> dict[str, Any]:
    return {
        "primaryDataShare": None
        if quality.primary_data_share is None
        else quantities.rounded_text(quality.primary_data_share),
        "dqr": None
        if quality.dqr is None
        else {
            "technologicalDQR": quantities.rounded_text(quality.dqr[0]),
            "geographicalDQR": quantities.rounded_text(quality.dqr[1]),
            "temporalDQR": quantities.rounded_text(quality.dqr[2]),
        },
        "coverage": None if quality.coverage is None else quantities.rounded_text(quality.coverage),
    }


def line_json(item: LineResult) -> dict[str, Any]:
    line, source = item.line, item.source
    document: dict[str, Any] = {
        "position": line.position,
        "category": line.category,
        "label": line.label,
        "quantity": quantities.rounded_text(line.quantity),
        "unit": line.unit,
        "kind": source.kind.value,
        "secondary": source.kind == SourceKind.FACTOR,
        "input": dict(source.reference) if source.reference else {"productId": source.key},
        "declaredUnit": source.declared_unit,
        "declaredAmount": quantities.rounded_text(source.declared_amount),
        "convertedQuantity": quantities.rounded_text(item.converted_quantity),
        "contribution": vector_json(tuple(quantities.rounded(v) for v in item.contribution)),  # type: ignore[arg-type]
        "quality": quality_json(source.quality),
    }
    if line.missing is not None:
        document["missing"] = dict(line.missing)
    return document


def result_document(product: Mapping[str, Any], result: NodeResult) -> dict[str, Any]:
    """The reproducible result of one node: product, figures, quality and every input.

    ``result`` must have been computed with ``detail=True``. Nothing here depends on the
    time or on random ids, so the same inputs give the same canonical bytes.
    """
    inputs = [line_json(item) for item in result.lines]
    weight = sum((abs(item.contribution[0]) for item in result.lines), ZERO)
    secondary = sum(
        (
            abs(item.contribution[0])
            for item in result.lines
            if item.source.kind == SourceKind.FACTOR
        ),
        ZERO,
    )
    return {
        "schema": RESULT_SCHEMA,
        "product": dict(product),
        "pcf": vector_json(result.values),
        "excludingBiogenic": quantities.rounded_text(headline(result.values)),
        "quality": quality_json(result.quality),
        "directSecondaryShare": None
        if not weight
        else quantities.rounded_text(CONTEXT.divide(secondary, weight)),
        "missingSupplierData": [
            dict(item.line.missing) for item in result.lines if item.line.missing is not None
        ],
        "inputs": inputs,
    }
