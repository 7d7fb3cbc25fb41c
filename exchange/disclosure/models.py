"""Tables of disclosure requirements, the last compliance state seen of each obligation, and
the reminders sent when a state changed."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db import Base, text_enum, utcnow


class ContentLevel(enum.StrEnum):
    """How much of a footprint must be disclosed; each level includes the ones before it."""

    TOTAL = "total"
    BY_STAGE = "by-stage"
    WITH_DATA_QUALITY = "with-data-quality"


class Manner(enum.StrEnum):
    """To whom: maps onto a record's disclosure level and its shares."""

    PUBLIC = "public"
    CUSTOMERS = "customers"
    REGULATOR = "regulator"


class DeadlineKind(enum.StrEnum):
    ANNUAL = "annual"
    AFTER_CHANGE = "after-change"


class ComplianceState(enum.StrEnum):
    MET = "met"
    # Not met yet, and the deadline is further away than the requirement's warning window.
    PENDING = "pending"
    DUE_SOON = "due-soon"
    OVERDUE = "overdue"


class DisclosureRequirement(Base):
    """What the regulator requires: scope, content, manner and deadline."""

    __tablename__ = "disclosure_requirements"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    # Why: the rule or notice the requirement rests on, shown to every company it binds.
    basis: Mapped[str] = mapped_column(sa.Text)
    # Scope: products of this classification, and/or these product ids, of every company
    # (or only the group's members when the requirement names any).
    category: Mapped[str | None] = mapped_column(sa.String(300))
    product_ids: Mapped[list[str]] = mapped_column(sa.JSON)
    content_level: Mapped[ContentLevel] = mapped_column(text_enum(ContentLevel, length=24))
    # PACT pcf member names that must be present besides what the level asks for.
    fields: Mapped[list[str]] = mapped_column(sa.JSON)
    manner: Mapped[Manner] = mapped_column(text_enum(Manner, length=24))
    deadline_kind: Mapped[DeadlineKind] = mapped_column(text_enum(DeadlineKind, length=24))
    annual_month: Mapped[int | None]
    annual_day: Mapped[int | None]
    within_days: Mapped[int | None]
    due_soon_days: Mapped[int]
    effective_from: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]

    members: Mapped[list[DisclosureGroupMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class DisclosureGroupMember(Base):
    """A company of the group a requirement binds (no members: every company in scope)."""

    __tablename__ = "disclosure_group_members"

    requirement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disclosure_requirements.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True
    )


class DisclosureState(Base):
    """The last state the reminder pass saw of one obligation (``product_id`` "" when the
    company has no product in scope at all)."""

    __tablename__ = "disclosure_states"

    requirement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disclosure_requirements.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True
    )
    product_id: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    state: Mapped[ComplianceState] = mapped_column(text_enum(ComplianceState, length=24))
    # The deadline the state is about: a new cycle's due-soon is a new reminder.
    due_at: Mapped[dt.datetime | None]
    changed_at: Mapped[dt.datetime]


class DisclosureReminder(Base):
    """A reminder sent to a company: listed for the portal, and queued to its events endpoint."""

    __tablename__ = "disclosure_reminders"
    __table_args__ = (sa.Index(None, "organisation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    requirement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disclosure_requirements.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    product_id: Mapped[str] = mapped_column(sa.String(300))
    state: Mapped[ComplianceState] = mapped_column(text_enum(ComplianceState, length=24))
    due_at: Mapped[dt.datetime | None]
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # The CloudEvent id when one was queued to the company's events endpoint.
    event_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
