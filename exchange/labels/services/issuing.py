"""Signed carbon labels: issuing them, their status, and verifying a scanned label."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from decimal import Decimal
from typing import Final, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities, signing
from exchange.db import utcnow
from exchange.errors import (
    AccessDenied,
    Conflict,
    NotFound,
    ValidationFailed,
)
from exchange.keyring import ExchangeKey
from exchange.labels import claims as label_claims
from exchange.labels import gs1
from exchange.labels.models import (
    Accreditation,
    AccreditationStatus,
    Certificate,
    Grade,
    IssuerKey,
    Label,
)
from exchange.labels.services.accreditation import accreditation_status
from exchange.labels.services.certificates import (
    RegistryEntry,
    effective_status,
    get_certificate,
    registry_entry,
    status_from_facts,
)
from exchange.labels.services.common import SCOPE
from exchange.labels.services.grading import current_grade
from exchange.labels.services.keys import ensure_issuer_key, trusted_keys
from exchange.labels.verify import Reason, TrustedKey, Verdict, verify_scanned
from exchange.organisations.models import Organisation
from exchange.organisations.principals import Principal


def issue_label(
    session: Session,
    principal: Principal,
    *,
    certificate_id: int,
    lot: str | None,
    key: ExchangeKey,
    origin: str,
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
    Label.log.append(session, [label])
    session.flush()
    return label


class LabelFacts(Protocol):
    """What a label's claims are made of: a :class:`Label`, or the verifier's row of the
    labels table (read with Core statements, without the ORM: see :func:`check_label`)."""

    @property
    def id(self) -> int: ...
    @property
    def gtin(self) -> str: ...
    @property
    def lot(self) -> str | None: ...
    @property
    def certificate_id(self) -> int: ...
    @property
    def value(self) -> Decimal: ...
    @property
    def unit(self) -> str: ...
    @property
    def grade(self) -> int | None: ...
    @property
    def issued_on(self) -> dt.date: ...
    @property
    def expires_on(self) -> dt.date: ...
    @property
    def kid(self) -> str: ...


def label_claims_of(label: LabelFacts, origin: str) -> label_claims.Claims:
    """The claims the exchange issued ``label`` with, at ``origin``."""
    return label_claims.Claims(
        origin=origin.lower(),
        gtin=label.gtin,
        lot=label.lot,
        label=label.id,
        certificate=label.certificate_id,
        value=quantities.stripped(Decimal(label.value)),
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


# One statement for the verifier's common case: the label as issued, the key it names, its
# certificate and the certifying body with its accreditation (Core columns, compiled once).
_LABELS = Label.__table__.c
_KEYS = IssuerKey.__table__.c
_CERTIFICATES = Certificate.__table__.c
_ACCREDITATIONS = Accreditation.__table__.c
_BODIES = Organisation.__table__.c
_LABEL_CHECK: Final = (
    sa.select(
        _LABELS.id,
        _LABELS.signature,
        _LABELS.kid,
        _LABELS.certificate_id,
        _LABELS.gtin,
        _LABELS.lot,
        _LABELS.value,
        _LABELS.unit,
        _LABELS.grade,
        _LABELS.issued_on,
        _LABELS.expires_on,
        _KEYS.public_key,
        _KEYS.not_before,
        _KEYS.revoked_at,
        _CERTIFICATES.status,
        _CERTIFICATES.valid_until,
        _CERTIFICATES.product_name,
        _CERTIFICATES.company_name,
        _BODIES.name.label("body_name"),
        _ACCREDITATIONS.status.label("body_status"),
    )
    .select_from(
        Label.__table__.join(IssuerKey.__table__, _KEYS.kid == _LABELS.kid)
        .join(Certificate.__table__, _CERTIFICATES.id == _LABELS.certificate_id)
        .join(Organisation.__table__, _BODIES.id == _CERTIFICATES.body_id)
        .outerjoin(Accreditation.__table__, _ACCREDITATIONS.body_id == _CERTIFICATES.body_id)
    )
    .where(_LABELS.id == sa.bindparam("label_id"))
)

# The claims a label states, as compared with what the exchange issued under its number.
_CLAIM_NAMES: Final = (
    "gtin",
    "lot",
    "certificate",
    "value",
    "unit",
    "grade",
    "issued",
    "expires",
    "kid",
    "origin",
)


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedLabel:
    """What the exchange holds of a label it issued, for a verifier to show."""

    label: int
    certificate: int
    certificate_status: str
    valid_until: dt.datetime
    product: str
    company: str
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class LabelCheck:
    """The server's verdict on a scanned label. ``certificate_status`` and ``issued`` are set
    only when the exchange issued exactly this label (every claim, and the signature)."""

    verdict: Verdict
    certificate_status: str | None = None
    issued: IssuedLabel | None = None


def differing_claims(stated: label_claims.Claims, issued: label_claims.Claims) -> list[str]:
    """The names of the claims in which a scanned label differs from the one issued."""
    return [name for name in _CLAIM_NAMES if getattr(stated, name) != getattr(issued, name)]


# Labels taken apart, by their exact text: decoding is a pure function of the text, its
# result is immutable, and the same labels are scanned over and over (it was a sixth of a
# verification, issue 22). A malformed text raises, which is not remembered.
_decoded: Final = functools.lru_cache(maxsize=4096)(label_claims.decode)


def check_label(
    session: Session | sa.Connection, text: str, *, origin: str, now: dt.datetime | None = None
) -> LabelCheck:
    """The server's verdict on scanned text: the offline checks, then what the exchange knows.

    Online, the exchange's record is authoritative: a label is valid only if the exchange
    issued one under its number whose every claim (GTIN, lot, certificate, value, unit,
    grade, dates, key, origin) and signature equal the scanned ones. A label that a leaked
    key signed, back-dated to before the key's revocation, passes every offline check; here
    it is ``unknown-label`` (no such number) or ``claims-differ`` (naming the claims).

    The label's number is read before its signature is checked, so one query usually brings
    the key, the stored label and its certificate's status; only a label naming another key,
    or failing, is checked against every label key (the same verdict, found the long way).
    Core statements only, so that the verifier can run on a bare connection (it reads, and is
    called for every scan); it ends its read transaction itself once it has read what it
    needs.
    """
    now = now or utcnow()
    today = now.date()
    try:
        scanned = _decoded(text)
    except label_claims.LabelFormatError as exc:
        return LabelCheck(Verdict([Reason("malformed", f"not a label of this programme: {exc}")]))
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
        return LabelCheck(verdict)
    reasons = list(verdict.reasons)
    if row is None:
        reasons.append(Reason("unknown-label", "the exchange issued no label of this number"))
        return LabelCheck(Verdict(reasons, verdict.claims, verdict.scanned))
    issued = label_claims_of(row, origin)
    differing = differing_claims(verdict.claims, issued)
    if differing:
        stated = label_claims.claims_document(verdict.claims)
        held = label_claims.claims_document(issued)
        reasons.append(
            Reason(
                "claims-differ",
                "the exchange issued label "
                f"{scanned.label} with other claims: "
                + "; ".join(
                    f"{name} {stated[name]!r}, issued {held[name]!r}" for name in differing
                ),
            )
        )
        return LabelCheck(Verdict(reasons, verdict.claims, verdict.scanned))
    if row.signature != scanned.signature:
        # Same claims, other signature bytes: not the label the exchange printed.
        reasons.append(
            Reason(
                "unknown-label", "the exchange issued this label's claims with another signature"
            )
        )
        return LabelCheck(Verdict(reasons, verdict.claims, verdict.scanned))
    state = status_from_facts(row.status, row.valid_until, row.body_status, now)
    if state not in ("active", "expired"):
        reasons.append(Reason(f"certificate-{state}", f"the certificate is {state}"))
    elif state == "expired" and not any(reason.code == "expired" for reason in reasons):
        reasons.append(Reason("certificate-expired", "the certificate has expired"))
    return LabelCheck(
        Verdict(reasons, verdict.claims, verdict.scanned),
        state,
        IssuedLabel(
            label=scanned.label,
            certificate=row.certificate_id,
            certificate_status=state,
            valid_until=row.valid_until,
            product=row.product_name,
            company=row.company_name,
            body=row.body_name,
        ),
    )


def verify_text(
    session: Session | sa.Connection, text: str, *, origin: str, now: dt.datetime | None = None
) -> tuple[Verdict, str | None]:
    """:func:`check_label`'s verdict and the certificate's effective status."""
    check = check_label(session, text, origin=origin, now=now)
    return check.verdict, check.certificate_status
