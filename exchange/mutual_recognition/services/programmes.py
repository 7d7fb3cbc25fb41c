"""Partner programmes and agreements: onboarding, trust anchors, status flows, and what a
change of status does to the recognitions that depend on it.

Only the regulator changes partners and agreements; every change is an event with a
snapshot, logged in the exchange's transparency log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle, signing
from exchange.aggregation.services import mark_inputs_stale
from exchange.db import utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.footprints.models import Disclosure, FootprintRecord
from exchange.keyring import ExchangeKey, seal_secret
from exchange.log import note
from exchange.mutual_recognition.schemas import AgreementInput, PartnerInput, agreement_terms
from exchange.mutual_recognition.services.recognition import in_force
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import create_organisation, revocation_moment
from exchange.pact.services import _check_public_host, normalise_base_url
from exchange.partners.models import (
    AGREEMENT,
    PARTNER,
    Agreement,
    AgreementEvent,
    AgreementStatus,
    Decision,
    PartnerCheckpoint,
    PartnerEvent,
    PartnerFork,
    PartnerKey,
    PartnerProgramme,
    PartnerStatus,
    Recognition,
)
from exchange.partners.schemas import anchor_json
from exchange.partners.services import (
    anchors_of,
    get_agreement,
    get_partner,
    valid_anchors,
)

WRITE_SCOPE: Final = "footprints:write"


def require_regulator(principal: Principal, what: str) -> None:
    principal.require_scope(WRITE_SCOPE)
    principal.require_role(Role.REGULATOR, f"only the regulator may {what}")


# --- partners -------------------------------------------------------------------------------


def _check_base_url(url: str, *, allow_private: bool) -> str:
    base = normalise_base_url(url)
    try:
        parts = urlsplit(base)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    # Plain HTTP only for a host on this network (a partner on site, tests): anywhere else
    # the credentials we hold for it would cross the network in clear.
    schemes = {"https", "http"} if allow_private else {"https"}
    if (
        parts.scheme not in schemes
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or not port_ok
    ):
        raise ValidationFailed(
            "the PACT base URL is not valid",
            details=[{"field": "pactBaseUrl", "message": "an absolute https URL"}],
        )
    _check_public_host(parts.hostname, allow_private=allow_private, resolve=False)
    return base


def pinned_keys(jwks: Any) -> dict[str, bytes]:
    """The Ed25519 keys of a JWK Set by their RFC 7638 kid; anything else is an error."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationFailed(
            "the trust anchors are a JWK Set with at least one key",
            details=[{"field": "jwks", "message": '{"keys": [...]}'}],
        )
    found: dict[str, bytes] = {}
    for index, jwk in enumerate(keys):
        try:
            public_key = signing.public_key_from_jwk(
                {name: value for name, value in jwk.items() if name in ("kty", "crv", "x", "d")}
                if isinstance(jwk, dict)
                else jwk
            )
        except signing.SigningError as exc:
            raise ValidationFailed(
                "a trust anchor is not an Ed25519 public key",
                details=[{"field": f"jwks.keys.{index}", "message": str(exc)}],
            ) from exc
        kid = signing.key_id(public_key)
        if isinstance(jwk, dict) and "kid" in jwk and jwk["kid"] != kid:
            raise ValidationFailed(
                "a trust anchor's kid is not its RFC 7638 thumbprint",
                details=[{"field": f"jwks.keys.{index}.kid", "message": f"expected {kid}"}],
            )
        found[kid] = public_key
    return found


def _snapshot(session: Session, partner: PartnerProgramme) -> str:
    return signing.canonical_json(
        {
            "id": partner.id,
            "name": partner.name,
            "country": partner.country,
            "operator": partner.operator,
            "contact": partner.contact,
            "pactBaseUrl": partner.pact_base_url,
            "logOrigin": partner.log_origin,
            "status": partner.status.value,
            "trustAnchors": [anchor_json(key) for key in anchors_of(session, partner.id)],
        }
    ).decode("utf-8")


def _partner_event(
    session: Session, partner: PartnerProgramme, reason: str, decided_by: str | None
) -> PartnerEvent:
    session.flush()
    return lifecycle.record(
        session,
        PartnerEvent(
            partner_id=partner.id,
            status=partner.status,
            reason=reason,
            decided_by=decided_by,
            decided_at=utcnow(),
            snapshot_json=_snapshot(session, partner),
        ),
    )


