"""Accreditation, certificates, the registry, grading, labels, verification and the trust list.

Every function takes the caller's session and leaves committing to it; what is logged goes
into the transparency log in the same transaction as the row that holds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Collection, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, DivisionByZero, InvalidOperation
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import utcnow
from exchange.errors import (
    AccessDenied,
    Conflict,
    ExchangeError,
    NotFound,
    SignatureInvalid,
    ValidationFailed,
)
from exchange.footprints import services as footprints
from exchange.footprints.models import FootprintRecord, RecordStatus
from exchange.keyring import ExchangeKey
from exchange.labels import claims as label_claims
from exchange.labels import grading, gs1
from exchange.labels.models import (
    Accreditation,
    AccreditationEvent,
    AccreditationStatus,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Grade,
    GradingMethod,
    GradingScheme,
    IssuerKey,
    Label,
)
from exchange.labels.schemas import CertificateDocument, parse_certificate_envelope
from exchange.labels.verify import Reason, TrustedKey, Verdict, verify_scanned
from exchange.pact.schemas import parse_product_footprint
from exchange.partners.models import Organisation, Role, SigningKey
from exchange.partners.services import Principal, keys_of

SCOPE: Final = "labels:write"
ACCREDITATION_LOG_KIND: Final = "accreditation"
CERTIFICATE_LOG_KIND: Final = "certificate"
CERTIFICATE_STATUS_LOG_KIND: Final = "certificate-status"
SCHEME_LOG_KIND: Final = "grading-scheme"
LABEL_LOG_KIND: Final = "label"
LogAppender = Callable[[Session, Sequence[tuple[str, str, bytes]]], list[int]]

CERTIFICATE_YEARS: Final = 2
CLOCK_SKEW: Final = dt.timedelta(minutes=10)
ISSUE_WINDOW: Final = dt.timedelta(days=1)


def _require(principal: Principal, role: Role, what: str) -> None:
    principal.require_scope(SCOPE)
    if role not in principal.roles:
        raise AccessDenied(f"only a {role.value} may {what}")


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            "give a reason", details=[{"field": "reason", "message": "required"}]
        )
    return text


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- accreditation -----------------------------------------------------------------------

_ACCREDITATION_MOVES: Final = {
    None: {AccreditationStatus.GRANTED},
    AccreditationStatus.GRANTED: {AccreditationStatus.SUSPENDED, AccreditationStatus.WITHDRAWN},
    AccreditationStatus.SUSPENDED: {AccreditationStatus.GRANTED, AccreditationStatus.WITHDRAWN},
    AccreditationStatus.WITHDRAWN: set(),
}


def accreditation_entry(event: AccreditationEvent) -> bytes:
    return signing.canonical_json(
        {
            "body": event.body_id,
            "status": event.status.value,
            "reason": event.reason,
            "decidedBy": event.decided_by,
            "decidedAt": event.decided_at.isoformat(),
        }
    )


def accreditation_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    ids = [int(ref) for ref in refs]
    events = session.scalars(sa.select(AccreditationEvent).where(AccreditationEvent.id.in_(ids)))
    return {str(event.id): accreditation_entry(event) for event in events}


def set_accreditation(
    session: Session,
    principal: Principal,
    *,
    body_id: str,
    status: AccreditationStatus,
    reason: str,
    append_to_log: LogAppender,
) -> AccreditationEvent:
    """The regulator grants, suspends, re-grants or withdraws (finally) a body's accreditation."""
    _require(principal, Role.REGULATOR, "decide accreditations")
    reason = _reason(reason)
    body = session.get(Organisation, body_id)
    if body is None:
        raise NotFound(f"no organisation {body_id}")
    if not body.has_role(Role.CERTIFICATION_BODY):
        raise ValidationFailed(
            "only a certification body is accredited",
            details=[{"field": "body", "message": "not a certification body"}],
        )
    current = session.get(Accreditation, body_id, with_for_update=True)
    before = current.status if current is not None else None
    if status not in _ACCREDITATION_MOVES[before]:
        raise Conflict(
            f"an accreditation cannot go from {before.value if before else 'none'} "
            f"to {status.value}"
        )
    now = utcnow()
    if current is None:
        session.add(Accreditation(body_id=body_id, status=status, updated_at=now))
    else:
        current.status = status
        current.updated_at = now
    event = AccreditationEvent(
        body_id=body_id,
        status=status,
        reason=reason,
        decided_by=principal.organisation_id,
        decided_at=now,
    )
    session.add(event)
    session.flush()
    append_to_log(session, [(ACCREDITATION_LOG_KIND, str(event.id), accreditation_entry(event))])
    return event


