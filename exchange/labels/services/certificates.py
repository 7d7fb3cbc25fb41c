"""Certificates the accredited bodies sign, their status changes, and the public registry."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Collection
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle, quantities, signing
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
from exchange.labels import gs1
from exchange.labels.models import (
    CERTIFICATE,
    Accreditation,
    AccreditationStatus,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Grade,
)
from exchange.labels.schemas import CertificateDocument, parse_certificate_envelope
from exchange.labels.services.accreditation import accreditation_status
from exchange.labels.services.common import (
    CERTIFICATE_YEARS,
    CLOCK_SKEW,
    ISSUE_WINDOW,
    require_role,
)
from exchange.labels.services.grading import current_grade, current_scheme, grade_certificate
from exchange.organisations.models import Organisation, Role, SigningKey
from exchange.organisations.principals import Principal
from exchange.pact_wire import parse_product_footprint


def footprint_digest(footprint_json: str) -> str:
    """What a certificate names a record by: SHA-256 of the record's RFC 8785 footprint."""
    return hashlib.sha256(footprint_json.encode("utf-8")).hexdigest()


def add_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


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
    exact = quantities.stripped(quantities.rounded(value))
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
) -> tuple[Certificate, bool]:
    """Register a body-signed certificate of a record the body can see; (certificate, created).

    The body must hold a granted accreditation and sign with its own registered key. A
    certificate sent again unchanged is answered with the stored one.
    """
    require_role(principal, Role.CERTIFICATION_BODY, "certify footprints")
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
        status=CERTIFICATE.check(None, CertificateStatus.ACTIVE),
        created_at=now,
        log_index=-1,  # the log's index, given below before the row is stored
    )
    Certificate.log.append(session, [certificate])
    session.add(certificate)
    session.flush()
    lifecycle.record(
        session,
        CertificateEvent(
            certificate_id=certificate.id,
            status=certificate.status,
            reason="issued",
            decided_by=principal.organisation_id,
            decided_at=now,
        ),
    )
    scheme = current_scheme(session, certificate.category)
    if scheme is not None:
        # Not gradable yet (another unit, a small population): ungraded until regraded.
        with contextlib.suppress(ExchangeError):
            grade_certificate(session, certificate, scheme, now=now)
    return certificate, True


# What a body tells a certificate to do, and the status that leads to (moves: CERTIFICATE).
_ACTIONS: Final = {
    "suspend": CertificateStatus.SUSPENDED,
    "reinstate": CertificateStatus.ACTIVE,
    "revoke": CertificateStatus.REVOKED,
}
CERTIFICATE_ACTIONS: Final = tuple(_ACTIONS)


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
    on_revoked: Callable[[Session, Collection[str], str], object] | None = None,
) -> CertificateEvent:
    """Suspend (reversible), reinstate or revoke (final) one of the body's own certificates.

    ``on_revoked`` hears of the certified record when a revocation makes it untrustworthy
    (derived footprints built on it go stale).
    """
    require_role(principal, Role.CERTIFICATION_BODY, "change certificates")
    if action not in _ACTIONS:
        raise NotFound(f"no certificate action {action!r}")
    reason = lifecycle.reason(reason, column=CertificateEvent.reason)
    certificate = session.get(Certificate, certificate_id, with_for_update=True)
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}")
    if certificate.body_id != principal.organisation_id:
        raise AccessDenied("a body acts only on its own certificates")
    status = CERTIFICATE.check(
        certificate.status,
        _ACTIONS[action],
        refusal=f"a {certificate.status.value} certificate cannot be told to {action}",
    )
    if action == "reinstate" and (
        accreditation_status(session, principal.organisation_id) != AccreditationStatus.GRANTED
    ):
        raise AccessDenied("only an accredited body may reinstate a certificate")
    certificate.status = status
    event = lifecycle.record(
        session,
        CertificateEvent(
            certificate_id=certificate.id,
            status=status,
            reason=reason,
            decided_by=principal.organisation_id,
            decided_at=utcnow(),
        ),
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
    return status_from_facts(certificate.status, certificate.valid_until, body_status, now)


def effective_status_at(
    status: CertificateStatus,
    valid_until: dt.datetime,
    body_status: AccreditationStatus | None,
    at: dt.datetime,
) -> str:
    """What a certificate counted as at ``at``, given the body's decision and the body's
    accreditation as they stood then (a history read back, not the current rows)."""
    return status_from_facts(status, valid_until, body_status, at)


def status_from_facts(
    status: CertificateStatus,
    valid_until: dt.datetime,
    body_status: AccreditationStatus | None,
    now: dt.datetime,
) -> str:
    """The status in effect at ``now``, from the certificate's own status and validity and
    its body's accreditation."""
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
