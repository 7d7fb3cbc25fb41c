"""Tables of accreditations, certificates, grading schemes and grades, labels and the
exchange's label-signing keys; the lifecycles of accreditations and certificates, and what
each logged row puts in the transparency log."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange import signing
from exchange.db import Base, text_enum, utcnow
from exchange.lifecycle import HistoryRow, Lifecycle, LogKind


class AccreditationStatus(enum.StrEnum):
    GRANTED = "granted"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class CertificateStatus(enum.StrEnum):
    """What a body decided; expiry and a withdrawn accreditation are worked out when read."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


ACCREDITATION: Final = Lifecycle(
    "an accreditation",
    {
        None: (AccreditationStatus.GRANTED,),
        AccreditationStatus.GRANTED: (AccreditationStatus.SUSPENDED, AccreditationStatus.WITHDRAWN),
        AccreditationStatus.SUSPENDED: (AccreditationStatus.GRANTED, AccreditationStatus.WITHDRAWN),
        AccreditationStatus.WITHDRAWN: (),
    },
)
# Suspension is reversible, revocation final; expiry and a withdrawn accreditation are not
# moves but facts read with the status (exchange.labels.services.certificates).
CERTIFICATE: Final = Lifecycle(
    "a certificate",
    {
        None: (CertificateStatus.ACTIVE,),
        CertificateStatus.ACTIVE: (CertificateStatus.SUSPENDED, CertificateStatus.REVOKED),
        CertificateStatus.SUSPENDED: (CertificateStatus.ACTIVE, CertificateStatus.REVOKED),
        CertificateStatus.REVOKED: (),
    },
)


class GradingMethod(enum.StrEnum):
    BENCHMARK = "benchmark-ratio"
    PERCENTILE = "percentile"
    BANDS = "fixed-bands"


class Accreditation(Base):
    """A certification body's current accreditation by the regulator."""

    __tablename__ = "accreditations"

    body_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), primary_key=True)
    status: Mapped[AccreditationStatus] = mapped_column(text_enum(AccreditationStatus, length=16))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccreditationEvent(HistoryRow, Base):
    """One decision of the regulator about a body, kept for the history and logged."""

    __tablename__ = "accreditation_events"

    body_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    status: Mapped[AccreditationStatus] = mapped_column(text_enum(AccreditationStatus, length=16))

    def log_entry(self) -> bytes:
        return signing.canonical_json(
            {
                "body": self.body_id,
                "status": self.status.value,
                "reason": self.reason,
                "decidedBy": self.decided_by,
                "decidedAt": self.decided_at.isoformat(),
            }
        )

    log = LogKind("accreditation", entry=log_entry)


