"""The job table: one row per piece of deferred work, kept until it is done or abandoned."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, text_enum, utcnow


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    # Retried until its deadline passed; kept for the operator to see.
    ABANDONED = "abandoned"


class Job(Base):
    """Deferred work of one ``kind`` with a JSON payload, retried with backoff until done."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[JobStatus] = mapped_column(text_enum(JobStatus, length=16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    # A claimed job is invisible to other workers until then; a crashed worker's job returns.
    locked_until: Mapped[dt.datetime | None]
    deadline_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
