"""Tables of witnessing, both ways.

As a **witness** of other logs: the logs the regulator registered (``witnessed_logs``),
each with the latest checkpoint this exchange cosigned for it, and the refused submissions
kept as evidence (``witness_refusals``).

As a **log** that others witness: the witnesses the regulator configured
(``log_witnesses``), the policy (``witness_policy``: how many must cosign), the cosignatures
they returned (``log_cosignatures``) and what went wrong with them (``log_witness_incidents``).
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from exchange import signing
from exchange.db import Base, text_enum, utcnow
from exchange.lifecycle import LogKind
from exchange.log import cosignature


class WitnessStatus(enum.StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


class WitnessKind(enum.StrEnum):
    """Who runs a witness of our log: a partner programme, or an independent operator."""

    PARTNER = "partner-programme"
    INDEPENDENT = "independent"


class WitnessedLog(Base):
    """A log this exchange witnesses, and the latest checkpoint it cosigned for it.

    ``tree_size``/``root_hash`` only ever move forward (a consistency proof from the old
    to the new one, checked under this row's lock): the witness never rolls back.
    """

    __tablename__ = "witnessed_logs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(sa.String(300), unique=True)
    # The log's note verifier keys (name+id+base64(0x01 ‖ key)): what may sign its checkpoints.
    verifier_keys: Mapped[list[str]] = mapped_column(sa.JSON)
    # A partner programme's log: its pinned trust anchors also sign (looked up when checking).
    partner_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[WitnessStatus] = mapped_column(text_enum(WitnessStatus, length=16))
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    # The latest cosigned checkpoint: its body, the log signatures verified and our
    # cosignature (what the monitoring endpoint serves); None until the first cosignature.
    note: Mapped[str | None] = mapped_column(sa.Text)
    cosigned_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WitnessRefusal(Base):
    """A validly signed checkpoint this witness refused to cosign (a proof that does not
    hold, a different root at a size already cosigned): possible evidence of a split view."""

    __tablename__ = "witness_refusals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    log_id: Mapped[int] = mapped_column(sa.ForeignKey("witnessed_logs.id"), index=True)
    status: Mapped[int]
    problem: Mapped[str] = mapped_column(sa.Text)
    # The whole request body: old size, proof and the signed checkpoint.
    request: Mapped[str] = mapped_column(sa.Text)
    # What the witness held then.
    cosigned_size: Mapped[int] = mapped_column(sa.BigInteger)
    cosigned_root: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LogWitness(Base):
    """A witness of this exchange's log: who, its cosigning key, where to submit."""

    __tablename__ = "log_witnesses"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # The witness's key name, as its cosignature lines name it.
    name: Mapped[str] = mapped_column(sa.String(300), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32), unique=True)
    # Its tlog-witness submission prefix (…/add-checkpoint is appended).
    url: Mapped[str] = mapped_column(sa.String(500))
    # Who runs it, as verifiers are told ("Lao Carbon Footprint Programme").
    operator: Mapped[str] = mapped_column(sa.String(300))
    kind: Mapped[WitnessKind] = mapped_column(text_enum(WitnessKind, length=32))
    partner_id: Mapped[str | None] = mapped_column(sa.String(36))
    status: Mapped[WitnessStatus] = mapped_column(text_enum(WitnessStatus, length=16))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[dt.datetime | None]
    log_index: Mapped[int] = mapped_column(sa.BigInteger)
    # The size of the latest checkpoint the witness cosigned for us (its "old size").
    cosigned_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_attempt_at: Mapped[dt.datetime | None]
    last_success_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Failed submissions in a row since the last success.
    failures: Mapped[int] = mapped_column(default=0)

    def _statement(self, event: str, at: dt.datetime | None) -> bytes:
        """The logged statement of the witness's addition or removal."""
        return signing.canonical_json(
            {
                "witness": self.name,
                "verifierKey": cosignature.cosigner_key(self.name, self.public_key),
                "url": self.url,
                "operator": self.operator,
                "kind": self.kind.value,
                "event": event,
                "at": None if at is None else at.isoformat(),
            }
        )

    def log_entry(self) -> bytes:
        return self._statement("added", self.added_at)

    def removal_log_entry(self) -> bytes:
        return self._statement("removed", self.removed_at)

    # The addition's index is the row's log_index; a removal is logged once, when it happens.
    log = LogKind("witness", entry=log_entry)
    removal_log = LogKind(
        "witness-removal",
        entry=removal_log_entry,
        present=lambda witness: witness.removed_at is not None,
    )


class LogCosignature(Base):
    """A witness's cosignature of our checkpoint at one size (verified before it is kept)."""

    __tablename__ = "log_cosignatures"

    witness_id: Mapped[int] = mapped_column(sa.ForeignKey("log_witnesses.id"), primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, index=True)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    # POSIX seconds the witness signed at, and its signature line as returned.
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)
    line: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LogWitnessIncident(Base):
    """A witness that lied (a cosignature that does not verify) or reported our log
    inconsistent: kept for the regulator. Silences only count on the witness's row."""

    __tablename__ = "log_witness_incidents"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    witness_id: Mapped[int] = mapped_column(sa.ForeignKey("log_witnesses.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    detail: Mapped[str] = mapped_column(sa.Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WitnessPolicyRow(Base):
    """The one policy row: how many of the active witnesses must cosign a checkpoint."""

    __tablename__ = "witness_policy"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    quorum: Mapped[int]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
