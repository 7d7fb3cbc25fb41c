"""Accreditation of certification bodies by the regulator, each change logged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import LogAppender, utcnow
from exchange.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
)
from exchange.labels.models import (
    Accreditation,
    AccreditationEvent,
    AccreditationStatus,
)
from exchange.labels.services.common import (
    ACCREDITATION_LOG_KIND,
    given_reason,
    require_role,
)
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal

_ACCREDITATION_MOVES: Final = {
    None: {AccreditationStatus.GRANTED},
    AccreditationStatus.GRANTED: {AccreditationStatus.SUSPENDED, AccreditationStatus.WITHDRAWN},
    AccreditationStatus.SUSPENDED: {AccreditationStatus.GRANTED, AccreditationStatus.WITHDRAWN},
    AccreditationStatus.WITHDRAWN: set(),
}


def accreditation_entry(event: AccreditationEvent) -> bytes:
    return signing.canonical_json(
        {
            "body": event.body_id,
            "status": event.status.value,
            "reason": event.reason,
            "decidedBy": event.decided_by,
            "decidedAt": event.decided_at.isoformat(),
        }
    )


def accreditation_log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    ids = [int(ref) for ref in refs]
    events = session.scalars(sa.select(AccreditationEvent).where(AccreditationEvent.id.in_(ids)))
    return {str(event.id): accreditation_entry(event) for event in events}


def set_accreditation(
    session: Session,
    principal: Principal,
    *,
    body_id: str,
    status: AccreditationStatus,
    reason: str,
    append_to_log: LogAppender,
) -> AccreditationEvent:
    """The regulator grants, suspends, re-grants or withdraws (finally) a body's accreditation."""
    require_role(principal, Role.REGULATOR, "decide accreditations")
    reason = given_reason(reason)
    body = session.get(Organisation, body_id)
    if body is None:
        raise NotFound(f"no organisation {body_id}")
    if not body.has_role(Role.CERTIFICATION_BODY):
        raise ValidationFailed(
            "only a certification body is accredited",
            details=[{"field": "body", "message": "not a certification body"}],
        )
    current = session.get(Accreditation, body_id, with_for_update=True)
    before = current.status if current is not None else None
    if status not in _ACCREDITATION_MOVES[before]:
        raise Conflict(
            f"an accreditation cannot go from {before.value if before else 'none'} "
            f"to {status.value}"
        )
    now = utcnow()
    if current is None:
        session.add(Accreditation(body_id=body_id, status=status, updated_at=now))
    else:
        current.status = status
        current.updated_at = now
    event = AccreditationEvent(
        body_id=body_id,
        status=status,
        reason=reason,
        decided_by=principal.organisation_id,
        decided_at=now,
    )
    session.add(event)
    session.flush()
    append_to_log(session, [(ACCREDITATION_LOG_KIND, str(event.id), accreditation_entry(event))])
    return event


def accreditation_status(session: Session, body_id: str) -> AccreditationStatus | None:
    return session.scalar(sa.select(Accreditation.status).where(Accreditation.body_id == body_id))


def accreditation_history(session: Session, body_id: str) -> list[AccreditationEvent]:
    return list(
        session.scalars(
            sa.select(AccreditationEvent)
            .where(AccreditationEvent.body_id == body_id)
            .order_by(AccreditationEvent.id)
        )
    )


def accredited_bodies(session: Session) -> list[tuple[Organisation, Accreditation]]:
    """Every body the regulator ever accredited, with its current accreditation."""
    rows = session.execute(
        sa.select(Organisation, Accreditation)
        .join(Accreditation, Accreditation.body_id == Organisation.id)
        .order_by(Organisation.name, Organisation.id)
    )
    return [(organisation, accreditation) for organisation, accreditation in rows]
