"""Suppliers' (and chain-owners') records: list, detail, upload, sign, share, requests, keys."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from werkzeug.wrappers import Response

from exchange import signing, web
from exchange.aggregation import services as aggregation
from exchange.errors import ValidationFailed
from exchange.footprints import services as footprints
from exchange.footprints.models import Disclosure
from exchange.footprints.schemas import envelope_json
from exchange.footprints.views import RECORD_SHARED, RECORDS_ACCEPTED, RECORDS_LOGGED
from exchange.labels import services as labels
from exchange.log.services import issue_receipts
from exchange.organisations import services as organisations
from exchange.organisations.models import Organisation
from exchange.pact import services as pact
from exchange.pact.models import RequestStatus
from exchange.pact_wire import parse_product_footprint
from exchange.portal import services
from exchange.portal.security import login_required, roles_required
from exchange.portal.views.common import (
    RECORD_ROLES,
    bp,
    db,
    done,
    form_text,
    principal,
    render,
)
from exchange.web import exchange_key, pact_host

PAGE = 50


def _others() -> list[Organisation]:
    """Organisations one may share with or answer: everyone but oneself, by name."""
    return list(
        db().scalars(
            sa.select(Organisation)
            .where(Organisation.id != principal().organisation_id)
            .order_by(Organisation.name)
        )
    )


@bp.get("/records")
@roles_required(*RECORD_ROLES)
def records() -> tuple[str, int]:
    """Your own records, or (``view=visible``) every record you may see."""
    mine = request.args.get("view", "mine") != "visible"
    page = footprints.list_records(
        db(),
        principal(),
        limit=PAGE,
        cursor=request.args.get("cursor") or None,
        owned_only=mine,
    )
    rows = [(record, json.loads(record.footprint_json)) for record in page.records]
    return render("records.html", rows=rows, mine=mine, next_cursor=page.next_cursor)


@bp.get("/records/<id:record_id>")
@login_required
def record(record_id: str) -> tuple[str, int]:
    found = footprints.get_record(db(), principal(), record_id)
    owner = db().get(Organisation, found.owner_id)
    mine = found.owner_id == principal().organisation_id
    grants = (
        [grant for grant in footprints.shares_of(db(), principal()) if grant.record_id == found.id]
        if mine
        else []
    )
    names = {organisation.id: organisation.name for organisation in _others()}
    signature = footprints.signature_of(found)
    # The form of the record this reader is served (withheld: signed with inputs it may
    # not see), and for a derived footprint its provenance as this reader may open it.
    served = footprints.served_to(db(), [found], principal())[found.id]
    meta: dict[str, Any] = {"logIndex": found.log_index}
    if served != found.footprint_json:
        meta["withheld"] = True
    envelope = envelope_json(served, signature, meta)
    derived = aggregation.derived_provenance(
        db(),
        principal(),
        found,
        key=exchange_key(),
        origin=current_app.config["EXCHANGE_ORIGIN"],
    )
    db().commit()  # the openings shown are data flows, and an attestation may be new
    return render(
        "record.html",
        record=found,
        derived=derived,
        withheld_form=served != found.footprint_json,
        footprint=json.loads(served),
        owner=owner,
        mine=mine,
        grants=grants,
        names=names,
        organisations=_others() if mine else [],
        disclosures=list(Disclosure),
        envelope=json.dumps(json.loads(envelope), ensure_ascii=False, indent=2),
    )


@bp.post("/records/<id:record_id>/share")
@roles_required(*RECORD_ROLES)
def share_record(record_id: str) -> Response:
    session = db()
    whole_product = request.form.get("scope") == "product"
    record = footprints.own_record(session, principal(), record_id)
    product_ids = json.loads(record.footprint_json).get("productIds") or []
    grant = footprints.share(
        session,
        principal(),
        grantee_id=form_text("organisation", 36),
        record_id=None if whole_product else record.id,
        product_id=str(product_ids[0]) if whole_product and product_ids else None,
    )
    RECORD_SHARED(session, grant)
    session.commit()
    return done("Shared.", "portal.record", record_id=record.id)


@bp.post("/shares/<rowid:share_id>/delete")
@roles_required(*RECORD_ROLES)
def unshare(share_id: int) -> Response:
    record_id = form_text("record", 64)
    footprints.unshare(db(), principal(), share_id=share_id)
    db().commit()
    return done("No longer shared.", "portal.record", record_id=record_id)


@bp.post("/records/<id:record_id>/disclosure")
@roles_required(*RECORD_ROLES)
def disclosure(record_id: str) -> Response:
    chosen = web.choice_field(request.form, "disclosure", Disclosure)
    record = footprints.set_disclosure(db(), principal(), record_id=record_id, disclosure=chosen)
    db().commit()
    return done("Disclosure changed.", "portal.record", record_id=record.id)


# --- upload and sign -----------------------------------------------------------------------


@bp.get("/upload")
@roles_required(*RECORD_ROLES)
def upload() -> tuple[str, int]:
    return render("upload.html", preceding=request.args.get("preceding", "")[:64])


@bp.post("/upload")
@roles_required(*RECORD_ROLES)
def upload_submit() -> Response:
    """A form or a PACT JSON file becomes a draft: the exact bytes to sign are fixed now."""
    organisation = organisations.get_organisation(db(), principal().organisation_id)
    uploaded = request.files.get("file")
    text = uploaded.read(5_000_000).decode("utf-8", "replace") if uploaded else ""
    text = text.strip() or form_text("json", 5_000_000).strip()
    if text:
        footprint = services.footprint_from_json(text)
    else:
        footprint = services.footprint_from_form(
            services.FootprintForm(
                product_name=form_text("productName", 300),
                product_description=form_text("productDescription", 2000),
                product_id=form_text("productId", 300),
                classification=form_text("classification", 300),
                declared_unit=form_text("declaredUnit", 32),
                declared_amount=form_text("declaredAmount", 40),
                pcf_excluding=form_text("pcfExcludingBiogenicUptake", 40),
                pcf_including=form_text("pcfIncludingBiogenicUptake", 40),
                fossil=form_text("fossilGhgEmissions", 40),
                biogenic_uptake=form_text("biogenicCO2Uptake", 40) or "0",
                reference_year=form_text("referenceYear", 8),
                geography=form_text("geography", 8),
                mass_per_unit=form_text("productMassPerDeclaredUnit", 40),
                preceding_id=form_text("preceding", 64),
            ),
            organisation,
        )
    # The area's own schema check, before anyone signs something the exchange would refuse.
    parse_product_footprint(footprint)
    draft = services.create_draft(db(), principal(), kind="footprint", payload=footprint)
    db().commit()
    return done("Draft ready: now sign it.", "portal.draft", draft_id=draft.id)


@bp.get("/drafts/<id:draft_id>")
@login_required
def draft(draft_id: str) -> tuple[str, int]:
    found = services.get_draft(db(), principal(), draft_id)
    message = services.draft_message(found)
    keys = [
        key
        for key in organisations.keys_of(db(), principal().organisation_id)
        if not key.revoked_at
    ]
    return render(
        "draft.html",
        draft=found,
        payload=services.draft_payload(found),
        message_text=message.decode("utf-8"),
        message_b64=signing.b64url_encode(message),
        keys=keys,
    )


@bp.get("/drafts/<id:draft_id>/message")
@login_required
def draft_message(draft_id: str) -> Response:
    """The exact bytes to sign, for a signer that works on bytes."""
    found = services.get_draft(db(), principal(), draft_id)
    return Response(
        services.draft_message(found),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{found.id}.message"'},
    )


@bp.get("/drafts/<id:draft_id>/payload.json")
@login_required
def draft_payload(draft_id: str) -> Response:
    """The document itself, for ``exchange sign`` on the company's machine."""
    found = services.get_draft(db(), principal(), draft_id)
    return Response(
        found.payload_json,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{found.kind}-{found.id}.json"'},
    )


