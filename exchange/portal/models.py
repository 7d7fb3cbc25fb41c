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


class PortalSession(Base):
    """One signed-in browser: the portal's cookie names it, and it is valid only while this
    row exists, so every worker and machine sharing the database agrees the moment one of
    them ends it (sign-out, password change, the user disabled) or finds it idle.

    The cookie carries a random token; only its SHA-256 is stored, so a copy of the
    database (a backup) holds no session anyone could resume.
    """

    __tablename__ = "portal_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime]
    # Moved forward at most once a minute (PORTAL_SESSION_TOUCH), not at every page.
    last_seen_at: Mapped[dt.datetime]
