"""What the scenarios share: exact figures as text, field errors, and log references."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities
from exchange.errors import ValidationFailed
from exchange.factors import units
from exchange.log.models import LogEntry
from exchange.log.schemas import b64


def field_error(field: str, message: str) -> ValidationFailed:
    """A bad scenario parameter, named, as one JSON error."""
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message}])


@dataclasses.dataclass(frozen=True, slots=True)
class Figure:
    """An exact quantity, shown as a decimal: exact when its expansion ends, else rounded
    half-even to the 12 places the database keeps (``exact`` says which)."""

    value: Fraction

    @property
    def decimal(self) -> Decimal:
        return units.to_decimal(self.value)

    @property
    def exact(self) -> bool:
        return Fraction(self.decimal) == self.value

    @property
    def text(self) -> str:
        return quantities.text(self.decimal)


def leaf_hashes(session: Session, indexes: Iterable[int]) -> dict[int, str]:
    """The log's leaf hash of each index (base64, as the log's own proofs give it)."""
    wanted = sorted(set(indexes))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for index, leaf in session.execute(
            sa.select(LogEntry.log_index, LogEntry.leaf_hash).where(LogEntry.log_index.in_(chunk))
        ):
            found[index] = b64(bytes(leaf))
    return found


def log_reference(index: int, leaf_hash: str | None, tree_size: int | None) -> dict[str, Any]:
    """Where an object sits in the transparency log and how to prove it is there."""
    proof = f"/api/v1/log/proof/inclusion?index={index}"
    if tree_size is not None:
        proof += f"&size={tree_size}"
    return {"logIndex": index, "leafHash": leaf_hash, "inclusionProof": proof}
