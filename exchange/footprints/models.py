"""Tables of footprint records, the product ids they name, and the shares granted on them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange import limits
from exchange.db import Base, text_enum, utcnow
from exchange.footprints.schemas import EnvelopeSignature
from exchange.lifecycle import LogKind


class RecordStatus(enum.StrEnum):
    """PACT lifecycle of a record: a successor naming it in ``precedingPfIds`` deprecates it."""

    ACTIVE = "Active"
    DEPRECATED = "Deprecated"


class Disclosure(enum.StrEnum):
    """Who besides the owner and named customers may read a record."""

    PRIVATE = "private"
    REGULATOR = "regulator"
    PUBLIC = "public"


class FootprintRecord(Base):
    """A PACT ProductFootprint exactly as its owner signed it (or imported it); never changed.

    An imported record from another PACT tool has no signature: ``signature_kid`` and
    ``signature`` are both empty, and every read says ``"signed": false``.
    """

    __tablename__ = "footprint_records"
    __table_args__ = (
        sa.Index(None, "received_at", "id"),
        # Newest-first runs of what a caller may see: its own records, and public ones (or,
        # for the regulator, those disclosed to it).
        sa.Index(None, "owner_id", "received_at", "id"),
        sa.Index(None, "disclosure", "received_at", "id"),
        sa.CheckConstraint("(signature_kid IS NULL) = (signature IS NULL)", name="signed_or_not"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    status: Mapped[RecordStatus] = mapped_column(text_enum(RecordStatus, length=16))
    disclosure: Mapped[Disclosure] = mapped_column(text_enum(Disclosure, length=16))
    # RFC 8785 canonical text of the footprint: the exact bytes the signature covers.
    footprint_json: Mapped[str] = mapped_column(sa.Text)
    signature_kid: Mapped[str | None] = mapped_column(sa.ForeignKey("signing_keys.kid"), index=True)
    signature: Mapped[str | None] = mapped_column(sa.String(86))
    # SHA-256 of footprint and signature, to tell a resent envelope from a conflicting one.
    envelope_digest: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    deprecated_by_id: Mapped[str | None] = mapped_column(sa.String(36))
    # Where the record was registered in the transparency log (its receipt names it too).
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    # The PACT validity period (validityPeriodStart/End, or three years from the end of the
    # reference period); lists find candidates by its years (FootprintValidityYear).
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]

    @property
    def signed(self) -> bool:
        return self.signature is not None

    def log_entry(self) -> bytes:
        return entry_bytes(self.footprint_json, signature_of(self))

    log = LogKind("footprint", entry=log_entry)


def signature_of(record: FootprintRecord) -> EnvelopeSignature | None:
    """The owner's signature of a record, or None for an imported unsigned one."""
    if record.signature_kid is None or record.signature is None:
        return None
    return EnvelopeSignature(alg="Ed25519", kid=record.signature_kid, value=record.signature)


def entry_bytes(footprint_json: str, signature: EnvelopeSignature | None) -> bytes:
    """The log entry of a record: the RFC 8785 form of its envelope, which anyone can recompute.

    Built by concatenation because ``footprint_json`` is canonical already and every other
    member is plain ASCII in sorted order; a test holds it equal to the canonicaliser's output.
    An imported unsigned record's entry has ``"signature":null``.
    """
    if signature is None:
        return f'{{"footprint":{footprint_json},"signature":null}}'.encode()
    return (
        f'{{"footprint":{footprint_json},"signature":{{"alg":"{signature.alg}",'
        f'"kid":"{signature.kid}","value":"{signature.value}"}}}}'
    ).encode()