def register_partner(
    session: Session,
    principal: Principal,
    data: PartnerInput,
    *,
    key: ExchangeKey,
    allow_private: bool = False,
) -> PartnerProgramme:
    """Onboard a partner programme, pinning its JWK Set as its trust anchors."""
    # Domestic programmes (another province, the national platform) are partners too: the
    # country says where a programme is, not whether it may be one.
    require_regulator(principal, "register partner programmes")
    base = _check_base_url(data.pact_base_url, allow_private=allow_private)
    anchors = pinned_keys(data.jwks)
    if session.scalar(sa.select(PartnerProgramme.id).where(PartnerProgramme.pact_base_url == base)):
        raise Conflict(f"a partner programme at {base} is registered already")
    organisation = create_organisation(
        session,
        name=data.name,
        country=data.country,
        uscc=data.uscc,
        roles=[Role.PARTNER_PROGRAMME],
    )
    partner = PartnerProgramme(
        id=str(uuid.uuid4()),
        organisation_id=organisation.id,
        name=data.name,
        country=data.country,
        operator=data.operator,
        contact=data.contact,
        pact_base_url=base,
        log_origin=data.log_origin,
        client_id=data.client_id,
        sealed_secret=seal_secret(key, data.client_secret) if data.client_secret else None,
        sync_filters=data.sync_filters,
        recognised_disclosure=data.recognised_disclosure,
        status=PARTNER.check(None, PartnerStatus.ACTIVE),
        sync_next_url=None,
        sync_walk_head=None,
        sync_stop_id=None,
        last_synced_at=None,
        last_sync_error=None,
        created_at=utcnow(),
    )
    session.add(partner)
    session.flush()
    for kid, public_key in anchors.items():
        session.add(
            PartnerKey(
                partner_id=partner.id,
                kid=kid,
                public_key=public_key,
                source="pinned",
                added_at=partner.created_at,
                revoked_at=None,
            )
        )
    _partner_event(session, partner, "onboarded", principal.organisation_id)
    return partner


def forks_of(session: Session, partner_id: str) -> list[PartnerFork]:
    return list(
        session.scalars(
            sa.select(PartnerFork)
            .where(PartnerFork.partner_id == partner_id)
            .order_by(PartnerFork.id)
        )
    )


def change_partner_status(
    session: Session,
    partner: PartnerProgramme,
    status: PartnerStatus,
    reason: str,
    *,
    decided_by: str | None,
) -> PartnerEvent:
    """Move a partner along active → suspended ↔ active → withdrawn (final)."""
    reason = lifecycle.reason(reason, column=PartnerEvent.reason)
    session.refresh(partner, with_for_update=True)
    partner.status = PARTNER.check(partner.status, status)
    event = _partner_event(session, partner, reason, decided_by)
    refresh_recognitions(session, partner_id=partner.id, reason=f"partner {status.value}: {reason}")
    return event


def set_partner_status(
    session: Session,
    principal: Principal,
    partner_id: str,
    status: PartnerStatus,
    reason: str,
) -> PartnerEvent:
    require_regulator(principal, "change partner programmes")
    return change_partner_status(
        session,
        get_partner(session, partner_id),
        status,
        reason,
        decided_by=principal.organisation_id,
    )


def accept_trust_list(
    session: Session,
    partner: PartnerProgramme,
    document: Mapping[str, Any],
) -> list[str]:
    """New trust anchors announced in the partner's own trust list, signed by a key we
    already pin; the kids added. Keys are never learnt any other way after onboarding."""
    payload, signature = document.get("trustList"), document.get("signature")
    if not isinstance(payload, dict) or not isinstance(signature, dict):
        raise signing.SigningError('a trust list has "trustList" and "signature"')
    anchors = valid_anchors(session, partner.id)
    public_key = anchors.get(str(signature.get("kid")))
    if public_key is None:
        raise signing.SigningError("the trust list is not signed by a pinned key of the partner")
    signing.verify(
        context=signing.TRUST_LIST_CONTEXT,
        payload=payload,
        signature=str(signature.get("value")),
        public_key=public_key,
    )
    exchange = payload.get("exchange")
    announced: list[Any] = []
    if isinstance(exchange, dict):
        announced = [exchange.get("jwk"), *(exchange.get("keys") or [])]
    added: list[str] = []
    for jwk in announced:
        if not isinstance(jwk, dict):
            continue
        try:
            new_key = signing.public_key_from_jwk(
                {name: jwk[name] for name in ("kty", "crv", "x") if name in jwk}
            )
        except signing.SigningError:
            continue
        kid = signing.key_id(new_key)
        if session.get(PartnerKey, (partner.id, kid)) is None:
            session.add(
                PartnerKey(
                    partner_id=partner.id,
                    kid=kid,
                    public_key=new_key,
                    source="trust-list",
                    added_at=utcnow(),
                    revoked_at=None,
                )
            )
            added.append(kid)
    if added:
        _partner_event(
            session,
            partner,
            f"trust anchors added from the partner's signed trust list: {', '.join(added)}",
            None,
        )
    return added


