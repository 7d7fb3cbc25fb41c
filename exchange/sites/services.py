"""Sites (factories and parks), the output each made of a product, and their roll-ups.

A company registers its factories (each optionally inside a park) and records, per period,
how many declared units of a product a factory made under one of its own footprint records.
A roll-up weights each record's footprint by that output:

* the footprint of ONE declared unit of a record is ``pcfIncludingBiogenicUptake ÷
  declaredUnitAmount`` (PACT v3 states the PCF of ``declaredUnitAmount`` units), and the
  quantity made is counted in units of ``declaredUnitOfMeasurement``;
* only outputs of the same declared unit are added up: each unit gets its own group (total
  quantity, emissions = Σ quantity x footprint per unit, production-weighted footprint per
  unit = emissions ÷ quantity); nothing converts a ``piece`` into a ``kilogram``;
* the grade of an output is the current grade of the record's certificate that is active at
  ``now`` (exchange/labels), else it is ungraded; the certified share is the part of a
  group's quantity whose record has an active certificate.

Roll-ups respect :func:`~exchange.footprints.services.visible_to`: a reader only gets the
outputs whose records it may see (a factory's owner sees its own; a park's owner and the
regulator see what was published or disclosed to them), and a count of the others.
Figures are exact decimals; a quotient is rounded half-even to 12 decimal places.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import quantities
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.footprints.models import FootprintRecord
from exchange.footprints.services import own_record, visible_to
from exchange.labels import services as labels
from exchange.labels.models import Certificate
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.sites.models import Site, SiteKind, SiteProduction

# Intermediate sums keep this many digits, so that only the final quotient is rounded.
PRECISION: Final = 80


def _is_regulator(principal: Principal) -> bool:
    return principal.has_role(Role.REGULATOR)


# --- sites -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewSite:
    kind: SiteKind
    name: str
    region: str
    location: str = ""
    park_id: str | None = None


def register_site(session: Session, principal: Principal, new: NewSite) -> Site:
    """Register a factory or a park of the caller's organisation."""
    principal.require_scope("footprints:write")
    errors: list[dict[str, str]] = []
    if not new.name.strip():
        errors.append({"field": "name", "message": "a site needs a name"})
    region = new.region.strip().upper()
    country, _, subdivision = region.partition("-")
    if not (len(country) == 2 and country.isalpha() and country.isascii()) or (
        "-" in region and not (1 <= len(subdivision) <= 3 and subdivision.isalnum())
    ):
        errors.append({"field": "region", "message": "an ISO 3166 code such as CN or CN-HI"})
    if new.park_id is not None:
        if new.kind is not SiteKind.FACTORY:
            errors.append({"field": "parkId", "message": "only a factory lies in a park"})
        else:
            park = session.get(Site, new.park_id)
            if park is None or park.kind is not SiteKind.PARK:
                errors.append({"field": "parkId", "message": f"no park {new.park_id}"})
    if errors:
        raise ValidationFailed("the site is not valid", details=errors)
    site = Site(
        id=str(uuid.uuid4()),
        kind=new.kind,
        name=new.name.strip(),
        owner_id=principal.organisation_id,
        park_id=new.park_id,
        region=region,
        location=new.location.strip(),
    )
    session.add(site)
    session.flush()
    return site


def _may_read(session: Session, principal: Principal, site: Site) -> bool:
    if _is_regulator(principal) or site.owner_id == principal.organisation_id:
        return True
    if site.kind is SiteKind.PARK:
        return True  # parks are listed for factories to name them
    park = session.get(Site, site.park_id) if site.park_id else None
    return park is not None and park.owner_id == principal.organisation_id


def get_site(session: Session, principal: Principal, site_id: str) -> Site:
    """A site the caller may see: its own, any park, the factories in its parks; the regulator
    sees every site. Any other is "not found"."""
    principal.require_scope("footprints:read")
    site = session.get(Site, site_id)
    if site is None or not _may_read(session, principal, site):
        raise NotFound(f"no site {site_id}")
    return site


def list_sites(session: Session, principal: Principal) -> list[Site]:
    principal.require_scope("footprints:read")
    query = sa.select(Site).order_by(Site.kind, Site.name, Site.id)
    if not _is_regulator(principal):
        mine = principal.organisation_id
        my_parks = sa.select(Site.id).where(Site.owner_id == mine, Site.kind == SiteKind.PARK)
        query = query.where(
            sa.or_(Site.owner_id == mine, Site.kind == SiteKind.PARK, Site.park_id.in_(my_parks))
        )
    return list(session.scalars(query))


