"""The green-procurement list (绿色采购清单): certified products of a category at or better
than a grade, as they stood at a moment.

Public data only: the registry of certified products (certificate, value per declared unit,
grade and scheme version, the certifying body). A certificate is on the list when it counted
as active at the moment asked for - issued and registered by then, not yet expired, and
neither suspended, revoked nor its body's accreditation withdrawn *at that moment*, read
back from the logged status histories - and its grade then was at or better than the
threshold (grade 1 is best). One line per product (owner and GTIN): its newest such
certificate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from exchange.db import utcnow
from exchange.footprints.models import FootprintGeography, FootprintRecord, RecordStatus
from exchange.labels import services as labels
from exchange.labels.claims import MAX_GRADE
from exchange.labels.models import (
    AccreditationEvent,
    AccreditationStatus,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Grade,
    GradingScheme,
)
from exchange.organisations.models import Organisation
from exchange.pact_wire import parse_product_footprint
from exchange.rules import check as rule_check
from exchange.rules.models import AccountingRule
from exchange.scenarios.services.common import field_error

MAX_CATEGORY: Final = 300


@dataclasses.dataclass(frozen=True, slots=True)
class ProcurementQuery:
    """Products of ``category`` graded ``grade`` or better at ``as_of`` (now when None),
    optionally only those whose record cites accounting rule ``rule`` and lies in ``region``
    (a PACT region, country or subdivision; a country also finds its subdivisions)."""

    category: str
    grade: int
    rule: str | None = None
    region: str | None = None
    as_of: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProcurementItem:
    certificate: Certificate
    body_name: str
    grade: Grade
    regions: list[str]
    record_status: RecordStatus


@dataclasses.dataclass(frozen=True, slots=True)
class ProcurementList:
    query: ProcurementQuery
    as_of: dt.datetime
    scheme: GradingScheme
    rule: AccountingRule | None
    items: list[ProcurementItem]


def scheme_at(session: Session, category: str, at: dt.datetime) -> GradingScheme | None:
    """The category's scheme version in force at ``at``: the newest published by then."""
    return session.scalar(
        sa.select(GradingScheme)
        .where(GradingScheme.category == category, GradingScheme.created_at <= at)
        .order_by(GradingScheme.version.desc())
        .limit(1)
    )


def known_category(session: Session, category: str) -> bool:
    return (
        session.scalar(sa.select(GradingScheme.id).where(GradingScheme.category == category))
        is not None
    )


def _checked(session: Session, query: ProcurementQuery, as_of: dt.datetime) -> GradingScheme:
    category = query.category
    if not category or len(category) > MAX_CATEGORY:
        raise field_error("category", f"1 to {MAX_CATEGORY} characters")
    if not 1 <= query.grade <= MAX_GRADE:
        raise field_error("grade", f"a grade is a whole number from 1 (best) to {MAX_GRADE}")
    if not known_category(session, category):
        raise field_error("category", f"no grading scheme is published for {category}")
    scheme = scheme_at(session, category, as_of)
    if scheme is None:
        raise field_error("asOf", f"{category} had no grading scheme yet at {as_of.isoformat()}")
    grades = len(labels.scheme_parameters(scheme).cut_points) + 1
    if query.grade > grades:
        raise field_error(
            "grade",
            f"the scheme for {category} (version {scheme.version}) has grades 1 to {grades}",
        )
    return scheme


def _rule(session: Session, code: str | None) -> AccountingRule | None:
    if code is None:
        return None
    rule = session.get(AccountingRule, code)
    if rule is None:
        raise field_error("rule", f"no accounting rule {code}")
    return rule


def _decided_statuses(
    session: Session, category: str, at: dt.datetime
) -> dict[int, CertificateStatus]:
    """Each certificate's decided status (issued, suspended, ...) as it stood at ``at``: the
    last of its logged status events by then (later rows overwrite earlier ones)."""
    rows = session.execute(
        sa.select(CertificateEvent.certificate_id, CertificateEvent.status)
        .join(Certificate, Certificate.id == CertificateEvent.certificate_id)
        .where(Certificate.category == category, CertificateEvent.decided_at <= at)
        .order_by(CertificateEvent.decided_at, CertificateEvent.id)
    )
    return {certificate_id: status for certificate_id, status in rows}


