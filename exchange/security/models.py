"""The table behind rate limits and sign-in lockouts when no Redis is configured."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base


class RateCounter(Base):
    """Hits on one key (a rule and a hashed client) in one fixed window of time.

    Every gunicorn worker, and every machine on the same database, adds to the same row
    with one atomic upsert, so a limit holds for the deployment rather than per process.
    """

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    # The window's number: its start in seconds since the epoch divided by its length.
    window: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hits: Mapped[int] = mapped_column(sa.Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
