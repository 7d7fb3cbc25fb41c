"""Reading the register of partner programmes and agreements (no changes: those are
:mod:`exchange.mutual_recognition.services.programmes`')."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.db import utcnow
from exchange.errors import NotFound
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.partners.models import (
    Agreement,
    AgreementEvent,
    AgreementStatus,
    PartnerEvent,
    PartnerKey,
    PartnerProgramme,
    PartnerStatus,
)
from exchange.partners.schemas import anchor_json


def anchors_of(session: Session, partner_id: str) -> list[PartnerKey]:
    return list(
        session.scalars(
            sa.select(PartnerKey)
            .where(PartnerKey.partner_id == partner_id)
            .order_by(PartnerKey.added_at, PartnerKey.kid)
        )
    )


def valid_anchors(session: Session, partner_id: str) -> dict[str, bytes]:
    now = utcnow()
    return {
        key.kid: key.public_key
        for key in anchors_of(session, partner_id)
        if key.revoked_at is None or key.revoked_at > now
    }


def get_partner(session: Session, partner_id: str) -> PartnerProgramme:
    partner = session.get(PartnerProgramme, partner_id)
    if partner is None:
        raise NotFound(f"no partner programme {partner_id}")
    return partner


def list_partners(session: Session) -> list[PartnerProgramme]:
    return list(session.scalars(sa.select(PartnerProgramme).order_by(PartnerProgramme.name)))


def partner_history(session: Session, partner_id: str) -> list[PartnerEvent]:
    return list(
        session.scalars(
            sa.select(PartnerEvent)
            .where(PartnerEvent.partner_id == partner_id)
            .order_by(PartnerEvent.id)
        )
    )


def get_agreement(session: Session, agreement_id: int) -> Agreement:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}")
    return agreement


def visible_agreement(
    session: Session, principal: Principal | None, agreement_id: int
) -> Agreement:
    """An agreement as a caller may see it: drafts are the regulator's alone."""
    agreement = session.get(Agreement, agreement_id)
    regulator = principal is not None and principal.has_role(Role.REGULATOR)
    if agreement is None or (agreement.status == AgreementStatus.DRAFT and not regulator):
        raise NotFound(f"no agreement {agreement_id}")
    return agreement


def list_agreements(
    session: Session,
    principal: Principal | None,
    *,
    status: AgreementStatus | None = None,
    partner_id: str | None = None,
) -> list[Agreement]:
    query = sa.select(Agreement).order_by(Agreement.id)
    if principal is None or not principal.has_role(Role.REGULATOR):
        query = query.where(Agreement.status != AgreementStatus.DRAFT)
    if status is not None:
        query = query.where(Agreement.status == status)
    if partner_id is not None:
        query = query.where(Agreement.partner_id == partner_id)
    return list(session.scalars(query))


def agreements_in_force(session: Session, now: dt.datetime | None = None) -> list[Agreement]:
    """Granted agreements inside their validity, with partners in good standing."""
    now = now or utcnow()
    return list(
        session.scalars(
            sa.select(Agreement)
            .join(PartnerProgramme, PartnerProgramme.id == Agreement.partner_id)
            .where(
                Agreement.status == AgreementStatus.GRANTED,
                Agreement.valid_from <= now,
                Agreement.valid_until > now,
                PartnerProgramme.status == PartnerStatus.ACTIVE,
            )
            .order_by(PartnerProgramme.name, Agreement.id)
        )
    )


def agreement_history(session: Session, agreement_id: int) -> list[AgreementEvent]:
    return list(
        session.scalars(
            sa.select(AgreementEvent)
            .where(AgreementEvent.agreement_id == agreement_id)
            .order_by(AgreementEvent.id)
        )
    )


def trust_list_entries(session: Session) -> list[dict[str, Any]]:
    """The partner programmes as the signed trust list names them."""
    entries = []
    for partner in list_partners(session):
        entries.append(
            {
                "id": partner.id,
                "name": partner.name,
                "country": partner.country,
                "operator": partner.operator,
                "pactBaseUrl": partner.pact_base_url,
                "logOrigin": partner.log_origin,
                "status": partner.status.value,
                "history": [
                    {"status": e.status.value, "at": e.decided_at.isoformat(), "reason": e.reason}
                    for e in partner_history(session, partner.id)
                ],
                "keys": [anchor_json(key) for key in anchors_of(session, partner.id)],
                "agreements": [
                    {
                        "id": agreement.id,
                        "title": agreement.title,
                        "status": agreement.status.value,
                        "scope": agreement.scope,
                        "validFrom": agreement.valid_from.isoformat(),
                        "validUntil": agreement.valid_until.isoformat(),
                    }
                    for agreement in list_agreements(session, None, partner_id=partner.id)
                ],
            }
        )
    return entries
