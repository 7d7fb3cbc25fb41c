"""Tables of accreditations, certificates, grading schemes and grades, labels and the
exchange's label-signing keys."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db import Base, text_enum, utcnow


class AccreditationStatus(enum.StrEnum):
    GRANTED = "granted"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class CertificateStatus(enum.StrEnum):
    """What a body decided; expiry and a withdrawn accreditation are worked out when read."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


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


class AccreditationEvent(Base):
    """One decision of the regulator about a body, kept for the history and logged."""

    __tablename__ = "accreditation_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    body_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    status: Mapped[AccreditationStatus] = mapped_column(text_enum(AccreditationStatus, length=16))
    reason: Mapped[str] = mapped_column(sa.String(500))
    decided_by: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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


class CertificateEvent(Base):
    """A status change of a certificate (issued, suspended, reinstated, revoked), logged."""

    __tablename__ = "certificate_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("certificates.id"), index=True)
    status: Mapped[CertificateStatus] = mapped_column(text_enum(CertificateStatus, length=16))
    reason: Mapped[str] = mapped_column(sa.String(500))
    actor_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


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
