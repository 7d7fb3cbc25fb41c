"""Tables of factor versions and of the decisions taken on them.

A row of ``factors`` is one immutable version of a factor code: its content never changes
after it is stored; only its status moves (submitted → approved | returned | rejected;
approved → retired). Each decision is a row of ``factor_reviews`` with its log index, so
the transparency log commits to what was decided even after the status moves on.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange import signing
from exchange.db import Base, text_enum, utcnow
from exchange.factors.gwp import GwpSet
from exchange.lifecycle import Lifecycle, LogKind


class FactorKind(enum.StrEnum):
    ACTIVITY = "activity"
    PRODUCT = "product"


class FactorScope(enum.StrEnum):
    """Whether a factor counts only the combustion at the point of use, or the life cycle."""

    COMBUSTION = "combustion"
    LIFE_CYCLE = "life-cycle"


class FactorStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    RETIRED = "retired"


class Decision(enum.StrEnum):
    APPROVE = "approve"
    RETURN = "return"
    REJECT = "reject"
    RETIRE = "retire"


# A version only moves forward, so it gets each decision at most once.
FACTOR: Final = Lifecycle(
    "a factor version",
    {
        None: (FactorStatus.SUBMITTED,),
        FactorStatus.SUBMITTED: (
            FactorStatus.APPROVED,
            FactorStatus.RETURNED,
            FactorStatus.REJECTED,
        ),
        FactorStatus.APPROVED: (FactorStatus.RETIRED,),
        FactorStatus.RETURNED: (),
        FactorStatus.REJECTED: (),
        FactorStatus.RETIRED: (),
    },
)
# The status each decision leads to.
DECIDES: Final = {
    Decision.APPROVE: FactorStatus.APPROVED,
    Decision.RETURN: FactorStatus.RETURNED,
    Decision.REJECT: FactorStatus.REJECTED,
    Decision.RETIRE: FactorStatus.RETIRED,
}


class Factor(Base):
    """One version of a factor: ``value`` kg CO2e per one ``unit``."""

    __tablename__ = "factors"
    __table_args__ = (sa.UniqueConstraint("code", "version"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(100))
    version: Mapped[int]
    kind: Mapped[FactorKind] = mapped_column(text_enum(FactorKind, length=16))
    name: Mapped[str] = mapped_column(sa.String(300))
    category: Mapped[str] = mapped_column(sa.String(64), index=True)
    value: Mapped[Decimal]
    unit: Mapped[str] = mapped_column(sa.String(16))
    region: Mapped[str] = mapped_column(sa.String(64), index=True)
    year: Mapped[int]
    gwp_set: Mapped[GwpSet] = mapped_column(text_enum(GwpSet, length=8))
    # {"gas": "kg of the gas per unit"} as canonical JSON with decimal strings, when known.
    gases_json: Mapped[str | None] = mapped_column(sa.Text)
    scope: Mapped[FactorScope] = mapped_column(text_enum(FactorScope, length=16))
    source: Mapped[str] = mapped_column(sa.String(1000))
    licence: Mapped[str] = mapped_column(sa.String(300))
    # Relative uncertainty in percent (± at 95 % confidence) when the source states one.
    uncertainty: Mapped[Decimal | None]
    evidence: Mapped[str | None] = mapped_column(sa.Text)
    # A product factor offered from one of the declarant's own footprint records.
    footprint_record_id: Mapped[str | None] = mapped_column(sa.ForeignKey("footprint_records.id"))
    # None: the programme's own data, loaded by an administrator.
    declared_by_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    status: Mapped[FactorStatus] = mapped_column(text_enum(FactorStatus, length=16), index=True)
    # SHA-256 of the canonical content: tells a re-import of the same row from a correction.
    content_digest: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FactorReview(Base):
    """A decision on a factor version, as logged; never changed.

    Statuses only move forward, so a version gets each decision at most once; the log
    names a decision by ``<factor id>/<decision>``.
    """

    __tablename__ = "factor_reviews"
    __table_args__ = (sa.UniqueConstraint("factor_id", "decision"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    factor_id: Mapped[str] = mapped_column(sa.ForeignKey("factors.id"))
    decision: Mapped[Decision] = mapped_column(text_enum(Decision, length=16))
    comment: Mapped[str] = mapped_column(sa.Text)
    # None: the programme's own data, approved as it was loaded.
    reviewer_id: Mapped[str | None] = mapped_column(sa.ForeignKey("organisations.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    log_index: Mapped[int] = mapped_column(sa.BigInteger, unique=True)

    factor: Mapped[Factor] = relationship()

    def log_entry(self) -> bytes:
        """The decision, and the version it was taken on (through its content digest)."""
        return signing.canonical_json(
            {
                "factor": self.factor.id,
                "code": self.factor.code,
                "version": self.factor.version,
                "contentDigest": self.factor.content_digest,
                "decision": self.decision.value,
                "comment": self.comment,
                "reviewer": self.reviewer_id,
                "decidedAt": self.decided_at.isoformat(),
            }
        )

    log = LogKind(
        "factor-review",
        entry=log_entry,
        key="factor_id",
        suffix=lambda review: review.decision.value,
        load=("factor",),
    )
