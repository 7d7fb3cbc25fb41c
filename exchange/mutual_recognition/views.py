"""HTTP API of mutual recognition: partners, agreements, recognitions, sync, the
verification bundle of a record, and the public page of agreements in force."""

from __future__ import annotations

import logging
from typing import Any, Final

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from sqlalchemy.orm import Session

from exchange import web
from exchange.db import transaction
from exchange.errors import BadRequest, ValidationFailed
from exchange.footprints import services as footprints
from exchange.mutual_recognition import schemas, services
from exchange.mutual_recognition.services.federation import (
    inbound_of_upload,
    records_accepted_hook,
)
from exchange.mutual_recognition.services.recognition import footprint_digest, previous_decision
from exchange.organisations import access
from exchange.organisations.principals import Principal
from exchange.organisations.schemas import KeyRevocation, parse
from exchange.partners.models import (
    AgreementStatus,
    Decision,
    PartnerProgramme,
    PartnerStatus,
)

bp = Blueprint(
    "mutual_recognition",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/mutual-recognition",
)

MAX_UPLOAD: Final = 1000
logger = logging.getLogger(__name__)


def _origin() -> str:
    return str(current_app.config["EXCHANGE_ORIGIN"])


def _created(body: dict[str, Any], location: str | None = None) -> Response:
    response = jsonify(body)
    response.status_code = 201
    if location:
        response.headers["Location"] = location
    return response


def _partner_json(session: Session, partner: PartnerProgramme) -> dict[str, Any]:
    return schemas.partner_json(
        partner,
        anchors=services.anchors_of(session, partner.id),
        history=services.partner_history(session, partner.id),
        forks=services.forks_of(session, partner.id),
    )


def _status_change(body: dict[str, Any]) -> tuple[str, str]:
    status, reason = body.get("status"), body.get("reason")
    if not isinstance(status, str) or not isinstance(reason, str):
        raise ValidationFailed(
            "send a status and a reason",
            details=[{"field": "status", "message": "required"}, {"field": "reason"}],
        )
    return status, reason


def _on_accepted() -> footprints.RecordsAccepted:
    return records_accepted_hook(web.pact_host().base_url)


# --- partners ---------------------------------------------------------------------------------


@bp.get("/api/v1/partners")
def list_partners() -> Response:
    """Every partner programme with its status (public: the trust list names them too)."""
    session = web.session()
    return jsonify({"data": [_partner_json(session, p) for p in services.list_partners(session)]})


@bp.post("/api/v1/partners")
def register_partner() -> Response:
    """The regulator onboards a partner, pinning its JWK Set (``jwks``) as trust anchors."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    services.require_regulator(principal, "register partner programmes")
    data = schemas.parse_partner(web.json_object())
    session = web.session()
    partner = services.register_partner(
        session,
        principal,
        data,
        key=web.exchange_key(),
        allow_private=current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
    )
    session.commit()
    return _created(
        _partner_json(session, partner),
        url_for("mutual_recognition.get_partner", partner_id=partner.id),
    )


@bp.get("/api/v1/partners/<id:partner_id>")
def get_partner(partner_id: str) -> Response:
    session = web.session()
    return jsonify(_partner_json(session, services.get_partner(session, partner_id)))


@bp.post("/api/v1/partners/<id:partner_id>/status")
def partner_status(partner_id: str) -> Response:
    """``{"status": "suspended" | "active" | "withdrawn", "reason": ...}`` (regulator)."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    body = web.json_object()
    status = web.choice_field(body, "status", PartnerStatus)
    _, reason = _status_change(body)
    session = web.session()
    services.set_partner_status(session, principal, partner_id, status, reason)
    session.commit()
    return jsonify(_partner_json(session, services.get_partner(session, partner_id)))


