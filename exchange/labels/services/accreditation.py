"""Accreditation of certification bodies by the regulator, each change logged."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle
from exchange.db import utcnow
from exchange.errors import NotFound, ValidationFailed
from exchange.labels.models import (
    ACCREDITATION,
    Accreditation,
    AccreditationEvent,
    AccreditationStatus,
)
from exchange.labels.services.common import require_role
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal


def set_accreditation(
    session: Session,
    principal: Principal,
    *,
    body_id: str,
    status: AccreditationStatus,
    reason: str,
) -> AccreditationEvent:
    """The regulator grants, suspends, re-grants or withdraws (finally) a body's accreditation."""
    require_role(principal, Role.REGULATOR, "decide accreditations")
    reason = lifecycle.reason(reason, column=AccreditationEvent.reason)
    body = session.get(Organisation, body_id)
    if body is None:
        raise NotFound(f"no organisation {body_id}")
    if not body.has_role(Role.CERTIFICATION_BODY):
        raise ValidationFailed(
            "only a certification body is accredited",
            details=[{"field": "body", "message": "not a certification body"}],
        )
    current = session.get(Accreditation, body_id, with_for_update=True)
    ACCREDITATION.check(current.status if current is not None else None, status)
    now = utcnow()
    if current is None:
        session.add(Accreditation(body_id=body_id, status=status, updated_at=now))
    else:
        current.status = status
        current.updated_at = now
    return lifecycle.record(
        session,
        AccreditationEvent(
            body_id=body_id,
            status=status,
            reason=reason,
            decided_by=principal.organisation_id,
            decided_at=now,
        ),
    )


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