class RecordTerm:
    """A value a record is found by, lower-cased, with the record's ``received_at`` copied:
    a list filtered by one value reads the ``(value, received_at, record_id)`` index in list
    order and stops at the end of the page, with no sort of every match."""

    record_id: Mapped[str] = mapped_column(
        sa.ForeignKey("footprint_records.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )
    received_at: Mapped[dt.datetime] = mapped_column(sort_order=1)


class FootprintProduct(RecordTerm, Base):
    """A product id of a record, for sharing by product and the ``productId`` filter."""

    __tablename__ = "footprint_products"
    __table_args__ = (sa.Index(None, "product_id", "received_at", "record_id"),)

    product_id: Mapped[str] = mapped_column(sa.String(limits.URN), primary_key=True)


class FootprintCompany(RecordTerm, Base):
    """A company id of a record, for the ``companyId`` filter."""

    __tablename__ = "footprint_companies"
    __table_args__ = (sa.Index(None, "company_id", "received_at", "record_id"),)

    company_id: Mapped[str] = mapped_column(sa.String(limits.URN), primary_key=True)


class FootprintClassification(RecordTerm, Base):
    """A product classification of a record, for the ``classification`` filter."""

    __tablename__ = "footprint_classifications"
    __table_args__ = (sa.Index(None, "classification", "received_at", "record_id"),)

    classification: Mapped[str] = mapped_column(sa.String(limits.URN), primary_key=True)


class FootprintGeography(RecordTerm, Base):
    """The region, country or subdivision of a record, for the ``geography`` filter."""

    __tablename__ = "footprint_geographies"
    __table_args__ = (sa.Index(None, "geography", "received_at", "record_id"),)

    geography: Mapped[str] = mapped_column(sa.String(limits.GEOGRAPHY), primary_key=True)


class FootprintCountry(RecordTerm, Base):
    """The country of a record's geography: its ``geographyCountry``, or the country of its
    ``geographyCountrySubdivision`` (``cn`` for ``cn-hi``), as
    :func:`exchange.pact_wire.filters.countries_of` says. A ``geography`` filter naming a
    country finds its subdivisions too; this index holds both in one list-ordered range,
    so the filter reads one run instead of sorting every match of an ``OR ... LIKE``
    (issue 22: 14 times the unfiltered call on 100,000 records)."""

    __tablename__ = "footprint_countries"
    __table_args__ = (sa.Index(None, "country", "received_at", "record_id"),)

    country: Mapped[str] = mapped_column(sa.String(limits.COUNTRY), primary_key=True)


# Each term table of a PACT filter, its value column, and the field of FilterTerms (and of
# Criteria) holding its values; in the order a filtered list prefers to start from.
TERM_TABLES: Final[tuple[tuple[type[RecordTerm], str, str], ...]] = (
    (FootprintProduct, "product_id", "product_ids"),
    (FootprintGeography, "geography", "geographies"),
    (FootprintClassification, "classification", "classifications"),
    (FootprintCompany, "company_id", "company_ids"),
)


class FootprintValidityYear(RecordTerm, Base):
    """A calendar year (UTC) of a record's validity period: the year it starts in (``from``),
    ends in (``until``), or one it covers (``on``), for validAfter / validBefore / validOn.

    The period itself is copied into the index too, so that a year only partly inside the
    asked range is sifted in the index, without reading the records."""

    __tablename__ = "footprint_validity_years"
    __table_args__ = (
        sa.Index(None, "kind", "year", "received_at", "record_id", "valid_from", "valid_until"),
    )

    kind: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    valid_from: Mapped[dt.datetime] = mapped_column(sort_order=2)
    valid_until: Mapped[dt.datetime] = mapped_column(sort_order=3)


class Share(Base):
    """A grant from an owner to another organisation: one record, or every record of a product."""

    __tablename__ = "shares"
    __table_args__ = (
        sa.CheckConstraint("(record_id IS NULL) <> (product_id IS NULL)", name="record_or_product"),
        # Whether a grantee may see a record through one of its products: one probe.
        sa.Index(None, "grantee_id", "owner_id", "product_id"),
        # One grant per owner, grantee and record (or product), however many requests race
        # to make it: withdrawing the grant then withdraws the access. (NULLs are distinct,
        # so a product grant never collides with a record grant.)
        sa.Index(
            "uq_shares_owner_grantee_record", "owner_id", "grantee_id", "record_id", unique=True
        ),
        sa.Index(
            "uq_shares_owner_grantee_product", "owner_id", "grantee_id", "product_id", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    grantee_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    record_id: Mapped[str | None] = mapped_column(sa.ForeignKey("footprint_records.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(sa.String(limits.URN))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# The shares table for Core statements (an insert that skips a grant already made).
SHARES: Final = cast(sa.Table, Share.__table__)


class WithheldForm(Base):
    """The form of a record served to readers who may not see all of what its owner signed.

    A derived footprint signed before confidential provenance carries its suppliers' lines
    in clear; the upgrade keeps that signed document (its signature, log entry and
    certificates hold over it) and stores beside it this form, whose provenance is
    commitments only. Everyone but the owner, the regulator and a certification body the
    record was shared with reads this form; the exchange attests what it replaced.
    """

    __tablename__ = "footprint_withheld_forms"

    record_id: Mapped[str] = mapped_column(
        sa.ForeignKey("footprint_records.id", ondelete="CASCADE"), primary_key=True
    )
    # RFC 8785 text of the footprint as those readers are served it.
    footprint_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
