"""Declaring, reviewing, importing, searching and exporting factor versions.

Who may do what (因子申报):

* any organisation declares a factor version, or offers one of its own footprint records as
  a product factor; a correction is a new version of the same code by the same declarant;
* only a regulator approves, returns or rejects a submitted version (with a comment) and
  retires an approved one; approving a version retires the versions it supersedes;
* everyone sees approved and retired versions; a declarant also sees its own pending,
  returned and rejected versions, and a regulator sees them all.

Every decision is appended to the transparency log in the caller's transaction. Versions
loaded by an administrator (import, starter data) are the programme's own and are approved
as they are loaded, with a logged decision like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Sequence
from fractions import Fraction
from importlib import resources
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle, quantities, signing
from exchange.db import utcnow
from exchange.errors import Conflict, ExchangeError, NotFound, ValidationFailed
from exchange.factors import gwp, schemas, units
from exchange.factors.models import (
    DECIDES,
    FACTOR,
    Decision,
    Factor,
    FactorKind,
    FactorReview,
    FactorScope,
    FactorStatus,
)
from exchange.footprints.models import FootprintRecord, RecordStatus
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.pact_wire import parse_product_footprint

# Factors and rules use the existing scopes: declaring writes, like submitting a record.
READ_SCOPE: Final = "footprints:read"
WRITE_SCOPE: Final = "footprints:write"
PENDING: Final = (FactorStatus.SUBMITTED, FactorStatus.RETURNED, FactorStatus.REJECTED)
PUBLISHED: Final = (FactorStatus.APPROVED, FactorStatus.RETIRED)


def content_digest(item: schemas.FactorInput | Factor) -> str:
    return hashlib.sha256(signing.canonical_json(schemas.content(item))).hexdigest()


def _new_factor(
    item: schemas.FactorInput,
    *,
    version: int,
    status: FactorStatus,
    declared_by_id: str | None,
    footprint_record_id: str | None = None,
) -> Factor:
    return Factor(
        id=str(uuid.uuid4()),
        code=item.code,
        version=version,
        kind=item.kind,
        name=item.name,
        category=item.category,
        value=item.value,
        unit=item.unit,
        region=item.region,
        year=item.year,
        gwp_set=item.gwp_set,
        gases_json=schemas.gases_json(item.gases),
        scope=item.scope,
        source=item.source,
        licence=item.licence,
        uncertainty=item.uncertainty,
        evidence=item.evidence,
        footprint_record_id=footprint_record_id,
        declared_by_id=declared_by_id,
        status=status,
        content_digest=content_digest(item),
        created_at=utcnow(),
    )


def versions_of(session: Session, code: str) -> list[Factor]:
    """Every stored version of a code, oldest first."""
    return list(
        session.scalars(sa.select(Factor).where(Factor.code == code).order_by(Factor.version))
    )


def _decide(
    session: Session,
    factor: Factor,
    decision: Decision,
    comment: str,
    reviewer_id: str | None,
) -> FactorReview:
    after = DECIDES[decision]
    required = " or ".join(str(status) for status in FACTOR.sources(after))
    factor.status = FACTOR.check(
        factor.status,
        after,
        refusal=f"version {factor.version} of {factor.code} is {factor.status.value}; "
        f"only a {required} version can be given the decision {decision.value!r}",
    )
    # Added to the session by _log once the log has given it its index.
    return FactorReview(
        factor_id=factor.id,
        factor=factor,
        decision=decision,
        comment=comment,
        reviewer_id=reviewer_id,
        decided_at=utcnow(),
    )


def _approve(
    session: Session, factor: Factor, comment: str, reviewer_id: str | None
) -> list[FactorReview]:
    """Approve a version and retire the approved versions of its code it supersedes."""
    reviews = [_decide(session, factor, Decision.APPROVE, comment, reviewer_id)]
    for older in versions_of(session, factor.code):
        if older.id != factor.id and older.status == FactorStatus.APPROVED:
            reviews.append(
                _decide(
                    session,
                    older,
                    Decision.RETIRE,
                    f"superseded by version {factor.version}",
                    reviewer_id,
                )
            )
    return reviews


def _log(session: Session, reviews: Sequence[FactorReview]) -> None:
    if not reviews:
        return
    FactorReview.log.append(session, reviews)
    session.add_all(reviews)
    session.flush()


# --- declaration and review ---------------------------------------------------------------


def _footprint_defaults(session: Session, principal: Principal, record_id: str) -> dict[str, Any]:
    """Exchange-format fields of a product factor taken from one of the caller's records."""
    record = session.get(FootprintRecord, record_id.lower())
    if record is None or record.owner_id != principal.organisation_id:
        raise ValidationFailed(
            "a product factor is offered from one of your own footprint records",
            details=[{"field": "footprintRecordId", "message": f"you have no record {record_id}"}],
        )
    if record.status != RecordStatus.ACTIVE:
        raise ValidationFailed(
            f"record {record.id} is deprecated by {record.deprecated_by_id}; offer the newest",
            details=[{"field": "footprintRecordId", "message": "a deprecated record"}],
        )
    footprint = parse_product_footprint(json.loads(record.footprint_json))
    pcf = footprint.pcf
    # The PCF is per declaredUnitAmount declared units (PACT v3): divide to get one unit.
    value = units.to_decimal(
        Fraction(pcf.pcf_excluding_biogenic_uptake) / Fraction(pcf.declared_unit_amount)
    )
    region = (
        pcf.geography_country_subdivision
        or pcf.geography_country
        or pcf.geography_region_or_subregion
        or "GLOBAL"
    )
    sets = [name for name in pcf.ipcc_characterization_factors if name in ("AR4", "AR5", "AR6")]
    return {
        "kind": FactorKind.PRODUCT.value,
        "name": footprint.product_name_company,
        "category": "product",
        "value": quantities.text(value),
        "unit": pcf.declared_unit_of_measurement,
        "region": region,
        "year": pcf.reference_period_end.year,
        "gwpSet": sets[-1] if sets else None,
        "scope": FactorScope.LIFE_CYCLE.value,
        "source": f"footprint record {record.id} (log index {record.log_index})",
    }