def _accreditations(
    session: Session, category: str, at: dt.datetime
) -> dict[str, AccreditationStatus]:
    """Each certifying body's accreditation as it stood at ``at``."""
    bodies = sa.select(Certificate.body_id).where(Certificate.category == category)
    rows = session.execute(
        sa.select(AccreditationEvent.body_id, AccreditationEvent.status)
        .where(AccreditationEvent.body_id.in_(bodies), AccreditationEvent.decided_at <= at)
        .order_by(AccreditationEvent.decided_at, AccreditationEvent.id)
    )
    return {body_id: status for body_id, status in rows}


def _grades(session: Session, category: str, at: dt.datetime) -> dict[int, Grade]:
    """Each certificate's grade in force at ``at`` (graded by then, not yet superseded)."""
    found: dict[int, Grade] = {}
    for grade in session.scalars(
        sa.select(Grade)
        .join(Certificate, Certificate.id == Grade.certificate_id)
        .where(
            Certificate.category == category,
            Grade.graded_at <= at,
            sa.or_(Grade.superseded_at.is_(None), Grade.superseded_at > at),
        )
        .order_by(Grade.id)
    ):
        found[grade.certificate_id] = grade
    return found


def _regions(session: Session, category: str) -> dict[str, list[str]]:
    """The geographies (lower case, as indexed) of each certified record of the category."""
    found: dict[str, list[str]] = {}
    certified = sa.select(Certificate.record_id).where(Certificate.category == category)
    for record_id, geography in session.execute(
        sa.select(FootprintGeography.record_id, FootprintGeography.geography)
        .where(FootprintGeography.record_id.in_(certified))
        .order_by(FootprintGeography.geography)
    ):
        found.setdefault(record_id, []).append(geography)
    return found


def _in_region(regions: list[str], wanted: str) -> bool:
    return any(region == wanted or region.startswith(wanted + "-") for region in regions)


def _cites(footprint_json: str | None, code: str) -> bool:
    if footprint_json is None:
        return False
    footprint = parse_product_footprint(json.loads(footprint_json))
    return any(cited == code for _, cited in rule_check.cited_codes(footprint))


def procurement_list(session: Session, query: ProcurementQuery) -> ProcurementList:
    """The green-procurement list; a bad parameter is a ValidationFailed naming it."""
    as_of = query.as_of or utcnow()
    scheme = _checked(session, query, as_of)
    rule = _rule(session, query.rule)
    region = query.region.strip().lower() if query.region else None
    decided = _decided_statuses(session, query.category, as_of)
    accreditations = _accreditations(session, query.category, as_of)
    grades = _grades(session, query.category, as_of)
    regions = _regions(session, query.category)
    body = aliased(Organisation)
    # The record's document is read only when a rule filter needs its citations.
    document = FootprintRecord.footprint_json if rule is not None else sa.null()
    rows = session.execute(
        sa.select(Certificate, body.name, FootprintRecord.status, document)
        .join(body, body.id == Certificate.body_id)
        .join(FootprintRecord, FootprintRecord.id == Certificate.record_id)
        .where(
            Certificate.category == query.category,
            Certificate.issued_at <= as_of,
            Certificate.valid_until > as_of,
        )
        .order_by(Certificate.id.desc())
    )
    chosen: dict[tuple[str, str], ProcurementItem] = {}
    for certificate, body_name, record_status, footprint_json in rows:
        if (certificate.owner_id, certificate.gtin) in chosen:
            continue  # a newer certificate of the product is already on the list
        status = decided.get(certificate.id)
        if status is None:
            continue  # not yet registered at that moment
        state = labels.effective_status_at(
            status, certificate.valid_until, accreditations.get(certificate.body_id), as_of
        )
        grade = grades.get(certificate.id)
        if state != "active" or grade is None or grade.grade > query.grade:
            continue
        record_regions = regions.get(certificate.record_id, [])
        if region is not None and not _in_region(record_regions, region):
            continue
        if rule is not None and not _cites(footprint_json, rule.code):
            continue
        chosen[(certificate.owner_id, certificate.gtin)] = ProcurementItem(
            certificate, body_name, grade, record_regions, record_status
        )
    items = sorted(
        chosen.values(),
        key=lambda item: (item.grade.grade, Decimal(item.certificate.value), item.certificate.id),
    )
    return ProcurementList(query=query, as_of=as_of, scheme=scheme, rule=rule, items=items)
