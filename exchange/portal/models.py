"""Tables of the portal: people who sign in for an organisation, and drafts awaiting a signature."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, utcnow


class PortalUser(Base):
    """A person who signs in to the portal for one organisation; roles are the organisation's."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    # Stored lower-cased, so that sign-in ignores the case people type it in.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # A salted scrypt hash (werkzeug.security); never the password.
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None]


class SigningDraft(Base):
    """A document prepared for signing: the exact message bytes are fixed when it is made.

    ``payload_json`` is the RFC 8785 text of the footprint or certificate; the browser (or
    the CLI) signs ``<context>\\n<payload_json>`` and the portal submits the envelope.
    """

    __tablename__ = "portal_drafts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16))
    payload_json: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_ref: Mapped[str | None] = mapped_column(sa.String(64))