def declare(session: Session, principal: Principal, data: object) -> Factor:
    """Store a declared version as submitted; the regulator's review decides on it."""
    principal.require_scope(WRITE_SCOPE)
    record_id: str | None = None
    if isinstance(data, dict) and data.get("footprintRecordId") is not None:
        if not isinstance(data["footprintRecordId"], str):
            raise ValidationFailed(
                "footprintRecordId is a record id",
                details=[{"field": "footprintRecordId", "message": "must be a string"}],
            )
        record_id = data["footprintRecordId"].lower()
        # The record is the evidence: its value, unit and scope cannot be overridden.
        defaults = _footprint_defaults(session, principal, record_id)
        fixed = ("kind", "value", "unit", "scope")
        data = {
            **defaults,
            **{k: v for k, v in data.items() if k not in fixed and v is not None},
            **{k: defaults[k] for k in fixed},
        }
    item = schemas.parse_factor(data)
    versions = versions_of(session, item.code)
    is_regulator = principal.has_role(Role.REGULATOR)
    if versions and not is_regulator:
        owner = versions[-1].declared_by_id
        if owner != principal.organisation_id:
            raise Conflict(
                f"factor code {item.code} belongs to another declarant; choose another code",
                details=[{"field": "code", "message": "declared by someone else"}],
            )
    pending = [version for version in versions if version.status == FactorStatus.SUBMITTED]
    if pending:
        raise Conflict(
            f"version {pending[0].version} of {item.code} is still under review",
            details=[{"field": "code", "message": "a version is under review"}],
        )
    next_version = (versions[-1].version + 1) if versions else 1
    if item.version is not None and item.version != next_version:
        raise ValidationFailed(
            f"the next version of {item.code} is {next_version}",
            details=[{"field": "version", "message": f"must be {next_version} or left out"}],
        )
    factor = _new_factor(
        item,
        version=next_version,
        status=FactorStatus.SUBMITTED,
        declared_by_id=principal.organisation_id,
        footprint_record_id=record_id,
    )
    try:
        with session.begin_nested():
            session.add(factor)
    except sa.exc.IntegrityError as exc:
        # Another declaration of the code took this version number first.
        raise Conflict(
            f"version {next_version} of {item.code} was declared meanwhile; try again",
            details=[{"field": "code", "message": "declared concurrently"}],
        ) from exc
    return factor


