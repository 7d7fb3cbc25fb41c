"""The data-flow table: one row per transfer of a non-public record to someone not its owner."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, text_enum, utcnow


class FlowKind(enum.StrEnum):
    """How a record left its owner (or, for ``federation-in``, came in from a partner)."""

    API_READ = "api-read"  # GET /api/v1/footprints[/<id>]
    PACT_LIST = "pact-list"  # GET /3/footprints
    PACT_GET = "pact-get"  # GET /3/footprints/<id>
    SHARE_GRANTED = "share-granted"
    SHARE_WITHDRAWN = "share-withdrawn"
    PACT_DELIVERY = "pact-delivery"  # an event the outbox delivered to the recipient's host
    PACT_DELIVERY_REFUSED = "pact-delivery-refused"  # dropped at delivery: no grant any more
    VERIFICATION_BUNDLE = "verification-bundle"
    FEDERATION_OUT = "federation-out"  # a partner programme's host read it
    FEDERATION_IN = "federation-in"  # a partner's record recognised and stored here
    # A line of a derived footprint's provenance opened to a reader (the record is the
    # line's input, or the derived record for its owner's own lines).
    PROVENANCE_OPENING = "provenance-opening"


class Grant(enum.StrEnum):
    """Why the recipient was allowed to have the record."""

    SHARE = "share"
    OWNERSHIP = "ownership"  # a partner's own record coming in
    REGULATOR = "regulator"
    AGREEMENT = "agreement"
    NONE = "none"  # a refused delivery: the grant was gone
    PUBLIC = "public"  # an opened line whose input is published to everyone
    COMPUTATION = "computation"  # the chain-owner that computed the derived footprint
    CERTIFICATION = "certification"  # a body certifying the derived footprint


class DataFlow(Base):
    """A transfer of one record: who got it (an organisation, a partner programme), when,
    by which channel and under which grant. Kept even when the share or record goes: this
    is the owner's and the regulator's account of what left, not a live relation."""

    __tablename__ = "data_flows"
    __table_args__ = (
        # The owner's view, newest first; the regulator's summary over a time range.
        sa.Index(None, "owner_id", "id"),
        sa.Index(None, "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[FlowKind] = mapped_column(text_enum(FlowKind, length=24))
    record_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    owner_id: Mapped[str] = mapped_column(sa.String(36))
    # The organisation that received it (for federation-in: the exchange's side, none).
    recipient_id: Mapped[str | None] = mapped_column(sa.String(36))
    partner_id: Mapped[str | None] = mapped_column(sa.String(36))
    # The recipient's (or partner programme's) country, copied: flows by partner country.
    country: Mapped[str | None] = mapped_column(sa.String(2))
    grant: Mapped[Grant] = mapped_column(text_enum(Grant, length=24))
    share_id: Mapped[int | None]
    agreement_id: Mapped[int | None]
    # The delivered CloudEvent id, for a delivery.
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
