"""Versioned grading schemes per product category, and the grades of certified products."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import utcnow
from exchange.errors import (
    ValidationFailed,
)
from exchange.labels import claims as label_claims
from exchange.labels import grading
from exchange.labels.models import (
    Certificate,
    CertificateStatus,
    Grade,
    GradingMethod,
    GradingScheme,
)
from exchange.labels.services.common import require_role
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal


def scheme_parameters(scheme: GradingScheme) -> grading.Parameters:
    return grading.parse_parameters(scheme.method, json.loads(scheme.parameters_json))


def current_scheme(session: Session, category: str) -> GradingScheme | None:
    return session.scalar(
        sa.select(GradingScheme)
        .where(GradingScheme.category == category)
        .order_by(GradingScheme.version.desc())
        .limit(1)
    )


def schemes(session: Session, category: str | None = None) -> list[GradingScheme]:
    statement = sa.select(GradingScheme).order_by(GradingScheme.category, GradingScheme.version)
    if category is not None:
        statement = statement.where(GradingScheme.category == category)
    return list(session.scalars(statement))


def population_values(
    session: Session, category: str, unit: str, now: dt.datetime
) -> list[Decimal]:
    """The population a percentile grade ranks a value in: per-unit values of the category.

    For now the certified footprints on the exchange (certificates not revoked, not
    expired); the one place to change when the factor database supplies the population.
    """
    rows = session.scalars(
        sa.select(Certificate.value).where(
            Certificate.category == category,
            Certificate.unit == unit,
            Certificate.status != CertificateStatus.REVOKED,
            Certificate.valid_until > now,
        )
    )
    return [Decimal(value) for value in rows]


def current_grade(session: Session, certificate_id: int) -> Grade | None:
    return session.scalar(
        sa.select(Grade)
        .where(Grade.certificate_id == certificate_id, Grade.superseded_at.is_(None))
        .order_by(Grade.id.desc())
        .limit(1)
    )


def grade_history(session: Session, certificate_id: int) -> list[Grade]:
    return list(
        session.scalars(
            sa.select(Grade).where(Grade.certificate_id == certificate_id).order_by(Grade.id)
        )
    )


def grade_certificate(
    session: Session, certificate: Certificate, scheme: GradingScheme, *, now: dt.datetime
) -> Grade:
    """Grade under ``scheme``; the certificate's previous grade is kept, marked superseded."""
    if scheme.unit != certificate.unit:
        raise ValidationFailed(
            f"scheme {scheme.category} v{scheme.version} grades per {scheme.unit}, "
            f"the certificate is per {certificate.unit}"
        )
    parameters = scheme_parameters(scheme)
    population: list[Decimal] = []
    if parameters.method is GradingMethod.PERCENTILE:
        population = population_values(session, scheme.category, scheme.unit, now)
    try:
        result = grading.grade(parameters, Decimal(certificate.value), population)
    except grading.SchemeError as exc:
        raise ValidationFailed(
            str(exc), details=[{"field": exc.field, "message": str(exc)}]
        ) from exc
    previous = current_grade(session, certificate.id)
    if previous is not None:
        previous.superseded_at = now
    new = Grade(
        certificate_id=certificate.id,
        scheme_id=scheme.id,
        grade=result.grade,
        value=certificate.value,
        population_size=result.population_size,
        population_digest=result.population_digest,
        graded_at=now,
        superseded_at=None,
    )
    session.add(new)
    session.flush()
    return new


def publish_scheme(
    session: Session,
    principal: Principal,
    *,
    category: str,
    method: GradingMethod,
    unit: str,
    parameters: object,
) -> tuple[GradingScheme, list[Grade]]:
    """The regulator publishes the next version of a category's scheme; certificates regraded."""
    require_role(principal, Role.REGULATOR, "set grading schemes")
    category = category.strip()
    errors = []
    if not category or len(category) > 300:
        errors.append({"field": "category", "message": "1 to 300 characters"})
    if unit not in label_claims.UNITS:
        errors.append({"field": "unit", "message": f"one of {', '.join(label_claims.UNITS)}"})
    try:
        checked = grading.parse_parameters(method, parameters)
    except grading.SchemeError as exc:
        errors.append({"field": exc.field, "message": str(exc)})
    if errors:
        raise ValidationFailed("the grading scheme is not valid", details=errors)
    now = utcnow()
    latest = current_scheme(session, category)
    scheme = GradingScheme(
        category=category,
        version=1 if latest is None else latest.version + 1,
        method=method,
        unit=unit,
        parameters_json=signing.canonical_json(checked.to_json()).decode("ascii"),
        created_by=principal.organisation_id,
        created_at=now,
    )
    session.add(scheme)
    session.flush()
    GradingScheme.log.append(session, [scheme])
    return scheme, regrade(session, scheme, now=now)


def regrade(session: Session, scheme: GradingScheme, *, now: dt.datetime) -> list[Grade]:
    """Grade every live certificate of the scheme's category and unit under it."""
    certificates = session.scalars(
        sa.select(Certificate)
        .where(
            Certificate.category == scheme.category,
            Certificate.unit == scheme.unit,
            Certificate.status != CertificateStatus.REVOKED,
            Certificate.valid_until > now,
        )
        .order_by(Certificate.id)
    )
    graded = []
    for certificate in list(certificates):
        try:
            graded.append(grade_certificate(session, certificate, scheme, now=now))
        except ValidationFailed:
            continue
    return graded