def review(
    session: Session,
    principal: Principal,
    factor_id: str,
    *,
    decision: Decision,
    comment: str,
) -> Factor:
    """A regulator's decision on a version: approve, return, reject (submitted) or retire."""
    principal.require_scope(WRITE_SCOPE)
    principal.require_role(Role.REGULATOR, "only a regulator reviews factors")
    factor = get_factor(session, principal, factor_id)
    # Lock the version (PostgreSQL) so two concurrent decisions cannot both find it pending.
    session.refresh(factor, with_for_update=True)
    comment = lifecycle.reason(
        comment,
        column=FactorReview.comment,
        field="comment",
        required=decision != Decision.APPROVE,
        message=f"a decision to {decision.value} needs a comment",
    )
    if decision == Decision.APPROVE:
        reviews = _approve(session, factor, comment, principal.organisation_id)
    else:
        reviews = [_decide(session, factor, decision, comment, principal.organisation_id)]
    _log(session, reviews)
    return factor


# --- reading --------------------------------------------------------------------------------


def _visible_clause(principal: Principal | None) -> sa.ColumnElement[bool]:
    published = Factor.status.in_(PUBLISHED)
    if principal is None:
        return published
    if principal.has_role(Role.REGULATOR):
        return sa.true()
    return sa.or_(published, Factor.declared_by_id == principal.organisation_id)


def get_factor(session: Session, principal: Principal | None, factor_id: str) -> Factor:
    """A version the caller may see; any other is "not found"."""
    if principal is not None:
        principal.require_scope(READ_SCOPE)
    factor = session.scalar(
        sa.select(Factor).where(Factor.id == factor_id.lower(), _visible_clause(principal))
    )
    if factor is None:
        raise NotFound(f"no factor {factor_id}")
    return factor


