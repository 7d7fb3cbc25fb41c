"""Tables of the accounting rules list (核算规则清单) and the demand catalogue (需求目录);
the lifecycle of a rule, and the logged decisions that move it."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange import quantities, signing
from exchange.db import Base, text_enum, utcnow
from exchange.lifecycle import Lifecycle, LogKind


class RuleStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ASSESSED = "assessed"
    LISTED = "listed"
    WITHDRAWN = "withdrawn"


# A rule only moves forward (a proposal may also be withdrawn before it is listed), so it
# reaches each status at most once.
RULE: Final = Lifecycle(
    "a rule",
    {
        None: (RuleStatus.PROPOSED,),
        RuleStatus.PROPOSED: (RuleStatus.ASSESSED, RuleStatus.WITHDRAWN),
        RuleStatus.ASSESSED: (RuleStatus.LISTED, RuleStatus.WITHDRAWN),
        RuleStatus.LISTED: (RuleStatus.WITHDRAWN,),
        RuleStatus.WITHDRAWN: (),
    },
)


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

    def content(self) -> dict[str, Any]:
        """What the rule says, as its wire form states it: everything but its status."""
        return {
            "code": self.code,
            "title": self.title,
            "productClassifications": list(json.loads(self.classifications_json)),
            "standardBasis": self.standard_basis,
            "declaredUnit": self.declared_unit,
            "systemBoundary": self.system_boundary.value,
            "requiredStages": [
                Stage(stage).value for stage in json.loads(self.required_stages_json)
            ],
            "minPrimaryDataShare": (
                quantities.text(self.min_primary_data_share)
                if self.min_primary_data_share is not None
                else None
            ),
            "maxDqr": quantities.text(self.max_dqr) if self.max_dqr is not None else None,
            "proposedBy": self.proposed_by_id,
            "createdAt": self.created_at.isoformat(),
        }

    def content_digest(self) -> str:
        """SHA-256 of :meth:`content`, as logged decisions cite it."""
        return hashlib.sha256(signing.canonical_json(self.content())).hexdigest()


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

    rule: Mapped[AccountingRule] = relationship()

    def log_entry(self) -> bytes:
        """The decision, and the content of the rule it moved (through its digest)."""
        return signing.canonical_json(
            {
                "rule": self.rule.code,
                "contentDigest": self.rule.content_digest(),
                "status": self.status.value,
                "comment": self.comment,
                "decidedBy": self.decided_by_id,
                "decidedAt": self.decided_at.isoformat(),
            }
        )

    log = LogKind(
        "rule-decision",
        entry=log_entry,
        key="rule_code",
        suffix=lambda decision: decision.status.value,
        load=("rule",),
    )