def _signature_fields() -> tuple[str, str]:
    pasted = form_text("pasted").strip()
    if pasted:
        found = services.pasted_signature(pasted)
        if found is None:
            raise ValidationFailed(
                "paste the signed envelope or its signature object as JSON",
                details=[{"field": "pasted", "message": "not a signature"}],
            )
        return found
    return form_text("kid", 100), form_text("signature", 200)


@bp.post("/drafts/<id:draft_id>/sign")
@login_required
def sign_draft(draft_id: str) -> Response:
    """Submit a draft with a signature made in the browser or pasted from the CLI."""
    session = db()
    found = services.get_draft(session, principal(), draft_id)
    kid, value = _signature_fields()
    envelope = services.signed_envelope(found, kid=kid, value=value)
    if found.kind == "certificate":
        certificate, _created = labels.certify(session, principal(), envelope)
        found.submitted_ref = str(certificate.id)
        session.commit()
        return done("Certificate registered.", "portal.certificate", number=certificate.id)
    [outcome] = footprints.submit(
        session,
        principal=principal(),
        items=[envelope],
        on_accepted=RECORDS_ACCEPTED,
        on_logged=RECORDS_LOGGED,
    )
    if outcome.error is not None:
        raise outcome.error
    assert outcome.record is not None
    issue_receipts(
        session, exchange_key(), current_app.config["EXCHANGE_ORIGIN"], [outcome.record.log_index]
    )
    found.submitted_ref = outcome.record.id
    session.commit()
    return done("Signed and registered.", "portal.record", record_id=outcome.record.id)