def accreditation_status(session: Session, body_id: str) -> AccreditationStatus | None:
    return session.scalar(sa.select(Accreditation.status).where(Accreditation.body_id == body_id))


def accreditation_history(session: Session, body_id: str) -> list[AccreditationEvent]:
    return list(
        session.scalars(
            sa.select(AccreditationEvent)
            .where(AccreditationEvent.body_id == body_id)
            .order_by(AccreditationEvent.id)
        )
    )


def accredited_bodies(session: Session) -> list[tuple[Organisation, Accreditation]]:
    """Every body the regulator ever accredited, with its current accreditation."""
    rows = session.execute(
        sa.select(Organisation, Accreditation)
        .join(Accreditation, Accreditation.body_id == Organisation.id)
        .order_by(Organisation.name, Organisation.id)
    )
    return [(organisation, accreditation) for organisation, accreditation in rows]


# --- certificates ------------------------------------------------------------------------


def footprint_digest(footprint_json: str) -> str:
    """What a certificate names a record by: SHA-256 of the record's RFC 8785 footprint."""
    return hashlib.sha256(footprint_json.encode("utf-8")).hexdigest()


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


PER_UNIT_QUANTUM: Final = Decimal("1e-12")


def value_per_unit(footprint_json: str) -> tuple[Decimal, str]:
    """The PCF (including biogenic uptake) of ONE declared unit, and that unit.

    PACT v3 states the PCF of ``declaredUnitAmount`` units; labels and grades compare one.
    """
    footprint = parse_product_footprint(json.loads(footprint_json))
    pcf = footprint.pcf
    try:
        value = Decimal(pcf.pcf_including_biogenic_uptake) / Decimal(pcf.declared_unit_amount)
    except (InvalidOperation, DivisionByZero) as exc:  # pragma: no cover - schema forbids 0
        raise ValidationFailed("the footprint's declared unit amount is not usable") from exc
    # A division may not end (1 / 3 kg); values are stored with 12 decimal places.
    exact = value.quantize(PER_UNIT_QUANTUM, rounding=ROUND_HALF_EVEN).normalize()
    return exact, str(pcf.declared_unit_of_measurement)


def _record_gtins(footprint_json: str) -> set[str]:
    found = set()
    for urn in json.loads(footprint_json).get("productIds", []):
        if isinstance(urn, str) and urn.lower().startswith("urn:gtin:"):
            try:
                found.add(gs1.normalise_gtin(urn))
            except gs1.GS1Error:
                continue
    return found


def certificate_entry(certificate: Certificate) -> bytes:
    """The log entry of a certificate: RFC 8785 form of the envelope the body signed."""
    document = json.loads(certificate.document_json)
    return signing.canonical_json(
        {
            "certificate": document,
            "signature": {
                "alg": signing.ALGORITHM,
                "kid": certificate.kid,
                "value": certificate.signature,
            },
        }
    )


def certificate_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    certificates = session.scalars(
        sa.select(Certificate).where(Certificate.uid.in_(sorted(set(refs))))
    )
    return {certificate.uid: certificate_entry(certificate) for certificate in certificates}


def certificate_event_entry(event: CertificateEvent) -> bytes:
    return signing.canonical_json(
        {
            "certificate": event.certificate_id,
            "status": event.status.value,
            "reason": event.reason,
            "actor": event.actor_id,
            "at": event.at.isoformat(),
        }
    )


def certificate_status_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    ids = [int(ref) for ref in refs]
    events = session.scalars(sa.select(CertificateEvent).where(CertificateEvent.id.in_(ids)))
    return {str(event.id): certificate_event_entry(event) for event in events}


