"""Tables of chain-owners' products, their bills of materials, computed results, staleness
notices and the derived footprint records submitted from a computation."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange import signing
from exchange.db import Base, utcnow
from exchange.lifecycle import LogKind


class Product(Base):
    """A product of the exchange's product graph, owned by a chain-owner.

    Its footprint is per ``declared_amount`` x ``declared_unit`` (PACT v3), and every
    line of its bill of materials is a quantity per that declared unit.
    """

    __tablename__ = "agg_products"
    __table_args__ = (sa.UniqueConstraint("owner_id", "code"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(300))
    declared_unit: Mapped[str] = mapped_column(sa.String(32))
    declared_amount: Mapped[Decimal]
    mass_per_declared_unit: Mapped[Decimal | None]
    # The PACT product id (URN) of the derived footprint; also what other chain-owners are
    # shared (a product share) to use this product's result in their own graphs.
    product_urn: Mapped[str] = mapped_column(sa.String(300), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BomLine(Base):
    """One line of a bill of materials: a quantity of a component or of an activity.

    Exactly one of: a supplier's product (``supplier_id`` + ``supplier_product``, or a
    pinned ``record_id``), another product of the graph (``child_product_id``), or an
    approved factor (``factor_code``). A supplier line may name ``factor_code`` as the
    fallback when no shared record exists. ``resolved_*`` say what the last computation
    used, for staleness and for the explanation.
    """

    __tablename__ = "agg_lines"
    __table_args__ = (sa.UniqueConstraint("product_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(sa.ForeignKey("agg_products.id", ondelete="CASCADE"))
    position: Mapped[int]
    category: Mapped[str] = mapped_column(sa.String(32))
    label: Mapped[str] = mapped_column(sa.String(300))
    quantity: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(sa.String(32))
    supplier_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    supplier_product: Mapped[str | None] = mapped_column(sa.String(300))
    record_id: Mapped[str | None] = mapped_column(sa.String(36))
    child_product_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("agg_products.id"), index=True
    )
    factor_code: Mapped[str | None] = mapped_column(sa.String(100))
    resolved_record_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    resolved_factor_id: Mapped[str | None] = mapped_column(sa.String(36))


class Result(Base):
    """The latest computed footprint of a product, per its declared unit; rounded to 12 places."""

    __tablename__ = "agg_results"

    product_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agg_products.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[dt.datetime]
    total: Mapped[Decimal]
    fossil: Mapped[Decimal]
    biogenic: Mapped[Decimal]
    land_use: Mapped[Decimal]
    packaging: Mapped[Decimal]
    primary_data_share: Mapped[Decimal | None]
    dqr_technological: Mapped[Decimal | None]
    dqr_geographical: Mapped[Decimal | None]
    dqr_temporal: Mapped[Decimal | None]
    coverage: Mapped[Decimal | None]
    stale: Mapped[bool] = mapped_column(default=False, index=True)
    stale_since: Mapped[dt.datetime | None]
    stale_reason: Mapped[str | None] = mapped_column(sa.Text)


class StaleNotice(Base):
    """Tells a product's owner that its computed footprint went stale, and why."""

    __tablename__ = "agg_notices"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    product_id: Mapped[str] = mapped_column(sa.ForeignKey("agg_products.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DerivedRecord(Base):
    """A footprint record its owner submitted from a computation of one of its products."""

    __tablename__ = "agg_derived_records"

    record_id: Mapped[str] = mapped_column(sa.ForeignKey("footprint_records.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agg_products.id", ondelete="CASCADE"), index=True
    )
    result_digest: Mapped[str] = mapped_column(sa.String(64))
    # Whether the digest named the product's result as stored when the record arrived.
    matched_result: Mapped[bool]
    linked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RecordValues(Base):
    """The figures of a footprint record that aggregation reads, extracted once.

    Records never change, so neither does this row; it spares every recomputation the
    parsing of the whole PACT document. Values are per ``declared_amount`` x unit.
    """

    __tablename__ = "agg_record_values"

    record_id: Mapped[str] = mapped_column(
        sa.ForeignKey("footprint_records.id", ondelete="CASCADE"), primary_key=True
    )
    declared_unit: Mapped[str] = mapped_column(sa.String(32))
    declared_amount: Mapped[Decimal]
    mass_per_declared_unit: Mapped[Decimal | None]
    total: Mapped[Decimal]
    fossil: Mapped[Decimal]
    biogenic: Mapped[Decimal]
    land_use: Mapped[Decimal]
    packaging: Mapped[Decimal]
    primary_data_share: Mapped[Decimal | None]
    dqr_technological: Mapped[Decimal | None]
    dqr_geographical: Mapped[Decimal | None]
    dqr_temporal: Mapped[Decimal | None]


class Provenance(Base):
    """The confidential provenance of one derived footprint (see
    :mod:`exchange.aggregation.commitments`): what its owner signs - the commitments to
    its input lines and the totals - prepared with the draft, and bound to the record
    when the signed record arrives with exactly that provenance.

    ``kind`` is ``committed`` for a footprint signed with commitments, ``migrated`` for
    one signed with its inputs in clear before the scheme, whose lines the exchange
    committed to itself and now withholds.
    """

    __tablename__ = "agg_provenance"

    # The derived footprint's id: the draft's, then the record's.
    footprint_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    product_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    owner_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    # The signed extension's data (RFC 8785 text) and its commitment root.
    data_json: Mapped[str] = mapped_column(sa.Text)
    commitment_root: Mapped[str] = mapped_column(sa.String(64))
    # The owner's result document at draft time, by digest (for ``matchedResult``).
    result_digest: Mapped[str | None] = mapped_column(sa.String(64))
    # When every input was verified and every total recomputed (None: not yet), and how
    # many lines of each kind were found (JSON; the attestation states them).
    verified_at: Mapped[dt.datetime | None]
    counts_json: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the signed record arrived carrying this provenance; None: a draft.
    bound_at: Mapped[dt.datetime | None]


class ProvenanceLine(Base):
    """The opening of one committed line: its salt and the line itself. Never leaves the
    exchange but to a reader who may see the line's input itself."""

    __tablename__ = "agg_provenance_lines"

    footprint_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agg_provenance.footprint_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(16))
    salt: Mapped[str] = mapped_column(sa.String(64))
    # RFC 8785 text of the committed line.
    line_json: Mapped[str] = mapped_column(sa.Text)
    commitment: Mapped[str] = mapped_column(sa.String(64))
    # Whose input it is: a supplier record (and its owner), or another product.
    input_record_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    input_owner_id: Mapped[str | None] = mapped_column(sa.String(36))
    input_product_id: Mapped[str | None] = mapped_column(sa.String(36))


class Attestation(Base):
    """The exchange's signed and logged statement that it verified every input of a derived
    footprint and recomputed every total (``footprint-exchange:aggregation-attestation:v1``)."""

    __tablename__ = "agg_attestations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(sa.ForeignKey("footprint_records.id"), unique=True)
    # The signed statement: RFC 8785 text of the document and the exchange's signature.
    document_json: Mapped[str] = mapped_column(sa.Text)
    kid: Mapped[str] = mapped_column(sa.String(43))
    signature: Mapped[str] = mapped_column(sa.String(86))
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    issued_at: Mapped[dt.datetime]

    def signed(self) -> dict[str, Any]:
        """The signed statement, as bundles and the provenance view serve it."""
        return {
            "attestation": json.loads(self.document_json),
            "signature": {"alg": signing.ALGORITHM, "kid": self.kid, "value": self.signature},
        }

    def log_entry(self) -> bytes:
        """The log entry: the RFC 8785 form of the signed statement."""
        return signing.canonical_json(self.signed())

    log = LogKind("aggregation-attestation", entry=log_entry, key="record_id")