# --- requests ------------------------------------------------------------------------------


@bp.get("/requests")
@roles_required(*RECORD_ROLES)
def requests() -> tuple[str, int]:
    incoming = pact.list_requests(db(), principal(), incoming=True, status=None)
    outgoing = pact.list_requests(db(), principal(), incoming=False, status=None)
    own = footprints.list_records(db(), principal(), limit=200, owned_only=True).records
    names = {organisation.id: organisation.name for organisation in _others()}
    candidates: list[tuple[str, str]] = []
    for item in own:
        footprint: dict[str, Any] = json.loads(item.footprint_json)
        if item.status.value == "Active":
            candidates.append((item.id, str(footprint.get("productNameCompany", item.id))))
    return render(
        "requests.html",
        incoming=incoming,
        outgoing=outgoing,
        names=names,
        candidates=candidates,
        open_status=RequestStatus.OPEN,
    )


@bp.post("/requests/<id:request_id>/fulfil")
@roles_required(*RECORD_ROLES)
def fulfil(request_id: str) -> Response:
    pact.fulfil_request(
        db(),
        principal(),
        request_id=request_id,
        record_ids=[value[:64] for value in request.form.getlist("record") if value],
        host=pact_host(),
    )
    db().commit()
    return done("Request answered.", "portal.requests")


@bp.post("/requests/<id:request_id>/reject")
@roles_required(*RECORD_ROLES)
def reject(request_id: str) -> Response:
    pact.reject_request(
        db(),
        principal(),
        request_id=request_id,
        message=form_text("message", 500),
        host=pact_host(),
    )
    db().commit()
    return done("Request declined.", "portal.requests")


# --- signing keys --------------------------------------------------------------------------


@bp.get("/keys")
@login_required
def keys() -> tuple[str, int]:
    return render("keys.html", keys=organisations.keys_of(db(), principal().organisation_id))


@bp.post("/keys")
@login_required
def register_key() -> Response:
    """Register a public key (generated in the browser, or pasted from ``exchange keys``)."""
    try:
        jwk = signing.parse_json(form_text("jwk", 5000))
    except ValueError as exc:
        raise ValidationFailed("the public key is not JSON") from exc
    if isinstance(jwk, dict):
        jwk = {name: jwk[name] for name in ("kty", "crv", "x", "d") if name in jwk}
    organisations.register_key(
        db(),
        organisation_id=principal().organisation_id,
        public_jwk=jwk,
    )
    db().commit()
    return done("Key registered.", "portal.keys")


@bp.post("/keys/<kid:kid>/revoke")
@login_required
def revoke_key(kid: str) -> Response:
    organisations.revoke_key(
        db(),
        organisation_id=principal().organisation_id,
        kid=kid,
        reason=form_text("reason", 500),
    )
    db().commit()
    return done("Key revoked.", "portal.keys")