def _certificate_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"the certificate is not valid: {message}",
        details=[{"field": f"certificate.{field}", "message": message}],
    )


def _check_body_key(session: Session, principal: Principal, kid: str, now: dt.datetime) -> bytes:
    key = session.get(SigningKey, kid)
    if key is None:
        raise SignatureInvalid(
            f"unknown key {kid}: register the body's public key first",
            details=[{"field": "signature.kid", "message": "unknown key"}],
        )
    if key.organisation_id != principal.organisation_id:
        raise AccessDenied(
            f"key {kid} belongs to another organisation",
            details=[{"field": "signature.kid", "message": "not your key"}],
        )
    if not key.valid_at(now):
        raise SignatureInvalid(
            f"key {kid} may not sign now (revoked or outside its window)",
            details=[{"field": "signature.kid", "message": "not valid now"}],
        )
    return key.public_key


def _check_document(
    document: CertificateDocument,
    record: FootprintRecord,
    principal: Principal,
    now: dt.datetime,
) -> str:
    if document.body != principal.organisation_id:
        raise _certificate_error("body", "must be your own organisation id")
    if record.status != RecordStatus.ACTIVE:
        raise Conflict(
            f"record {record.id} is deprecated by {record.deprecated_by_id}: certify the newest"
        )
    if document.footprint_digest != footprint_digest(record.footprint_json):
        raise _certificate_error(
            "footprintDigest", "does not match the record (SHA-256 of its RFC 8785 footprint)"
        )
    try:
        gtin = gs1.normalise_gtin(document.gtin)
    except gs1.GS1Error as exc:
        raise _certificate_error("gtin", str(exc)) from exc
    # A certificate may only name a product the record itself names: anything else would
    # let a label vouch for another company's GTIN.
    if gtin not in _record_gtins(record.footprint_json):
        raise _certificate_error("gtin", "is not among the record's productIds (urn:gtin:...)")
    if not now - ISSUE_WINDOW <= document.issued <= now + CLOCK_SKEW:
        raise _certificate_error("issued", "must be within the last day")
    if document.valid_until <= document.issued:
        raise _certificate_error("validUntil", "must be later than issued")
    if document.valid_until > add_years(document.issued, CERTIFICATE_YEARS):
        raise _certificate_error("validUntil", f"at most {CERTIFICATE_YEARS} years after issued")
    return gtin


def certify(
    session: Session,
    principal: Principal,
    envelope: object,
    *,
    append_to_log: LogAppender,
) -> tuple[Certificate, bool]:
    """Register a body-signed certificate of a record the body can see; (certificate, created).

    The body must hold a granted accreditation and sign with its own registered key. A
    certificate sent again unchanged is answered with the stored one.
    """
    _require(principal, Role.CERTIFICATION_BODY, "certify footprints")
    now = utcnow()
    parsed = parse_certificate_envelope(envelope)
    document = parsed.document
    existing = session.scalar(sa.select(Certificate).where(Certificate.uid == document.id))
    if existing is not None:
        if existing.body_id == principal.organisation_id and (
            existing.signature == parsed.signature.value
        ):
            return existing, False
        raise Conflict(f"certificate id {document.id} is already used")
    if accreditation_status(session, principal.organisation_id) != AccreditationStatus.GRANTED:
        raise AccessDenied("only an accredited certification body may certify")
    public_key = _check_body_key(session, principal, parsed.signature.kid, now)
    try:
        signing.verify(
            context=signing.CERTIFICATE_CONTEXT,
            payload=parsed.raw_document,
            signature=parsed.signature.value,
            public_key=public_key,
        )
    except signing.SigningError as exc:
        raise SignatureInvalid(
            "the signature does not match the certificate",
            details=[{"field": "signature.value", "message": str(exc)}],
        ) from exc
    try:
        record = footprints.get_record(session, principal, document.record)
    except NotFound:
        raise NotFound(
            f"no footprint {document.record} that you may see: its owner must share it with you"
        ) from None
    gtin = _check_document(document, record, principal, now)
    value, unit = value_per_unit(record.footprint_json)
    footprint = json.loads(record.footprint_json)
    certificate = Certificate(
        uid=document.id,
        body_id=principal.organisation_id,
        owner_id=record.owner_id,
        record_id=record.id,
        gtin=gtin,
        category=document.category,
        product_name=str(footprint.get("productNameCompany", ""))[:300],
        company_name=str(footprint.get("companyName", ""))[:300],
        value=value,
        unit=unit,
        document_json=signing.canonical_json(parsed.raw_document).decode("utf-8"),
        kid=parsed.signature.kid,
        signature=parsed.signature.value,
        issued_at=document.issued,
        valid_until=document.valid_until,
        status=CertificateStatus.ACTIVE,
        created_at=now,
        log_index=-1,
    )
    [certificate.log_index] = append_to_log(
        session, [(CERTIFICATE_LOG_KIND, certificate.uid, certificate_entry(certificate))]
    )
    session.add(certificate)
    session.flush()
    _record_event(
        session,
        certificate,
        CertificateStatus.ACTIVE,
        "issued",
        principal.organisation_id,
        now,
        append_to_log,
    )
    scheme = current_scheme(session, certificate.category)
    if scheme is not None:
        # Not gradable yet (another unit, a small population): ungraded until regraded.
        with contextlib.suppress(ExchangeError):
            grade_certificate(session, certificate, scheme, now=now)
    return certificate, True