def factories_of(session: Session, park: Site) -> list[Site]:
    return list(
        session.scalars(sa.select(Site).where(Site.park_id == park.id).order_by(Site.name, Site.id))
    )


# --- output ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class NewProduction:
    record_id: str
    period_start: dt.datetime
    period_end: dt.datetime
    quantity: Decimal


def record_production(
    session: Session, principal: Principal, site_id: str, new: NewProduction
) -> SiteProduction:
    """Link one of the caller's records to one of its sites, with the output of a period."""
    principal.require_scope("footprints:write")
    site = session.get(Site, site_id)
    if site is None or site.owner_id != principal.organisation_id:
        raise NotFound(f"you have no site {site_id}")
    record = own_record(session, principal, new.record_id)
    errors: list[dict[str, str]] = []
    if not new.quantity.is_finite() or new.quantity <= 0:
        errors.append({"field": "quantity", "message": "must be greater than zero"})
    elif not quantities.fits(new.quantity):
        errors.append({"field": "quantity", "message": "at most 12 decimal places"})
    if new.period_end <= new.period_start:
        errors.append({"field": "periodEnd", "message": "must be later than periodStart"})
    if errors:
        raise ValidationFailed("the output is not valid", details=errors)
    duplicate = session.scalar(
        sa.select(SiteProduction.id).where(
            SiteProduction.site_id == site.id,
            SiteProduction.record_id == record.id,
            SiteProduction.period_start == new.period_start,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"the output of {record.id} at {site.id} from {new.period_start.isoformat()} "
            f"is already recorded (number {duplicate})"
        )
    production = SiteProduction(
        site_id=site.id,
        record_id=record.id,
        period_start=new.period_start,
        period_end=new.period_end,
        quantity=new.quantity,
    )
    session.add(production)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request recorded the same output
        raise Conflict("this output is already recorded") from exc
    return production


# --- roll-ups --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Output:
    """One visible output in a roll-up, with its record's figures."""

    production: SiteProduction
    unit: str
    per_unit: Decimal
    certified: bool
    certificate_id: int | None
    grade: int | None

    @property
    def emissions(self) -> Decimal:
        with localcontext() as context:
            context.prec = PRECISION
            return self.production.quantity * self.per_unit


@dataclasses.dataclass(frozen=True, slots=True)
class UnitGroup:
    unit: str
    quantity: Decimal
    emissions: Decimal
    certified_quantity: Decimal
    records: int
    # grade (None: ungraded) -> (quantity, outputs)
    grades: dict[int | None, tuple[Decimal, int]]

    @property
    def footprint_per_unit(self) -> Decimal:
        with localcontext() as context:
            context.prec = PRECISION
            return self.emissions / self.quantity

    @property
    def certified_share(self) -> Decimal:
        with localcontext() as context:
            context.prec = PRECISION
            return self.certified_quantity / self.quantity


@dataclasses.dataclass(frozen=True, slots=True)
class Rollup:
    sites: list[Site]
    outputs: list[Output]
    groups: list[UnitGroup]
    withheld: int


def _per_unit(footprint_json: str) -> tuple[Decimal, str]:
    pcf = json.loads(footprint_json)["pcf"]
    with localcontext() as context:
        context.prec = PRECISION
        value = Decimal(pcf["pcfIncludingBiogenicUptake"]) / Decimal(pcf["declaredUnitAmount"])
    return value, str(pcf["declaredUnitOfMeasurement"])


def _active_certificates(
    session: Session, record_ids: Iterable[str], now: dt.datetime
) -> dict[str, Certificate]:
    """Each record's newest certificate that counts as active at ``now``."""
    found: dict[str, Certificate] = {}
    ids = sorted(set(record_ids))
    if not ids:
        return found
    certificates = session.scalars(
        sa.select(Certificate)
        .where(Certificate.record_id.in_(ids), Certificate.issued_at <= now)
        .order_by(Certificate.issued_at, Certificate.id)
    )
    bodies: dict[str, Any] = {}
    for certificate in certificates:
        if certificate.body_id not in bodies:
            bodies[certificate.body_id] = labels.accreditation_status(session, certificate.body_id)
        if labels.effective_status(certificate, bodies[certificate.body_id], now) == "active":
            found[certificate.record_id] = certificate
    return found


def _group(outputs: Sequence[Output]) -> list[UnitGroup]:
    by_unit: dict[str, list[Output]] = {}
    for output in outputs:
        by_unit.setdefault(output.unit, []).append(output)
    groups = []
    with localcontext() as context:
        context.prec = PRECISION
        for unit, members in sorted(by_unit.items()):
            grades: dict[int | None, tuple[Decimal, int]] = {}
            for output in members:
                quantity, count = grades.get(output.grade, (Decimal(0), 0))
                grades[output.grade] = (quantity + output.production.quantity, count + 1)
            groups.append(
                UnitGroup(
                    unit=unit,
                    quantity=sum((o.production.quantity for o in members), Decimal(0)),
                    emissions=sum((o.emissions for o in members), Decimal(0)),
                    certified_quantity=sum(
                        (o.production.quantity for o in members if o.certified), Decimal(0)
                    ),
                    records=len({o.production.record_id for o in members}),
                    grades=grades,
                )
            )
    return groups


def rollup(
    session: Session,
    principal: Principal | None,
    sites: Sequence[Site],
    *,
    now: dt.datetime,
    period_from: dt.datetime | None = None,
    period_to: dt.datetime | None = None,
) -> Rollup:
    """Production-weighted figures of the outputs of ``sites`` whose period lies inside
    ``[period_from, period_to)``, as ``principal`` may see them (None: the regulator's view,
    for the operator's command line)."""
    site_ids = [site.id for site in sites]
    query = (
        sa.select(SiteProduction, FootprintRecord)
        .join(FootprintRecord, FootprintRecord.id == SiteProduction.record_id)
        .where(SiteProduction.site_id.in_(site_ids))
        .order_by(SiteProduction.period_start, SiteProduction.id)
    )
    if period_from is not None:
        query = query.where(SiteProduction.period_start >= period_from)
    if period_to is not None:
        query = query.where(SiteProduction.period_end <= period_to)
    rows = session.execute(query).all()
    if principal is None:
        visibility = visible_to("", regulator=True)
    else:
        visibility = visible_to(principal.organisation_id, regulator=_is_regulator(principal))
    visible_ids = set(
        session.scalars(
            sa.select(FootprintRecord.id).where(
                FootprintRecord.id.in_(sorted({record.id for _p, record in rows})), visibility
            )
        )
    )
    shown = [(production, record) for production, record in rows if record.id in visible_ids]
    certificates = _active_certificates(session, (record.id for _p, record in shown), now)
    outputs = []
    for production, record in shown:
        per_unit, unit = _per_unit(record.footprint_json)
        certificate = certificates.get(record.id)
        grade = labels.current_grade(session, certificate.id) if certificate else None
        outputs.append(
            Output(
                production=production,
                unit=unit,
                per_unit=per_unit,
                certified=certificate is not None,
                certificate_id=certificate.id if certificate else None,
                grade=grade.grade if grade else None,
            )
        )
    return Rollup(
        sites=list(sites),
        outputs=outputs,
        groups=_group(outputs),
        withheld=len(rows) - len(shown),
    )


def site_rollup(
    session: Session,
    principal: Principal | None,
    site_id: str,
    *,
    now: dt.datetime,
    period_from: dt.datetime | None = None,
    period_to: dt.datetime | None = None,
) -> tuple[Rollup, list[Rollup]]:
    """A site's roll-up; for a park, over the park and all its factories, with each
    factory's own roll-up beside it."""
    if principal is None:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFound(f"no site {site_id}")
    else:
        site = get_site(session, principal, site_id)
        if site.kind is SiteKind.PARK and not (
            _is_regulator(principal) or site.owner_id == principal.organisation_id
        ):
            raise NotFound(f"no site {site_id}")  # a park's figures are for its owner

    def over(sites: Sequence[Site]) -> Rollup:
        return rollup(
            session, principal, sites, now=now, period_from=period_from, period_to=period_to
        )

    if site.kind is SiteKind.FACTORY:
        return over([site]), []
    factories = factories_of(session, site)
    return over([site, *factories]), [over([factory]) for factory in factories]
