"""Certification bodies, and the certificate page everyone sees: certify a shared record
(signed in the browser or by the CLI), suspend, reinstate, revoke, issue and print labels."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import current_app, g
from werkzeug.wrappers import Response

from exchange.footprints import services as footprints
from exchange.footprints.models import RecordStatus
from exchange.labels import claims as label_claims
from exchange.labels import qr
from exchange.labels import services as labels
from exchange.labels.documents import certificate_document
from exchange.labels.models import Certificate, Label
from exchange.labels.views import CERTIFICATE_REVOKED
from exchange.organisations.models import Role
from exchange.portal import services as portal
from exchange.portal import sheets
from exchange.portal.security import roles_required
from exchange.portal.views.common import bp, db, done, form_text, principal, render
from exchange.web import exchange_key


def _origin() -> str:
    return str(current_app.config["EXCHANGE_ORIGIN"])


@bp.get("/certification")
@roles_required(Role.CERTIFICATION_BODY)
def certification() -> tuple[str, int]:
    """Records shared with the body, waiting for a certificate; the body's own certificates."""
    session = db()
    page = footprints.list_records(session, principal(), limit=100)
    candidates: list[tuple[Any, dict[str, Any]]] = []
    for record in page.records:
        if record.owner_id == principal().organisation_id:
            continue
        if record.status == RecordStatus.ACTIVE:
            candidates.append((record, json.loads(record.footprint_json)))
    numbers = session.scalars(
        sa.select(Certificate.id)
        .where(Certificate.body_id == principal().organisation_id)
        .order_by(Certificate.id.desc())
        .limit(200)
    ).all()
    entries = [labels.registry_entry(session, number) for number in numbers]
    return render(
        "certification.html",
        candidates=candidates,
        entries=entries,
        accreditation=labels.accreditation_status(session, principal().organisation_id),
    )


@bp.post("/certification/draft")
@roles_required(Role.CERTIFICATION_BODY)
def certificate_draft() -> Response:
    """A certificate of one record the body may see, ready for the body's signature."""
    session = db()
    record = footprints.get_record(session, principal(), form_text("record", 64))
    document = certificate_document(
        body_id=principal().organisation_id,
        record_id=record.id,
        footprint=json.loads(record.footprint_json),
        gtin=form_text("gtin", 20).strip(),
        category=form_text("category", 300).strip(),
    )
    draft = portal.create_draft(session, principal(), kind="certificate", payload=document)
    session.commit()
    return done("Draft ready: now sign it.", "portal.draft", draft_id=draft.id)


@bp.post("/certificates/<rowid:number>/<action>")
@roles_required(Role.CERTIFICATION_BODY)
def change_certificate(number: int, action: str) -> Response:
    labels.change_certificate(
        db(),
        principal(),
        certificate_id=number,
        action=action[:20],
        reason=form_text("reason", 500),
        on_revoked=CERTIFICATE_REVOKED,
    )
    db().commit()
    return done("Certificate updated.", "portal.certificate", number=number)


@bp.post("/certificates/<rowid:number>/labels")
@roles_required(Role.CERTIFICATION_BODY, Role.SUPPLIER, Role.CHAIN_OWNER)
def issue_label(number: int) -> Response:
    lot = form_text("lot", 20).strip() or None
    labels.issue_label(
        db(),
        principal(),
        certificate_id=number,
        lot=lot,
        key=exchange_key(),
        origin=_origin(),
    )
    db().commit()
    return done("Label issued.", "portal.certificate", number=number)


@bp.get("/labels/<rowid:label_id>.pdf")
def label_sheet(label_id: int) -> Response:
    """A4 sheet of one label for print (labels are public, like their PNG and SVG)."""
    label = labels.get_label(db(), label_id)
    value = label_claims.claims_document(labels.label_claims_of(label, _origin()))["value"]
    png = qr.png(qr.LabelArt(url=label.url, value=value, unit=label.unit, grade=label.grade))
    return Response(
        sheets.label_sheet_pdf(png, title=f"label {label.id}"),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="label-{label.id}.pdf"'},
    )


# --- the public certificate page -----------------------------------------------------------


@bp.get("/registry/<rowid:number>")
def certificate(number: int) -> tuple[str, int]:
    session = db()
    entry = labels.registry_entry(session, number)
    signed_in = g.portal_user is not None
    me = principal().organisation_id if signed_in else None
    is_body = me == entry.certificate.body_id
    may_label = is_body or me == entry.certificate.owner_id
    issued = (
        list(
            session.scalars(
                sa.select(Label).where(Label.certificate_id == number).order_by(Label.id.desc())
            )
        )
        if may_label
        else []
    )
    return render(
        "certificate.html",
        entry=entry,
        history=labels.certificate_history(session, number),
        grades=labels.grade_history(session, number),
        is_body=is_body,
        may_label=may_label,
        issued=issued,
        actions=labels.CERTIFICATE_ACTIONS,
    )
