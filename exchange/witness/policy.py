"""The witnesses of this exchange's log and its policy: who they are, how many must cosign,
what the trust list says of them, and which checkpoints they cosigned.

The regulator adds a witness by its verifier key (type 0x04) and submission URL, naming who
runs it (a partner programme or an independent operator), and sets the quorum ``k`` of the
``n`` active witnesses. Each addition and removal is an entry of the log itself (kind
``witness``), so that a change of witnesses is as visible as a change of keys. The signed
trust list names the witnesses and the policy, also as a C2SP tlog-policy file.

Checkpoints are served with the cosignatures collected for their size appended
(:func:`cosigned_note`); verifiers that require the policy are given the newest checkpoint
that meets it and covers what they verify (:func:`checkpoint_for`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.keyring import ExchangeKey
from exchange.log import cosignature, note
from exchange.log import services as log
from exchange.log.models import LogCheckpoint
from exchange.witness.models import (
    LogCosignature,
    LogWitness,
    WitnessKind,
    WitnessPolicyRow,
    WitnessStatus,
)

OPERATOR_LENGTH: Final = 300
URL_LENGTH: Final = 500
_POLICY: Final = cast(sa.Table, WitnessPolicyRow.__table__)


# --- managing witnesses ---------------------------------------------------------------------


def add_witness(
    session: Session,
    *,
    verifier_key: str,
    url: str,
    operator: str,
    kind: WitnessKind,
    partner_id: str | None = None,
) -> LogWitness:
    """A new active witness of our log (logged). Its name is its verifier key's."""
    try:
        key = cosignature.parse_verifier_key(
            verifier_key, algorithm=cosignature.COSIGNATURE_ED25519
        )
    except note.NoteError as exc:
        raise ValidationFailed(f"the witness's verifier key is not valid: {exc}") from exc
    if len(key.name) > 300:
        raise ValidationFailed("a witness name has at most 300 characters")
    if not url.startswith(("https://", "http://")) or len(url) > URL_LENGTH:
        raise ValidationFailed(
            f"a witness URL is an HTTP(S) URL of at most {URL_LENGTH} characters"
        )
    if not operator.strip() or len(operator) > OPERATOR_LENGTH:
        raise ValidationFailed(f"name who runs the witness (1 to {OPERATOR_LENGTH} characters)")
    clash = session.scalars(
        sa.select(LogWitness).where(
            sa.or_(LogWitness.name == key.name, LogWitness.public_key == key.public_key)
        )
    ).first()
    if clash is not None:
        raise Conflict(f"a witness named {clash.name} or with this key was added before")
    witness = LogWitness(
        name=key.name,
        public_key=key.public_key,
        url=url.rstrip("/"),
        operator=operator.strip(),
        kind=kind,
        partner_id=partner_id,
        status=WitnessStatus.ACTIVE,
        added_at=utcnow(),
        removed_at=None,
        log_index=-1,
        cosigned_size=0,
        failures=0,
    )
    session.add(witness)
    session.flush()
    LogWitness.log.append(session, [witness])
    return witness


def remove_witness(session: Session, name: str) -> LogWitness:
    """Stop asking a witness (logged); refused while the quorum still needs it."""
    witness = session.scalars(
        sa.select(LogWitness).where(
            LogWitness.name == name, LogWitness.status == WitnessStatus.ACTIVE
        )
    ).first()
    if witness is None:
        raise NotFound(f"no active witness is named {name!r}")
    if quorum(session) > len(active_witnesses(session)) - 1:
        raise Conflict("lower the quorum first: it would need more witnesses than are left")
    witness.status = WitnessStatus.REMOVED
    witness.removed_at = utcnow()
    session.flush()
    log.append_entries(session, LogWitness.removal_log.entries([witness]))
    return witness


def active_witnesses(session: Session) -> list[LogWitness]:
    return list(
        session.scalars(
            sa.select(LogWitness)
            .where(LogWitness.status == WitnessStatus.ACTIVE)
            .order_by(LogWitness.name)
        )
    )


def quorum(session: Session) -> int:
    """How many active witnesses must cosign (0 until the regulator sets a policy)."""
    return session.scalar(sa.select(WitnessPolicyRow.quorum).where(WitnessPolicyRow.id == 1)) or 0


def set_quorum(session: Session, k: int) -> None:
    """Require ``k`` of the active witnesses (0: none required, cosignatures still shown)."""
    n = len(active_witnesses(session))
    if not 0 <= k <= n:
        raise ValidationFailed(f"the quorum is from 0 to the {n} active witnesses")
    row = session.get(WitnessPolicyRow, 1, with_for_update=True)
    if row is None:
        session.add(WitnessPolicyRow(id=1, quorum=k, updated_at=utcnow()))
    else:
        row.quorum = k
        row.updated_at = utcnow()
    session.flush()


