"""Tables of sites (factories and parks) and of the output each site made of a product."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, text_enum, utcnow


class SiteKind(enum.StrEnum):
    FACTORY = "factory"
    PARK = "park"


class Site(Base):
    """A factory (optionally inside a park) or an industrial park, owned by an organisation."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    kind: Mapped[SiteKind] = mapped_column(text_enum(SiteKind, length=16))
    name: Mapped[str] = mapped_column(sa.String(300))
    owner_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    park_id: Mapped[str | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    # ISO 3166-2 subdivision (CN-HI) or country code, and a free-text address.
    region: Mapped[str] = mapped_column(sa.String(16))
    location: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SiteProduction(Base):
    """A site made ``quantity`` declared units of the record's product in one period."""

    __tablename__ = "site_productions"
    __table_args__ = (
        sa.UniqueConstraint("site_id", "record_id", "period_start"),
        sa.CheckConstraint("period_end > period_start", name="period_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    record_id: Mapped[str] = mapped_column(sa.ForeignKey("footprint_records.id"), index=True)
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    # In units of the record's declaredUnitOfMeasurement (not in declaredUnitAmount lots).
    quantity: Mapped[Decimal]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
