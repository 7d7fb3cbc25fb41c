"""Carbon-inclusion (碳普惠) reductions: a product's footprint against its category benchmark.

The benchmark is the one the regulator's grading scheme holds for the category (a
benchmark-ratio scheme's ``benchmark``, kg CO2e per ONE ``scheme.unit``). PACT v3 states a
record's PCF for ``declaredUnitAmount`` x ``declaredUnitOfMeasurement``, so the footprint is
first brought to one unit of the scheme: divided by the amount, then converted exactly
(g and t to kg, mL to L, ...; across dimensions only through the record's
``productMassPerDeclaredUnit``). Then

    reduction per unit = benchmark - footprint per unit
    total reduction    = reduction per unit x quantity (in the scheme's unit)

computed on exact fractions and shown as decimals (rounded half-even to 12 places only
where a division never ends, and marked so). A footprint above the benchmark gives a
negative reduction: reported as it is, with the outcome ``no-reduction``.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.errors import NotFound
from exchange.factors import units
from exchange.footprints import services as footprints
from exchange.footprints.models import FootprintRecord
from exchange.labels import services as labels
from exchange.labels.models import Certificate, GradingMethod, GradingScheme
from exchange.organisations.principals import Principal
from exchange.scenarios.services.common import Figure, field_error
from exchange.scenarios.services.procurement import known_category

KG_CO2E = "kg CO2e"


@dataclasses.dataclass(frozen=True, slots=True)
class ReductionQuery:
    """One of ``record`` (a footprint record id the caller may see) or ``certificate`` (a
    registry number: public); ``category`` when the record alone does not say it;
    ``quantity`` sold or consumed, in ``quantity_unit`` (the scheme's unit when None)."""

    record: str | None = None
    certificate: int | None = None
    category: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    scheme_version: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Basis:
    """The footprint a reduction is computed from: a record's own figures, or a
    certificate's registered value per one declared unit."""

    record: FootprintRecord | None
    certificate: Certificate | None
    certificate_status: str | None
    record_id: str
    product_name: str
    company_name: str
    pcf: Decimal
    declared_amount: Decimal
    declared_unit: str
    # kg of product per ONE declared unit, where the record states it.
    kg_per_unit: Fraction | None

    @property
    def log_index(self) -> int:
        """Where the record (or, for a certificate, the certificate) sits in the log."""
        if self.record is not None:
            return self.record.log_index
        assert self.certificate is not None
        return self.certificate.log_index


@dataclasses.dataclass(frozen=True, slots=True)
class Reduction:
    basis: Basis
    category: str
    scheme: GradingScheme
    benchmark: Decimal
    footprint_per_unit: Figure
    reduction_per_unit: Figure
    quantity: Decimal | None
    quantity_unit: str | None
    quantity_in_scheme_unit: Figure | None
    total: Figure | None

    @property
    def outcome(self) -> str:
        return "reduction" if self.reduction_per_unit.value > 0 else "no-reduction"


def _unit(name: str, field: str) -> units.Unit:
    try:
        return units.unit(name)
    except units.UnitError as exc:
        raise field_error(field, str(exc)) from exc


def _ratio(
    source: units.Unit, target: units.Unit, declared: units.Unit, kg_per_unit: Fraction | None
) -> Fraction:
    """How many ``target`` units one ``source`` unit is. Across dimensions only between the
    declared unit's dimension and mass, through the record's mass per declared unit."""
    if source.dimension == target.dimension:
        return source.to_base / target.to_base
    mass = units.Dimension.MASS
    if kg_per_unit is not None:
        if source.dimension == declared.dimension and target.dimension == mass:
            return source.to_base / declared.to_base * kg_per_unit / target.to_base
        if source.dimension == mass and target.dimension == declared.dimension:
            return source.to_base / kg_per_unit * declared.to_base / target.to_base
    hint = "" if kg_per_unit is not None else " (the record states no product mass)"
    raise units.UnitError(
        f"cannot convert {source.symbol} ({source.dimension.value}) to "
        f"{target.symbol} ({target.dimension.value}){hint}"
    )


def _record_basis(session: Session, viewer: Principal | None, record_id: str) -> Basis:
    record = footprints.get_record(session, viewer, record_id)
    footprint = json.loads(record.footprint_json)
    pcf = footprint["pcf"]
    amount = Decimal(pcf["declaredUnitAmount"])
    mass = pcf.get("productMassPerDeclaredUnit")
    kg = Fraction(Decimal(mass)) / Fraction(amount) if mass not in (None, "") else None
    return Basis(
        record=record,
        certificate=None,
        certificate_status=None,
        record_id=record.id,
        product_name=str(footprint.get("productNameCompany", "")),
        company_name=str(footprint.get("companyName", "")),
        pcf=Decimal(pcf["pcfIncludingBiogenicUptake"]),
        declared_amount=amount,
        declared_unit=str(pcf["declaredUnitOfMeasurement"]),
        kg_per_unit=kg if kg is not None and kg > 0 else None,
    )


def _certificate_basis(session: Session, number: int) -> Basis:
    entry = labels.registry_entry(session, number)
    certificate = entry.certificate
    return Basis(
        record=None,
        certificate=certificate,
        certificate_status=entry.status,
        record_id=certificate.record_id,
        product_name=certificate.product_name,
        company_name=certificate.company_name,
        pcf=Decimal(certificate.value),
        declared_amount=Decimal(1),
        declared_unit=certificate.unit,
        kg_per_unit=None,
    )


def _category(session: Session, basis: Basis, given: str | None) -> str:
    if basis.certificate is not None:
        if given is not None and given != basis.certificate.category:
            raise field_error(
                "category", f"certificate {basis.certificate.id} is of {basis.certificate.category}"
            )
        return basis.certificate.category
    if given is not None:
        return given
    certified = set(
        session.scalars(
            sa.select(Certificate.category).where(Certificate.record_id == basis.record_id)
        )
    )
    assert basis.record is not None
    named = json.loads(basis.record.footprint_json).get("productClassifications") or []
    candidates = certified or {item for item in named if known_category(session, item)}
    if len(candidates) != 1:
        raise field_error(
            "category",
            "give the category: the record names "
            + ("several" if candidates else "none")
            + " with a grading scheme",
        )
    return candidates.pop()


def _scheme(session: Session, category: str, version: int | None) -> GradingScheme:
    if version is None:
        scheme = labels.current_scheme(session, category)
    else:
        scheme = session.scalar(
            sa.select(GradingScheme).where(
                GradingScheme.category == category, GradingScheme.version == version
            )
        )
    if scheme is None:
        if version is not None and known_category(session, category):
            raise field_error("schemeVersion", f"{category} has no scheme version {version}")
        raise field_error("category", f"no grading scheme is published for {category}")
    if scheme.method is not GradingMethod.BENCHMARK:
        raise field_error(
            "category",
            f"the scheme for {category} (version {scheme.version}) grades by "
            f"{scheme.method.value} and states no benchmark",
        )
    return scheme


def reduction(session: Session, viewer: Principal | None, query: ReductionQuery) -> Reduction:
    """The reduction of one footprint against its category's benchmark (see the module)."""
    if (query.record is None) == (query.certificate is None):
        raise field_error("record|certificate", "give exactly one of record and certificate")
    if query.quantity is not None and query.quantity <= 0:
        raise field_error("quantity", "a quantity sold or consumed is greater than zero")
    if query.quantity is None and query.quantity_unit is not None:
        raise field_error("quantityUnit", "give the quantity too")
    if query.record is not None:
        basis = _record_basis(session, viewer, query.record)
    else:
        assert query.certificate is not None
        try:
            basis = _certificate_basis(session, query.certificate)
        except NotFound:
            raise NotFound(f"no certificate {query.certificate}") from None
    category = _category(session, basis, query.category)
    scheme = _scheme(session, category, query.scheme_version)
    parameters = labels.scheme_parameters(scheme)
    assert parameters.benchmark is not None
    benchmark = parameters.benchmark
    scheme_unit = _unit(scheme.unit, "scheme.unit")
    declared = _unit(basis.declared_unit, "declaredUnitOfMeasurement")
    try:
        # One scheme unit is this many declared units.
        per_scheme_unit = _ratio(scheme_unit, declared, declared, basis.kg_per_unit)
    except units.UnitError as exc:
        raise field_error(
            "declaredUnitOfMeasurement",
            f"the footprint is per {basis.declared_unit}, the benchmark per {scheme.unit}: {exc}",
        ) from exc
    try:
        footprint = Fraction(basis.pcf) / Fraction(basis.declared_amount) * per_scheme_unit
    except (ZeroDivisionError, InvalidOperation) as exc:
        raise field_error("declaredUnitAmount", "the declared unit amount is zero") from exc
    saved = Fraction(benchmark) - footprint
    quantity_figure = total = None
    quantity_unit = None
    if query.quantity is not None:
        quantity_unit = query.quantity_unit or scheme.unit
        given = _unit(quantity_unit, "quantityUnit")
        try:
            in_scheme = Fraction(query.quantity) * _ratio(
                given, scheme_unit, declared, basis.kg_per_unit
            )
        except units.UnitError as exc:
            raise field_error("quantityUnit", str(exc)) from exc
        quantity_figure = Figure(in_scheme)
        total = Figure(saved * in_scheme)
    return Reduction(
        basis=basis,
        category=category,
        scheme=scheme,
        benchmark=benchmark,
        footprint_per_unit=Figure(footprint),
        reduction_per_unit=Figure(saved),
        quantity=query.quantity,
        quantity_unit=quantity_unit,
        quantity_in_scheme_unit=quantity_figure,
        total=total,
    )