def verifier_keys(witnesses: Sequence[LogWitness]) -> list[cosignature.VerifierKey]:
    return [
        cosignature.VerifierKey(item.name, cosignature.COSIGNATURE_ED25519, item.public_key)
        for item in witnesses
    ]


def trust_list_section(session: Session, key: ExchangeKey, *, origin: str) -> dict[str, Any]:
    """What the signed trust list says of witnessing: the active witnesses, the quorum, and
    the same as a tlog-policy file (the exchange's checkpoint keys as its log lines)."""
    witnesses = active_witnesses(session)
    k = quorum(session)
    policy = cosignature.policy_text(
        logs=[
            cosignature.VerifierKey(origin, cosignature.NOTE_ED25519, public_key)
            for public_key in key.public_keys()
        ],
        witnesses=[
            cosignature.PolicyWitness(item.name, key_of, item.url)
            for item, key_of in zip(witnesses, verifier_keys(witnesses), strict=True)
        ],
        quorum=k,
    )
    return {
        "quorum": k,
        "witnesses": [
            {
                "name": item.name,
                "verifierKey": cosignature.cosigner_key(item.name, item.public_key),
                "operator": item.operator,
                "kind": item.kind.value,
                "partnerId": item.partner_id,
                "url": item.url,
                "addedAt": item.added_at.isoformat(),
            }
            for item in witnesses
        ],
        "policy": policy,
    }


# --- cosigned checkpoints -------------------------------------------------------------------


def cosignature_lines(session: Session, size: int) -> list[str]:
    """The cosignatures of the checkpoint at ``size`` by active witnesses, by witness name."""
    rows = session.execute(
        sa.select(LogCosignature.line)
        .join(LogWitness, LogWitness.id == LogCosignature.witness_id)
        .where(LogCosignature.tree_size == size, LogWitness.status == WitnessStatus.ACTIVE)
        .order_by(LogWitness.name)
    )
    return [line for (line,) in rows]


def cosigned_note(session: Session, checkpoint: LogCheckpoint) -> str:
    """The signed checkpoint with every cosignature collected for it appended."""
    return checkpoint.note + "".join(cosignature_lines(session, checkpoint.tree_size))


def has_witnesses(session: Session) -> bool:
    return (
        session.scalar(
            sa.select(LogWitness.id).where(LogWitness.status == WitnessStatus.ACTIVE).limit(1)
        )
        is not None
    )


def newest_witnessed(session: Session, *, covering: int = 0) -> LogCheckpoint | None:
    """The newest stored checkpoint of at least ``covering`` entries that meets the policy
    (at least one cosignature when the quorum is 0); None when there is none."""
    needed = max(quorum(session), 1)
    size = session.scalar(
        sa.select(LogCosignature.tree_size)
        .join(LogWitness, LogWitness.id == LogCosignature.witness_id)
        .where(LogWitness.status == WitnessStatus.ACTIVE, LogCosignature.tree_size >= covering)
        .group_by(LogCosignature.tree_size)
        .having(sa.func.count() >= needed)
        .order_by(LogCosignature.tree_size.desc())
        .limit(1)
    )
    return None if size is None else session.get(LogCheckpoint, size)


@dataclasses.dataclass(frozen=True, slots=True)
class ServedCheckpoint:
    """A checkpoint as handed to a verifier: its size and the note with cosignatures."""

    tree_size: int
    note: str
    witnessed_by: tuple[str, ...]


def checkpoint_for(
    session: Session, key: ExchangeKey, origin: str, *, covering: int
) -> ServedCheckpoint:
    """The checkpoint to prove entries below ``covering`` against: the newest witnessed one
    that covers them when there is one, else the current one (with what it has)."""
    found = newest_witnessed(session, covering=covering) if has_witnesses(session) else None
    if found is None:
        found = log.ensure_checkpoint(session, key, origin)
    rows = session.execute(
        sa.select(LogWitness.name)
        .join(LogCosignature, LogWitness.id == LogCosignature.witness_id)
        .where(
            LogCosignature.tree_size == found.tree_size, LogWitness.status == WitnessStatus.ACTIVE
        )
        .order_by(LogWitness.name)
    )
    return ServedCheckpoint(
        tree_size=found.tree_size,
        note=cosigned_note(session, found),
        witnessed_by=tuple(name for (name,) in rows),
    )


def witness_status_json(witness: LogWitness) -> dict[str, Any]:
    """A witness of our log as the public status answer shows it."""
    return {
        "name": witness.name,
        "verifierKey": cosignature.cosigner_key(witness.name, witness.public_key),
        "operator": witness.operator,
        "kind": witness.kind.value,
        "url": witness.url,
        "addedAt": witness.added_at.isoformat(),
        "cosignedSize": witness.cosigned_size,
        "lastAttemptAt": None
        if witness.last_attempt_at is None
        else witness.last_attempt_at.isoformat(),
        "lastSuccessAt": None
        if witness.last_success_at is None
        else witness.last_success_at.isoformat(),
        "lastError": witness.last_error,
        "failures": witness.failures,
    }
