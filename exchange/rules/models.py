"""Tables of the accounting rules list (核算规则清单) and the demand catalogue (需求目录)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, text_enum, utcnow


class RuleStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ASSESSED = "assessed"
    LISTED = "listed"
    WITHDRAWN = "withdrawn"


class SystemBoundary(enum.StrEnum):
    CRADLE_TO_GATE = "cradle-to-gate"
    CRADLE_TO_GRAVE = "cradle-to-grave"
    GATE_TO_GATE = "gate-to-gate"


class Stage(enum.StrEnum):
    """Life-cycle stages in the sense of GB/T 24067-2024 and ISO 14067."""

    RAW_MATERIAL_ACQUISITION = "raw-material-acquisition"
    PRODUCTION = "production"
    DISTRIBUTION = "distribution"
    USE = "use"
    END_OF_LIFE = "end-of-life"


class AccountingRule(Base):
    """A product-category rule: how a footprint of the category is counted."""

    __tablename__ = "accounting_rules"

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    # JSON arrays: product classification URNs, and the stages a footprint must cover.
    classifications_json: Mapped[str] = mapped_column(sa.Text)
    standard_basis: Mapped[str] = mapped_column(sa.String(300))
    # A PACT declaredUnitOfMeasurement value ("kilogram", "piece", ...).
    declared_unit: Mapped[str] = mapped_column(sa.String(32))
    system_boundary: Mapped[SystemBoundary] = mapped_column(text_enum(SystemBoundary, length=16))
    required_stages_json: Mapped[str] = mapped_column(sa.Text)
    # Data-quality floors: primaryDataShare at least this (percent), each DQR at most this.
    min_primary_data_share: Mapped[Decimal | None]
    max_dqr: Mapped[Decimal | None]
    status: Mapped[RuleStatus] = mapped_column(text_enum(RuleStatus, length=16), index=True)
    proposed_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organisations.id"))
    status_comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleDemand(Base):
    """A product category that still needs a rule; anyone may add one."""

    __tablename__ = "rule_demands"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(sa.String(300))
    classification: Mapped[str | None] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text)
    requested_by_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organisations.id"))
    # The rule that answers the demand, once there is one.
    rule_code: Mapped[str | None] = mapped_column(sa.ForeignKey("accounting_rules.code"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleDecision(Base):
    """A regulator's move of a rule to a status, as logged; never changed.

    Statuses only move forward, so a rule reaches each status at most once; the log names
    a decision by ``<rule code>/<status>``.
    """

    __tablename__ = "rule_decisions"
    __table_args__ = (sa.UniqueConstraint("rule_code", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rule_code: Mapped[str] = mapped_column(sa.ForeignKey("accounting_rules.code"))
    status: Mapped[RuleStatus] = mapped_column(text_enum(RuleStatus, length=16))
    comment: Mapped[str] = mapped_column(sa.Text)
    decided_by_id: Mapped[str] = mapped_column(sa.ForeignKey("organisations.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