def reviews_of(session: Session, factor: Factor) -> list[FactorReview]:
    return list(
        session.scalars(
            sa.select(FactorReview)
            .where(FactorReview.factor_id == factor.id)
            .order_by(FactorReview.id)
        )
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    text: str | None = None
    code: str | None = None
    region: str | None = None
    year: int | None = None
    category: str | None = None
    kind: FactorKind | None = None
    status: FactorStatus | None = None
    gwp_set: gwp.GwpSet | None = None


def search(
    session: Session,
    principal: Principal | None,
    filters: Filters,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[Factor]:
    """Visible versions matching every given filter, by code then newest version first."""
    if principal is not None:
        principal.require_scope(READ_SCOPE)
    query = sa.select(Factor).where(_visible_clause(principal))
    if filters.text:
        pattern = (
            "%"
            + filters.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        query = query.where(
            sa.or_(
                sa.func.lower(Factor.name).like(pattern, escape="\\"),
                sa.func.lower(Factor.code).like(pattern, escape="\\"),
                sa.func.lower(Factor.source).like(pattern, escape="\\"),
            )
        )
    if filters.code:
        query = query.where(Factor.code == filters.code)
    if filters.region:
        query = query.where(sa.func.lower(Factor.region) == filters.region.lower())
    if filters.year is not None:
        query = query.where(Factor.year == filters.year)
    if filters.category:
        query = query.where(Factor.category == filters.category.lower())
    if filters.kind is not None:
        query = query.where(Factor.kind == filters.kind)
    if filters.status is not None:
        query = query.where(Factor.status == filters.status)
    if filters.gwp_set:
        query = query.where(Factor.gwp_set == filters.gwp_set)
    query = query.order_by(Factor.code, Factor.version.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- import ---------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class RowOutcome:
    row: int
    status: str  # created | unchanged | rejected
    code: str | None = None
    version: int | None = None
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class ImportReport:
    rows: list[RowOutcome]

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.count("created"),
            "unchanged": self.count("unchanged"),
            "rejected": self.count("rejected"),
            "rows": [
                {
                    "row": row.row,
                    "status": row.status,
                    "code": row.code,
                    "version": row.version,
                    **({"errors": row.errors} if row.errors else {}),
                }
                for row in self.rows
            ],
        }


def import_rows(
    session: Session,
    rows: Sequence[object],
    *,
    comment: str = "loaded by the programme",
    reviewer_id: str | None = None,
    first_row: int = 1,
) -> ImportReport:
    """Load the programme's own factor versions, approved as they are loaded.

    Each row is checked alone: a bad row is reported with its reasons and the good rows are
    stored. A row equal to a stored version is "unchanged", so importing the same file again
    changes nothing. A row without a version becomes the next version of its code when its
    content differs from the newest one; a row naming a stored version with other content
    is refused (versions are immutable).
    """
    outcomes: list[RowOutcome] = []
    reviews: list[FactorReview] = []
    for position, data in enumerate(rows):
        number = position + first_row
        code = data.get("code") if isinstance(data, dict) else None
        outcome = RowOutcome(
            row=number, status="rejected", code=code if isinstance(code, str) else None
        )
        outcomes.append(outcome)
        try:
            item = schemas.parse_factor(data)
            digest = content_digest(item)
            versions = versions_of(session, item.code)
            if item.version is not None:
                same = [v for v in versions if v.version == item.version]
                if same:
                    if same[0].content_digest != digest:
                        raise Conflict(
                            f"version {item.version} of {item.code} is stored with other "
                            "content; a correction is a new version",
                            details=[{"field": "version", "message": "already used"}],
                        )
                    outcome.status, outcome.version = "unchanged", item.version
                    continue
                if versions and item.version <= versions[-1].version:
                    raise Conflict(
                        f"{item.code} already has version {versions[-1].version}; "
                        "versions only grow",
                        details=[{"field": "version", "message": "too low"}],
                    )
                version = item.version
            elif versions and versions[-1].content_digest == digest:
                outcome.status, outcome.version = "unchanged", versions[-1].version
                continue
            else:
                version = (versions[-1].version + 1) if versions else 1
            if versions and versions[-1].declared_by_id is not None:
                raise Conflict(
                    f"factor code {item.code} belongs to a declarant; the programme's data "
                    "uses codes of its own",
                    details=[{"field": "code", "message": "declared by an organisation"}],
                )
            if any(v.status == FactorStatus.SUBMITTED for v in versions):
                raise Conflict(
                    f"a version of {item.code} is under review",
                    details=[{"field": "code", "message": "a version is under review"}],
                )
        except ExchangeError as error:
            outcome.errors = error.details or [{"field": "", "message": error.message}]
            continue
        factor = _new_factor(
            item, version=version, status=FactorStatus.SUBMITTED, declared_by_id=None
        )
        session.add(factor)
        session.flush()
        reviews.extend(_approve(session, factor, comment, reviewer_id))
        outcome.status, outcome.version = "created", version
    _log(session, reviews)
    return ImportReport(rows=outcomes)


def import_text(session: Session, text: str, file_format: str, **options: Any) -> ImportReport:
    rows = schemas.read_rows(text, file_format)
    # CSV row numbers count the header as line 1, as a spreadsheet shows them.
    first_row = 2 if file_format == "csv" else 1
    return import_rows(session, rows, first_row=first_row, **options)


STARTER_DATASET: Final = "starter.csv"


def starter_text() -> str:
    """The starter dataset shipped in the package (public figures with their sources)."""
    return (resources.files("exchange.factors") / "data" / STARTER_DATASET).read_text("utf-8")


def load_starter(session: Session) -> ImportReport:
    return import_text(session, starter_text(), "csv", comment="starter dataset of the programme")