def _record_event(
    session: Session,
    certificate: Certificate,
    status: CertificateStatus,
    reason: str,
    actor_id: str,
    now: dt.datetime,
    append_to_log: LogAppender,
) -> CertificateEvent:
    event = CertificateEvent(
        certificate_id=certificate.id, status=status, reason=reason, actor_id=actor_id, at=now
    )
    session.add(event)
    session.flush()
    append_to_log(
        session, [(CERTIFICATE_STATUS_LOG_KIND, str(event.id), certificate_event_entry(event))]
    )
    return event


_CERTIFICATE_MOVES: Final = {
    "suspend": ({CertificateStatus.ACTIVE}, CertificateStatus.SUSPENDED),
    "reinstate": ({CertificateStatus.SUSPENDED}, CertificateStatus.ACTIVE),
    "revoke": ({CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED}, CertificateStatus.REVOKED),
}
CERTIFICATE_ACTIONS: Final = tuple(_CERTIFICATE_MOVES)


def get_certificate(session: Session, certificate_id: int) -> Certificate:
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}")
    return certificate


def change_certificate(
    session: Session,
    principal: Principal,
    *,
    certificate_id: int,
    action: str,
    reason: str,
    append_to_log: LogAppender,
    on_revoked: Callable[[Session, Collection[str], str], object] | None = None,
) -> CertificateEvent:
    """Suspend (reversible), reinstate or revoke (final) one of the body's own certificates.

    ``on_revoked`` hears of the certified record when a revocation makes it untrustworthy
    (derived footprints built on it go stale).
    """
    _require(principal, Role.CERTIFICATION_BODY, "change certificates")
    if action not in _CERTIFICATE_MOVES:
        raise NotFound(f"no certificate action {action!r}")
    reason = _reason(reason)
    certificate = session.get(Certificate, certificate_id, with_for_update=True)
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}")
    if certificate.body_id != principal.organisation_id:
        raise AccessDenied("a body acts only on its own certificates")
    allowed, status = _CERTIFICATE_MOVES[action]
    if certificate.status not in allowed:
        raise Conflict(f"a {certificate.status.value} certificate cannot be told to {action}")
    if action == "reinstate" and (
        accreditation_status(session, principal.organisation_id) != AccreditationStatus.GRANTED
    ):
        raise AccessDenied("only an accredited body may reinstate a certificate")
    certificate.status = status
    event = _record_event(
        session, certificate, status, reason, principal.organisation_id, utcnow(), append_to_log
    )
    if status == CertificateStatus.REVOKED and on_revoked is not None:
        on_revoked(session, [certificate.record_id], f"certificate {certificate.id} revoked")
    return event


def certificate_history(session: Session, certificate_id: int) -> list[CertificateEvent]:
    return list(
        session.scalars(
            sa.select(CertificateEvent)
            .where(CertificateEvent.certificate_id == certificate_id)
            .order_by(CertificateEvent.id)
        )
    )