class Certificate(Base):
    """A body's signed statement about one footprint record; its id is the registry number."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    body_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    record_id: Mapped[str] = mapped_column(sa.ForeignKey("footprint_records.id"), index=True)
    gtin: Mapped[str] = mapped_column(sa.String(14), index=True)
    category: Mapped[str] = mapped_column(sa.String(300), index=True)
    product_name: Mapped[str] = mapped_column(sa.String(300))
    company_name: Mapped[str] = mapped_column(sa.String(300))
    # kg CO2e per ONE declared unit (the record's PCF divided by declaredUnitAmount).
    value: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(sa.String(32))
    # RFC 8785 text of the certificate document: the bytes the body's signature covers.
    document_json: Mapped[str] = mapped_column(sa.Text)
    kid: Mapped[str] = mapped_column(sa.ForeignKey("signing_keys.kid"))
    signature: Mapped[str] = mapped_column(sa.String(86))
    issued_at: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[CertificateStatus] = mapped_column(text_enum(CertificateStatus, length=16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)

    def log_entry(self) -> bytes:
        """The RFC 8785 form of the envelope the body signed."""
        return signing.canonical_json(
            {
                "certificate": json.loads(self.document_json),
                "signature": {"alg": signing.ALGORITHM, "kid": self.kid, "value": self.signature},
            }
        )

    log = LogKind("certificate", entry=log_entry, key="uid")


class CertificateEvent(HistoryRow, Base):
    """A status change of a certificate (issued, suspended, reinstated, revoked), logged;
    ``decided_by`` is the body that acted."""

    __tablename__ = "certificate_events"

    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    status: Mapped[CertificateStatus] = mapped_column(text_enum(CertificateStatus, length=16))

    def log_entry(self) -> bytes:
        return signing.canonical_json(
            {
                "certificate": self.certificate_id,
                "status": self.status.value,
                "reason": self.reason,
                "actor": self.decided_by,
                "at": self.decided_at.isoformat(),
            }
        )

    log = LogKind("certificate-status", entry=log_entry)


class GradingScheme(Base):
    """One version of a category's grading scheme; the newest version is in force."""

    __tablename__ = "grading_schemes"
    __table_args__ = (sa.UniqueConstraint("category", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(sa.String(300), index=True)
    version: Mapped[int]
    method: Mapped[GradingMethod] = mapped_column(text_enum(GradingMethod, length=16))
    unit: Mapped[str] = mapped_column(sa.String(32))
    # RFC 8785 text of the method's parameters (benchmark and cut points, or bands).
    parameters_json: Mapped[str] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def log_entry(self) -> bytes:
        return signing.canonical_json(
            {
                "category": self.category,
                "version": self.version,
                "method": self.method.value,
                "unit": self.unit,
                "parameters": json.loads(self.parameters_json),
                "createdBy": self.created_by,
                "createdAt": self.created_at.isoformat(),
            }
        )

    log = LogKind("grading-scheme", entry=log_entry)


class Grade(Base):
    """A certificate's grade under one scheme version; a regrading supersedes, never deletes."""

    __tablename__ = "grades"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("grading_schemes.id"), index=True)
    grade: Mapped[int]
    value: Mapped[Decimal]
    # The population a percentile grade was computed from (size and SHA-256 of its values).
    population_size: Mapped[int | None]
    population_digest: Mapped[str | None] = mapped_column(sa.String(64))
    graded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[dt.datetime | None]

    scheme: Mapped[GradingScheme] = relationship(lazy="joined")


class IssuerKey(Base):
    """A key the exchange signs labels with, as the trust list publishes it."""

    __tablename__ = "label_issuer_keys"

    kid: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    not_before: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(500))


class Label(Base):
    """A signed label of a certified product; ``url`` is exactly what its QR holds."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    grade_id: Mapped[int | None] = mapped_column(sa.ForeignKey("grades.id"))
    gtin: Mapped[str] = mapped_column(sa.String(14), index=True)
    lot: Mapped[str | None] = mapped_column(sa.String(20))
    value: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(sa.String(32))
    grade: Mapped[int | None]
    issued_on: Mapped[dt.date] = mapped_column(sa.Date)
    expires_on: Mapped[dt.date] = mapped_column(sa.Date)
    kid: Mapped[str] = mapped_column(sa.ForeignKey("label_issuer_keys.kid"))
    signature: Mapped[str] = mapped_column(sa.String(86))
    url: Mapped[str] = mapped_column(sa.String(600))
    created_by: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set in the issuing transaction, once the label's number (which it signs) is known.
    log_index: Mapped[int | None] = mapped_column(sa.BigInteger, unique=True)

    def log_entry(self) -> bytes:
        return signing.canonical_json({"label": self.id, "url": self.url})

    log = LogKind("label", entry=log_entry)


class TrustListIssue(Base):
    """One signed trust list as published. The newest is served until what it lists changes
    or its renewal comes (``exchange worker`` re-signs it before ``next_update``); older
    ones stay as the record of what verifiers were told."""

    __tablename__ = "trust_lists"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    issued_at: Mapped[dt.datetime]
    next_update: Mapped[dt.datetime]
    # SHA-256 (hex) of the RFC 8785 payload without its two times: what the list says.
    content_digest: Mapped[str] = mapped_column(sa.String(64))
    kid: Mapped[str] = mapped_column(sa.String(43))
    # The signed document exactly as served: {"trustList": ..., "signature": ...}.
    document_json: Mapped[str] = mapped_column(sa.Text)