# --- agreements ---------------------------------------------------------------------------------


def _agreement_event(
    session: Session, agreement: Agreement, reason: str, decided_by: str
) -> AgreementEvent:
    session.flush()
    return lifecycle.record(
        session,
        AgreementEvent(
            agreement_id=agreement.id,
            status=agreement.status,
            reason=reason,
            decided_by=decided_by,
            decided_at=utcnow(),
            terms_json=signing.canonical_json(agreement_terms(agreement)).decode("utf-8"),
        ),
    )


def _apply_terms(agreement: Agreement, data: AgreementInput) -> None:
    agreement.title = data.title
    agreement.scope = data.scope
    agreement.accepted_standards = data.accepted_standards
    agreement.accepted_rules = data.accepted_rules
    agreement.accepted_gwp_sets = data.accepted_gwp_sets
    agreement.min_primary_data_share = data.min_primary_data_share
    agreement.max_dqr = data.max_dqr
    agreement.max_exempted_share = data.max_exempted_share
    agreement.max_reference_age_days = data.max_reference_age_days
    agreement.required_verification = data.required_verification
    agreement.valid_from = data.valid_from
    agreement.valid_until = data.valid_until
    agreement.review_date = data.review_date
    agreement.texts = data.texts


def create_agreement(session: Session, principal: Principal, data: AgreementInput) -> Agreement:
    """A draft agreement with a partner; it takes effect when the regulator grants it."""
    require_regulator(principal, "make agreements")
    partner = session.get(PartnerProgramme, data.partner_id)
    if partner is None:
        raise ValidationFailed(
            f"no partner programme {data.partner_id}",
            details=[{"field": "partnerId", "message": "unknown partner"}],
        )
    if partner.status == PartnerStatus.WITHDRAWN:
        raise Conflict(f"partner {partner.id} is withdrawn")
    agreement = Agreement(
        partner_id=partner.id,
        status=AGREEMENT.check(None, AgreementStatus.DRAFT),
        created_at=utcnow(),
    )
    _apply_terms(agreement, data)
    session.add(agreement)
    _agreement_event(session, agreement, "drafted", principal.organisation_id)
    return agreement


def amend_agreement(
    session: Session,
    principal: Principal,
    agreement_id: int,
    data: AgreementInput,
) -> Agreement:
    """New terms for a draft; a granted agreement is never rewritten (withdraw, make anew)."""
    require_regulator(principal, "amend agreements")
    agreement = get_agreement(session, agreement_id)
    session.refresh(agreement, with_for_update=True)
    if agreement.status != AgreementStatus.DRAFT:
        raise Conflict(
            f"agreement {agreement_id} is {agreement.status.value}: only a draft is amended"
        )
    if data.partner_id != agreement.partner_id:
        raise ValidationFailed(
            "an agreement stays with its partner",
            details=[{"field": "partnerId", "message": "cannot change"}],
        )
    _apply_terms(agreement, data)
    _agreement_event(session, agreement, "amended", principal.organisation_id)
    return agreement