def effective_status(
    certificate: Certificate, body_status: AccreditationStatus | None, now: dt.datetime
) -> str:
    """What a certificate counts as now: a body's decision, its body's accreditation, expiry."""
    return _effective(certificate.status, certificate.valid_until, body_status, now)


def effective_status_at(
    status: CertificateStatus,
    valid_until: dt.datetime,
    body_status: AccreditationStatus | None,
    at: dt.datetime,
) -> str:
    """What a certificate counted as at ``at``, given the body's decision and the body's
    accreditation as they stood then (a history read back, not the current rows)."""
    return _effective(status, valid_until, body_status, at)


def _effective(
    status: CertificateStatus,
    valid_until: dt.datetime,
    body_status: AccreditationStatus | None,
    now: dt.datetime,
) -> str:
    if status == CertificateStatus.REVOKED:
        return "revoked"
    if body_status == AccreditationStatus.WITHDRAWN:
        return "accreditation-withdrawn"
    if status == CertificateStatus.SUSPENDED:
        return "suspended"
    if now >= valid_until:
        return "expired"
    return "active"


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryEntry:
    certificate: Certificate
    body_name: str
    body_status: AccreditationStatus | None
    status: str
    grade: Grade | None


def registry(
    session: Session,
    *,
    query: str | None = None,
    category: str | None = None,
    gtin: str | None = None,
    status: str | None = None,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> list[RegistryEntry]:
    """The public registry of certified products (建档入库), newest first, searchable."""
    now = now or utcnow()
    body = sa.orm.aliased(Organisation)
    statement = (
        sa.select(Certificate, body.name, Accreditation.status)
        .join(body, body.id == Certificate.body_id)
        .outerjoin(Accreditation, Accreditation.body_id == Certificate.body_id)
        .order_by(Certificate.id.desc())
    )
    if query:
        statement = statement.where(
            sa.or_(
                Certificate.product_name.icontains(query, autoescape=True),
                Certificate.company_name.icontains(query, autoescape=True),
                body.name.icontains(query, autoescape=True),
            )
        )
    if category:
        statement = statement.where(Certificate.category == category)
    if gtin:
        try:
            statement = statement.where(Certificate.gtin == gs1.normalise_gtin(gtin))
        except gs1.GS1Error as exc:
            raise ValidationFailed(
                str(exc), details=[{"field": "gtin", "message": str(exc)}]
            ) from exc
    if status == "active":
        # The decided status narrows in SQL; expiry and withdrawals are applied below.
        statement = statement.where(Certificate.status == CertificateStatus.ACTIVE)
    entries: list[RegistryEntry] = []
    for certificate, body_name, body_status in session.execute(statement):
        state = effective_status(certificate, body_status, now)
        if status is not None and state != status:
            continue
        entries.append(
            RegistryEntry(
                certificate, body_name, body_status, state, current_grade(session, certificate.id)
            )
        )
        if len(entries) >= limit:
            break
    return entries


def registry_entry(
    session: Session, certificate_id: int, now: dt.datetime | None = None
) -> RegistryEntry:
    certificate = get_certificate(session, certificate_id)
    body = session.get(Organisation, certificate.body_id)
    assert body is not None
    body_status = accreditation_status(session, certificate.body_id)
    return RegistryEntry(
        certificate,
        body.name,
        body_status,
        effective_status(certificate, body_status, now or utcnow()),
        current_grade(session, certificate.id),
    )


# --- grading -----------------------------------------------------------------------------


def scheme_entry(scheme: GradingScheme) -> bytes:
    return signing.canonical_json(
        {
            "category": scheme.category,
            "version": scheme.version,
            "method": scheme.method.value,
            "unit": scheme.unit,
            "parameters": json.loads(scheme.parameters_json),
            "createdBy": scheme.created_by,
            "createdAt": scheme.created_at.isoformat(),
        }
    )


def scheme_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    ids = [int(ref) for ref in refs]
    schemes = session.scalars(sa.select(GradingScheme).where(GradingScheme.id.in_(ids)))
    return {str(scheme.id): scheme_entry(scheme) for scheme in schemes}


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
    append_to_log: LogAppender,
) -> tuple[GradingScheme, list[Grade]]:
    """The regulator publishes the next version of a category's scheme; certificates regraded."""
    _require(principal, Role.REGULATOR, "set grading schemes")
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
    append_to_log(session, [(SCHEME_LOG_KIND, str(scheme.id), scheme_entry(scheme))])
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


