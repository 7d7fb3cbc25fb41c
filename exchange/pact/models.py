"""Tables of the PACT host: footprint requests, partners' event endpoints, received events."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, text_enum, utcnow


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class FootprintRequest(Base):
    """A data recipient's request for footprints (a PACT RequestCreatedEvent, or in-hub).

    ``supplier_id`` is the organisation asked to answer; a request that arrived over
    PACT keeps the event's id and source so that the answer can be sent back as an event.
    """

    __tablename__ = "footprint_requests"
    __table_args__ = (sa.Index(None, "supplier_id", "status"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    requester_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    supplier_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organisations.id"))
    criteria: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    comment: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[RequestStatus] = mapped_column(text_enum(RequestStatus, length=16))
    event_id: Mapped[str | None] = mapped_column(sa.String(300))
    event_source: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None]
    # {"pfIds": [...]} when fulfilled, {"error": {"code", "message"}} when rejected.
    answer: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class EventEndpoint(Base):
    """Where an organisation's own PACT host receives events, and how we authenticate there.

    The client secret is needed in clear to ask for tokens, so it is kept sealed with a
    key derived from the exchange's private key, which lives in the keys folder only.
    """

    __tablename__ = "event_endpoints"

    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    base_url: Mapped[str] = mapped_column(sa.String(500))
    client_id: Mapped[str] = mapped_column(sa.String(300))
    sealed_secret: Mapped[str] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReceivedEvent(Base):
    """An event a partner sent to ``/3/events``; a repeat of the same id changes nothing."""

    __tablename__ = "received_events"
    __table_args__ = (sa.UniqueConstraint("sender_id", "source", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sender_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    source: Mapped[str] = mapped_column(sa.String(500))
    event_id: Mapped[str] = mapped_column(sa.String(300))
    type: Mapped[str] = mapped_column(sa.String(100))
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