def set_agreement_status(
    session: Session,
    principal: Principal,
    agreement_id: int,
    status: AgreementStatus,
    reason: str,
) -> AgreementEvent:
    """draft → granted → suspended ↔ granted → withdrawn (final), each with a reason."""
    require_regulator(principal, "decide agreements")
    reason = lifecycle.reason(reason, column=AgreementEvent.reason)
    agreement = get_agreement(session, agreement_id)
    session.refresh(agreement, with_for_update=True)
    AGREEMENT.check(agreement.status, status)
    if status == AgreementStatus.GRANTED and agreement.valid_until <= utcnow():
        raise Conflict(f"agreement {agreement_id} expired on {agreement.valid_until.isoformat()}")
    agreement.status = status
    event = _agreement_event(session, agreement, reason, principal.organisation_id)
    refresh_recognitions(
        session, agreement_id=agreement.id, reason=f"agreement {status.value}: {reason}"
    )
    return event


# --- what a status change does to recognitions ----------------------------------------------------


def refresh_recognitions(
    session: Session,
    *,
    partner_id: str | None = None,
    agreement_id: int | None = None,
    reason: str,
) -> list[str]:
    """Flag the recognitions that no longer stand (their agreement is not granted, or their
    partner not active) and restore those that stand again; the record ids flagged.

    A flagged record is hidden (private to the partner's organisation), so nothing new
    can use it, and every derived footprint that used it goes stale.
    """
    query = (
        sa.select(Recognition, Agreement, PartnerProgramme)
        .join(Agreement, Agreement.id == Recognition.agreement_id)
        .join(PartnerProgramme, PartnerProgramme.id == Recognition.partner_id)
        .where(Recognition.decision == Decision.RECOGNISED)
    )
    if partner_id is not None:
        query = query.where(Recognition.partner_id == partner_id)
    if agreement_id is not None:
        query = query.where(Recognition.agreement_id == agreement_id)
    now = utcnow()
    flagged: list[str] = []
    for recognition, agreement, partner in session.execute(query).all():
        stands = (
            in_force(agreement, now)
            and partner.status == PartnerStatus.ACTIVE
            and recognition.key_revoked_at is None
        )
        record = session.get(FootprintRecord, recognition.record_id)
        if not stands and recognition.flagged_at is None:
            recognition.flagged_at = now
            recognition.flag_reason = reason[:2000]
            if record is not None:
                record.disclosure = Disclosure.PRIVATE
            flagged.append(recognition.record_id)
        elif stands and recognition.flagged_at is not None:
            recognition.flagged_at = None
            recognition.flag_reason = None
            if record is not None:
                record.disclosure = Disclosure(partner.recognised_disclosure)
    session.flush()
    if flagged:
        mark_inputs_stale(
            session, flagged, f"a partner record's recognition was flagged ({reason[:200]})"
        )
    return flagged


def _standing_out_of_term(now: dt.datetime | sa.BindParameter[Any]) -> sa.Select[int]:
    """Agreements with a standing recognition whose validity has ended (or not begun)."""
    return (
        sa.select(Agreement.id)
        .join(Recognition, Recognition.agreement_id == Agreement.id)
        .where(
            Recognition.decision == Decision.RECOGNISED,
            Recognition.flagged_at.is_(None),
            sa.or_(Agreement.valid_until <= now, Agreement.valid_from > now),
        )
        .distinct()
    )


# Built once, the moment a parameter: it is asked before every request, where building the
# statement anew (and its cache key) cost about as much CPU as running it.
_ANY_OUT_OF_TERM: Final = _standing_out_of_term(sa.bindparam("now")).limit(1)


def expiry_due(session: Session, now: dt.datetime | None = None) -> bool:
    """Whether some standing recognition rests on an agreement out of its term (one query,
    cheap enough to ask before every request)."""
    return session.scalar(_ANY_OUT_OF_TERM, {"now": now or utcnow()}) is not None


def expire_agreements(session: Session, now: dt.datetime | None = None) -> list[str]:
    """End the recognitions of every agreement whose ``validUntil`` has passed, with the
    effects of a suspension (flagged, hidden, dependants stale); the record ids flagged.

    Run before requests (so that a read after the moment never sees them standing) and by
    the worker (so that derived footprints go stale without anyone reading)."""
    now = now or utcnow()
    flagged: list[str] = []
    for agreement_id in list(session.scalars(_standing_out_of_term(now))):
        agreement = session.get(Agreement, agreement_id, with_for_update=True)
        assert agreement is not None
        flagged += refresh_recognitions(
            session,
            agreement_id=agreement_id,
            reason=f"agreement expired at {agreement.valid_until.isoformat()}",
        )
    return flagged