# --- the exchange's label keys -----------------------------------------------------------


def ensure_issuer_key(session: Session, key: ExchangeKey) -> IssuerKey:
    """The exchange's current key as a label key, registered on first use."""
    found = session.get(IssuerKey, key.kid)
    if found is not None:
        return found
    issuer = IssuerKey(
        kid=key.kid,
        public_key=key.public_key,
        not_before=utcnow(),
        revoked_at=None,
        revocation_reason=None,
    )
    try:
        with session.begin_nested():
            session.add(issuer)
    except sa.exc.IntegrityError:  # another worker registered it first
        found = session.get(IssuerKey, key.kid)
        assert found is not None
        return found
    return issuer


def revoke_issuer_key(
    session: Session, *, kid: str, reason: str, revoked_at: dt.datetime | None = None
) -> IssuerKey:
    """Revoke a label key (it leaked, or it is retired): labels it signs from that day fail."""
    key = session.get(IssuerKey, kid)
    if key is None:
        raise NotFound(f"no label key {kid}")
    if key.revoked_at is not None:
        raise Conflict(f"label key {kid} was revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = revoked_at or utcnow()
    key.revocation_reason = _reason(reason)
    session.flush()
    return key


_TRUSTED_KEYS: Final = sa.select(
    IssuerKey.__table__.c.kid,
    IssuerKey.__table__.c.public_key,
    IssuerKey.__table__.c.not_before,
    IssuerKey.__table__.c.revoked_at,
).order_by(IssuerKey.__table__.c.not_before)


def trusted_keys(session: Session | sa.Connection) -> list[TrustedKey]:
    """Every label key the exchange ever had, with its revocation, as verifiers see them."""
    return [TrustedKey(*row) for row in session.execute(_TRUSTED_KEYS)]


# --- labels ------------------------------------------------------------------------------


def label_entry(label: Label) -> bytes:
    return signing.canonical_json({"label": label.id, "url": label.url})


def label_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    ids = [int(ref) for ref in refs]
    labels = session.scalars(sa.select(Label).where(Label.id.in_(ids)))
    return {str(label.id): label_entry(label) for label in labels}


def issue_label(
    session: Session,
    principal: Principal,
    *,
    certificate_id: int,
    lot: str | None,
    key: ExchangeKey,
    origin: str,
    append_to_log: LogAppender,
    today: dt.date | None = None,
) -> Label:
    """A signed label of a live certificate, asked for by its body or the record's owner.

    The exchange signs labels (not the body): it computed the grade it states, shoppers'
    phones then pin one anchor, and labels can be reissued after a regrading without the
    body's machine; the body's own signature stays on the certificate the label names.
    """
    principal.require_scope(SCOPE)
    certificate = get_certificate(session, certificate_id)
    if principal.organisation_id not in (certificate.body_id, certificate.owner_id):
        raise AccessDenied("only the certifying body or the product's owner issues its labels")
    now = utcnow()
    body_status = accreditation_status(session, certificate.body_id)
    state = effective_status(certificate, body_status, now)
    if state != "active":
        raise Conflict(f"the certificate is {state}: no label can be issued")
    if body_status != AccreditationStatus.GRANTED:
        raise Conflict("the certifying body's accreditation is suspended: no new labels")
    if lot is not None:
        try:
            gs1.check_lot(lot)
        except gs1.GS1Error as exc:
            raise ValidationFailed(
                str(exc), details=[{"field": "lot", "message": str(exc)}]
            ) from exc
    issuer = ensure_issuer_key(session, key)
    if issuer.revoked_at is not None:
        raise Conflict("the exchange's label key is revoked: rotate the exchange key")
    grade = current_grade(session, certificate.id)
    issued = today or now.date()
    expires = min(certificate.valid_until.date(), issued + dt.timedelta(days=2**16 - 1))
    label = Label(
        certificate_id=certificate.id,
        grade_id=grade.id if grade else None,
        gtin=certificate.gtin,
        lot=lot,
        value=label_claims.round_value(Decimal(certificate.value)),
        unit=certificate.unit,
        grade=grade.grade if grade else None,
        issued_on=issued,
        expires_on=expires,
        kid=issuer.kid,
        signature="",
        url="",
        created_by=principal.organisation_id,
        created_at=now,
        log_index=None,
    )
    session.add(label)
    session.flush()
    claims = label_claims_of(label, origin)
    label.signature = signing.sign_bytes(
        message=label_claims.signed_message(claims), private_key=key.private_key
    )
    label.url = label_claims.encode(claims, label.signature)
    [label.log_index] = append_to_log(
        session, [(LABEL_LOG_KIND, str(label.id), label_entry(label))]
    )
    session.flush()
    return label


def label_claims_of(label: Label, origin: str) -> label_claims.Claims:
    return label_claims.Claims(
        origin=origin.lower(),
        gtin=label.gtin,
        lot=label.lot,
        label=label.id,
        certificate=label.certificate_id,
        value=Decimal(label.value).normalize(),
        unit=label.unit,
        grade=label.grade,
        issued=label.issued_on,
        expires=label.expires_on,
        kid=label.kid,
    )


def get_label(session: Session, label_id: int) -> Label:
    label = session.get(Label, label_id)
    if label is None:
        raise NotFound(f"no label {label_id}")
    return label


@dataclasses.dataclass(frozen=True, slots=True)
class LabelStatus:
    label: Label
    entry: RegistryEntry
    reasons: list[Reason]
    current: Grade | None

    @property
    def valid(self) -> bool:
        return not self.reasons


def label_status(session: Session, label_id: int, now: dt.datetime | None = None) -> LabelStatus:
    """What the server knows of a label now: its certificate's status, expiry, grade."""
    now = now or utcnow()
    label = get_label(session, label_id)
    entry = registry_entry(session, label.certificate_id, now)
    reasons = []
    if entry.status != "active":
        reasons.append(Reason(f"certificate-{entry.status}", f"the certificate is {entry.status}"))
    if now.date() > label.expires_on:
        reasons.append(Reason("expired", f"expired on {label.expires_on.isoformat()}"))
    return LabelStatus(label, entry, reasons, entry.grade)


# One statement for the verifier's common case: the label, the key it names, its
# certificate and the certifying body's accreditation (Core columns, compiled once).
_LABELS = Label.__table__.c
_KEYS = IssuerKey.__table__.c
_CERTIFICATES = Certificate.__table__.c
_ACCREDITATIONS = Accreditation.__table__.c
_LABEL_CHECK: Final = (
    sa.select(
        _LABELS.signature,
        _LABELS.kid,
        _KEYS.public_key,
        _KEYS.not_before,
        _KEYS.revoked_at,
        _CERTIFICATES.status,
        _CERTIFICATES.valid_until,
        _ACCREDITATIONS.status.label("body_status"),
    )
    .select_from(
        Label.__table__.join(IssuerKey.__table__, _KEYS.kid == _LABELS.kid)
        .join(Certificate.__table__, _CERTIFICATES.id == _LABELS.certificate_id)
        .outerjoin(Accreditation.__table__, _ACCREDITATIONS.body_id == _CERTIFICATES.body_id)
    )
    .where(_LABELS.id == sa.bindparam("label_id"))
)


def verify_text(
    session: Session | sa.Connection, text: str, *, origin: str, now: dt.datetime | None = None
) -> tuple[Verdict, str | None]:
    """The server's verdict on scanned text: the offline checks, then what the exchange knows.

    The label's number is read before its signature is checked, so one query usually brings
    the key, the stored label and its certificate's status; only a label naming another key,
    or failing, is checked against every label key (the same verdict, found the long way).
    Also returns the certificate's effective status. Core statements only, so that the
    verifier can run on a bare connection (it reads, and is called for every scan); it
    ends its read transaction itself once it has read what it needs.
    """
    now = now or utcnow()
    today = now.date()
    try:
        scanned = label_claims.decode(text)
    except label_claims.LabelFormatError as exc:
        return Verdict([Reason("malformed", f"not a label of this programme: {exc}")]), None
    row = None
    if 0 < scanned.label < 2**31:
        row = session.execute(_LABEL_CHECK, {"label_id": scanned.label}).first()
    fast = row is not None and row.kid.startswith(scanned.kid_hint)
    keys = None if fast else trusted_keys(session)
    # Everything is read: end the read transaction before the signature check. The view's
    # connection is a reader (db.reader), which on SQLite takes no lock; a caller's session
    # or writing connection holds SQLite's write lock until here, and other workers would
    # otherwise queue behind this one's cryptography.
    session.rollback()
    verdict = None
    if fast:
        assert row is not None
        key = TrustedKey(row.kid, row.public_key, row.not_before, row.revoked_at)
        verdict = verify_scanned(scanned, origin=origin, keys=[key], today=today)
        if verdict.claims is None:
            verdict = None
    if verdict is None:
        if keys is None:
            keys = trusted_keys(session)
            session.rollback()
        verdict = verify_scanned(scanned, origin=origin, keys=keys, today=today)
    if verdict.claims is None:
        return verdict, None
    reasons = list(verdict.reasons)
    if row is None or row.signature != scanned.signature:
        reasons.append(Reason("unknown-label", "the exchange issued no such label"))
        return Verdict(reasons, verdict.claims, verdict.scanned), None
    state = _effective(row.status, row.valid_until, row.body_status, now)
    if state not in ("active", "expired"):
        reasons.append(Reason(f"certificate-{state}", f"the certificate is {state}"))
    elif state == "expired" and not any(reason.code == "expired" for reason in reasons):
        reasons.append(Reason("certificate-expired", "the certificate has expired"))
    return Verdict(reasons, verdict.claims, verdict.scanned), state


# --- trust list --------------------------------------------------------------------------


def trust_list(
    session: Session, key: ExchangeKey, *, origin: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The signed list of signers the exchange trusts, for offline verifiers to pin: its
    keys, the accredited bodies and the partner programmes, each with its history."""
    # Imported here: mutual recognition builds on labels (its bundles carry certificates).
    from exchange.mutual_recognition.services.programmes import trust_list_entries

    now = now or utcnow()
    ensure_issuer_key(session, key)
    bodies = []
    for organisation, accreditation in accredited_bodies(session):
        bodies.append(
            {
                "id": organisation.id,
                "name": organisation.name,
                "country": organisation.country,
                "status": accreditation.status.value,
                "history": [
                    {
                        "status": event.status.value,
                        "at": event.decided_at.isoformat(),
                        "reason": event.reason,
                    }
                    for event in accreditation_history(session, organisation.id)
                ],
                "keys": [_key_json(item) for item in keys_of(session, organisation.id)],
            }
        )
    payload = {
        "origin": origin.lower(),
        "issuedAt": now.isoformat(),
        "exchange": {
            "jwk": {**signing.public_jwk(key.public_key), "kid": key.kid},
            # Every exchange key, current and retired, with its validity: what was signed
            # before a rotation verifies by its kid.
            "keys": key.published(),
            "labelKeys": [
                {
                    **signing.public_jwk(item.public_key),
                    "kid": item.kid,
                    "notBefore": item.not_before.isoformat(),
                    "revokedAt": _iso(item.revoked_at),
                }
                for item in session.scalars(sa.select(IssuerKey).order_by(IssuerKey.not_before))
            ],
        },
        "certificationBodies": bodies,
        "partnerProgrammes": trust_list_entries(session),
    }
    return {
        "trustList": payload,
        "signature": {
            "alg": signing.ALGORITHM,
            "kid": key.kid,
            "value": key.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload),
        },
    }


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        **signing.public_jwk(key.public_key),
        "kid": key.kid,
        "notBefore": key.not_before.isoformat(),
        "notAfter": _iso(key.not_after),
        "revokedAt": _iso(key.revoked_at),
    }
