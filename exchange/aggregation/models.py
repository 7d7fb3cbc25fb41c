"""Tables of chain-owners' products, their bills of materials, computed results, staleness
notices and the derived footprint records submitted from a computation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, utcnow


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