@bp.post("/api/v1/partners/<id:partner_id>/keys/<kid:kid>/revoke")
def revoke_anchor(partner_id: str, kid: str) -> Response:
    """``{"reason": ..., "revokedAt"?: ...}``: the regulator revokes a pinned trust anchor."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    body = parse(KeyRevocation, web.json_body())
    session = web.session()
    services.revoke_anchor(
        session,
        principal,
        partner_id,
        kid,
        body.reason,
        revoked_at=body.revoked_at,
    )
    session.commit()
    return jsonify(_partner_json(session, services.get_partner(session, partner_id)))


def apply_due_expiries() -> None:
    """Agreements end at their ``validUntil``: before any request is answered, recognitions
    resting on one that has passed are flagged (one cheap query when none is due).

    create_app runs it before the request opens its own session: it then holds one
    connection at a time (a second one, asked for while the request held the first, could
    wait for a pool slot or SQLite's write lock that the request itself holds). Views whose
    answer no recognition decides (``web.reads_no_recognitions``: label verification) are
    skipped."""
    endpoint = request.endpoint or ""
    if endpoint in ("", "static", "system.healthz") or endpoint.endswith(".static"):
        return
    if web.view_reads_no_recognitions():
        return
    # Asked on the read-only pool: on SQLite it must not take the write lock per request.
    try:
        with Session(bind=current_app.extensions["exchange.reader"]) as session:
            due = services.expiry_due(session)
    except sa.exc.SQLAlchemyError:
        # The database is unreachable: the request itself meets (and reports) that.
        logger.warning("agreement expiries could not be checked", exc_info=True)
        return
    if due:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            services.expire_agreements(session)


@bp.post("/api/v1/partners/<id:partner_id>/sync")
def sync_partner(partner_id: str) -> Response:
    """Pull the partner's new records now (the worker does it on a schedule)."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    services.require_regulator(principal, "sync partner programmes")
    services.get_partner(web.session(), partner_id)
    web.session().rollback()
    report = services.sync_partner(
        current_app.extensions["exchange.sessions"],
        partner_id,
        key=web.exchange_key(),
        origin=_origin(),
        on_accepted=_on_accepted(),
        allow_private=current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
    )
    return jsonify(report.to_json())


@bp.post("/api/v1/partners/<id:partner_id>/records")
def upload_records(partner_id: str) -> Response:
    """Records of the partner handed over directly (regulator), each decided and answered.

    ``{"items": [{"envelope": {footprint, signature}, "signerJwk": {...}?,
    "logProof": {"checkpoint": <signed note>, "inclusionProof": {...}}?}, ...]}``
    """
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    services.require_regulator(principal, "hand over partner records")
    body = web.json_object()
    items = body.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_UPLOAD:
        raise ValidationFailed(
            f'"items" is a list of 1 to {MAX_UPLOAD} records',
            details=[{"field": "items", "message": "required"}],
        )
    session = web.session()
    partner = services.get_partner(session, partner_id)
    anchors = services.valid_anchors(session, partner.id)
    agreements = services.list_agreements(session, principal, partner_id=partner.id)
    results = []
    for index, item in enumerate(items):
        inbound = inbound_of_upload(session, partner, item, index)
        footprint = inbound.envelope.get("footprint")
        earlier = (
            previous_decision(
                session, partner.id, str(footprint.get("id", "")), footprint_digest(footprint)
            )
            if isinstance(footprint, dict)
            else None
        )
        if earlier is not None and earlier.decision == Decision.RECOGNISED:
            # Recognised already; a refused record handed over again is decided anew.
            results.append(schemas.recognition_json(earlier))
            continue
        recognition = services.decide(
            session,
            partner,
            inbound,
            key=web.exchange_key(),
            origin=_origin(),
            anchors=anchors,
            agreements=agreements,
            source="upload",
            on_accepted=_on_accepted(),
        )
        results.append(schemas.recognition_json(recognition))
    session.commit()
    return jsonify({"data": results})


@bp.get("/api/v1/recognitions")
def list_recognitions() -> Response:
    """Decisions, newest first (regulator); ``partner`` and ``decision`` narrow them."""
    principal = access.require_principal("footprints:read")
    services.require_regulator(principal, "read every recognition decision")
    decision_text = request.args.get("decision")
    try:
        decision = Decision(decision_text) if decision_text else None
    except ValueError as exc:
        raise BadRequest("decision is recognised or refused") from exc
    found = services.list_recognitions(
        web.session(),
        partner_id=request.args.get("partner"),
        decision=decision,
        limit=web.page_limit(),
    )
    return jsonify({"data": [schemas.recognition_json(item) for item in found]})


# --- agreements -------------------------------------------------------------------------------


def _agreement_json(session: Session, agreement: Any) -> dict[str, Any]:
    return schemas.agreement_json(agreement, services.agreement_history(session, agreement.id))


@bp.get("/api/v1/agreements")
def list_agreements() -> Response:
    """Agreements (drafts for the regulator only); ``status``, ``partner``, ``inForce=true``."""
    principal = access.optional_principal()
    session = web.session()
    if request.args.get("inForce") == "true":
        found = services.agreements_in_force(session)
    else:
        status_text = request.args.get("status")
        try:
            status = AgreementStatus(status_text) if status_text else None
        except ValueError as exc:
            raise BadRequest("status is draft, granted, suspended or withdrawn") from exc
        found = services.list_agreements(
            session, principal, status=status, partner_id=request.args.get("partner")
        )
    return jsonify({"data": [_agreement_json(session, item) for item in found]})


@bp.post("/api/v1/agreements")
def create_agreement() -> Response:
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    services.require_regulator(principal, "make agreements")
    data = schemas.parse_agreement(web.json_object())
    session = web.session()
    agreement = services.create_agreement(session, principal, data)
    session.commit()
    return _created(
        _agreement_json(session, agreement),
        url_for("mutual_recognition.get_agreement", agreement_id=agreement.id),
    )


@bp.get("/api/v1/agreements/<rowid:agreement_id>")
def get_agreement(agreement_id: int) -> Response:
    session = web.session()
    agreement = services.visible_agreement(session, access.optional_principal(), agreement_id)
    return jsonify(_agreement_json(session, agreement))


@bp.put("/api/v1/agreements/<rowid:agreement_id>")
def amend_agreement(agreement_id: int) -> Response:
    """New terms for a draft agreement (regulator)."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    services.require_regulator(principal, "amend agreements")
    session = web.session()
    current = services.visible_agreement(session, principal, agreement_id)
    data = schemas.parse_agreement(web.json_object(), partner_id=current.partner_id)
    agreement = services.amend_agreement(session, principal, agreement_id, data)
    session.commit()
    return jsonify(_agreement_json(session, agreement))


@bp.post("/api/v1/agreements/<rowid:agreement_id>/status")
def agreement_status(agreement_id: int) -> Response:
    """``{"status": "granted" | "suspended" | "withdrawn", "reason": ...}`` (regulator)."""
    principal = access.require_principal(services.programmes.WRITE_SCOPE)
    body = web.json_object()
    status = web.choice_field(body, "status", AgreementStatus)
    _, reason = _status_change(body)
    session = web.session()
    services.set_agreement_status(session, principal, agreement_id, status, reason)
    session.commit()
    return jsonify(
        _agreement_json(session, services.visible_agreement(session, principal, agreement_id))
    )


@bp.get("/mutual-recognition")
def agreements_page() -> str:
    """The public page of agreements in force, bilingual, server-rendered."""
    session = web.session()
    agreements = services.agreements_in_force(session)
    partners = {partner.id: partner for partner in services.list_partners(session)}
    return render_template(
        "mutual_recognition/agreements.html",
        agreements=[
            (agreement, partners[agreement.partner_id], schemas.agreement_terms(agreement))
            for agreement in agreements
        ],
    )


# --- outbound verification ------------------------------------------------------------------------


@bp.get("/api/v1/footprints/<id:record_id>/verification")
def verification(record_id: str) -> Response:
    """Everything needed to verify the record offline; visible exactly as the record is."""
    principal: Principal | None = access.optional_principal()
    session = web.session()
    bundle = services.verification_bundle(
        session, principal, record_id, key=web.exchange_key(), origin=_origin()
    )
    session.commit()
    return jsonify(bundle)