def expire_on_schedule(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> None:
    """The worker's round: apply the expiries that are due."""
    expire_agreements(session, now)


def flag_key_revoked(
    session: Session, partner_id: str, kid: str, revoked_at: dt.datetime, reason: str
) -> list[str]:
    """Flag every recognition of ``partner_id`` whose record is signed by ``kid``: a revoked
    key vouches for nothing any more, so no recognition under it stands (re-signed records
    are decided anew). The record ids newly flagged."""
    query = (
        sa.select(Recognition)
        .join(FootprintRecord, FootprintRecord.id == Recognition.record_id)
        .where(
            Recognition.partner_id == partner_id,
            Recognition.decision == Decision.RECOGNISED,
            Recognition.key_revoked_at.is_(None),
            FootprintRecord.signature_kid == kid,
        )
    )
    return _flag_revoked(session, list(session.scalars(query)), revoked_at, reason)


def _vouched_by_anchor(
    session: Session, partner: PartnerProgramme, public_key: bytes
) -> list[Recognition]:
    """The standing recognitions whose record was vouched for by a checkpoint of the
    partner's log that ``public_key`` signed (a leaked anchor could have forged it)."""
    if partner.log_origin is None:
        return []
    notes = {
        kept.tree_size: kept.note
        for kept in session.scalars(
            sa.select(PartnerCheckpoint).where(PartnerCheckpoint.partner_id == partner.id)
        )
    }
    found: list[Recognition] = []
    for recognition in session.scalars(
        sa.select(Recognition).where(
            Recognition.partner_id == partner.id,
            Recognition.decision == Decision.RECOGNISED,
            Recognition.key_revoked_at.is_(None),
        )
    ):
        partner_log = json.loads(recognition.document_json).get("partnerLog")
        size = partner_log.get("treeSize") if isinstance(partner_log, dict) else None
        text = notes.get(size) if isinstance(size, int) else None
        if text is None:
            continue
        try:
            note.verify_checkpoint(text, origin=partner.log_origin, public_key=public_key)
        except signing.SigningError:
            continue
        found.append(recognition)
    return found


def _flag_revoked(
    session: Session, recognitions: Sequence[Recognition], revoked_at: dt.datetime, reason: str
) -> list[str]:
    now = utcnow()
    flagged: list[str] = []
    for recognition in recognitions:
        if recognition.key_revoked_at is not None:
            continue
        recognition.key_revoked_at = revoked_at
        if recognition.flagged_at is None:
            recognition.flagged_at = now
            recognition.flag_reason = reason[:2000]
            record = session.get(FootprintRecord, recognition.record_id)
            if record is not None:
                record.disclosure = Disclosure.PRIVATE
            flagged.append(recognition.record_id)
    session.flush()
    if flagged:
        mark_inputs_stale(
            session, flagged, f"a partner record's recognition was flagged ({reason[:200]})"
        )
    return flagged


def revoke_anchor(
    session: Session,
    principal: Principal,
    partner_id: str,
    kid: str,
    reason: str,
    *,
    revoked_at: dt.datetime | None = None,
) -> PartnerKey:
    """The regulator revokes a pinned trust anchor of a partner (a leak, say), from now or
    a time in the past: it vouches for no new record or checkpoint, and every recognition
    of a record it signed is flagged."""
    require_regulator(principal, "revoke partner trust anchors")
    reason = lifecycle.reason(reason, column=PartnerKey.revocation_reason)
    partner = get_partner(session, partner_id)
    anchor = session.get(PartnerKey, (partner.id, kid), with_for_update=True)
    if anchor is None:
        raise NotFound(f"partner {partner_id} has no trust anchor {kid}")
    moment = revocation_moment(revoked_at, already=anchor.revoked_at, what=f"trust anchor {kid}")
    anchor.revoked_at = moment
    anchor.revocation_reason = reason
    _partner_event(
        session,
        partner,
        f"trust anchor {kid} revoked from {moment.isoformat()}: {reason}",
        principal.organisation_id,
    )
    why = f"trust anchor {kid} revoked by the regulator: {reason}"
    flag_key_revoked(session, partner.id, kid, moment, why)
    _flag_revoked(session, _vouched_by_anchor(session, partner, anchor.public_key), moment, why)
    return anchor
