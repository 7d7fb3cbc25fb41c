"""HTTP API of certification, grading and labels; the trust list; the label landing page."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from sqlalchemy.orm import Session
from werkzeug.routing import PathConverter

from exchange import limits, routing, web
from exchange.db import utcnow
from exchange.errors import BadRequest
from exchange.labels import claims as label_claims
from exchange.labels import gs1, qr, services
from exchange.labels.models import AccreditationStatus, Label
from exchange.labels.schemas import (
    AccreditationChange,
    CertificateChange,
    LabelRequest,
    SchemeRequest,
    VerifyRequest,
    accreditation_event_json,
    certificate_event_json,
    grade_json,
    scheme_json,
)
from exchange.log import schemas as log_schemas
from exchange.log.services import inclusion_proof, issue_receipts
from exchange.organisations import access
from exchange.organisations.schemas import parse
from exchange.organisations.services import get_organisation
from exchange.witness import policy as witnessing

STATIC: Final = Path(__file__).parent / "static"
# The page runs no inline code, so the policy can forbid it (and everything from elsewhere).
PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

bp = Blueprint("labels", __name__, static_folder="static", static_url_path="/static/labels")
# A revocation makes the certified records untrustworthy: the areas built on them (derived
# footprints) listen, registered by create_app. Called with the session, the record ids and
# the reason.
CERTIFICATE_REVOKED: Final = web.Hook[[Session, Collection[str], str]]("labels.certificate-revoked")


class GtinConverter(routing.PathValueConverter):
    """``<gtin:...>``: the GTIN-14 of a label's Digital Link path, its check digit right."""

    pattern = r"[0-9]{14}"
    min_length = limits.GTIN
    max_length = limits.GTIN
    what = "a label's GTIN is 14 digits with a right check digit"
    example = "09506000134352"

    def accepts(self, value: str) -> bool:
        return super().accepts(value) and gs1.check_digit(value[:-1]) == int(value[-1])


class LotConverter(routing.PathValueConverter):
    """``<lot:...>``: a label's batch/lot (AI 10), which may hold a "/" (GS1's CSET 82)."""

    regex = PathConverter.regex
    part_isolating = False
    pattern = "[" + re.escape("".join(sorted(gs1.CSET82))) + "]+"
    max_length = limits.LOT
    what = f"a lot is 1 to {limits.LOT} characters of GS1's CSET 82"
    example = "LOT2026A"


def _origin() -> str:
    return str(current_app.config["EXCHANGE_ORIGIN"])


def _created(body: dict[str, Any], created: bool = True) -> Response:
    response = jsonify(body)
    response.status_code = 201 if created else 200
    return response


# --- trust list and landing page ----------------------------------------------------------


@bp.get("/.well-known/trust-list.json")
def trust_list() -> Response:
    """The current signed list; good until its nextUpdate (re-signed before then)."""
    session = web.session()
    document = services.trust_list(
        session,
        web.exchange_key(),
        origin=_origin(),
        validity=services.trust_list_validity(current_app.config),
    )
    session.commit()
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def _page() -> Response:
    response = send_from_directory(STATIC, "verify.html", max_age=0)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/01/<gtin:gtin>")
def landing(gtin: str) -> Response:
    """The GS1 Digital Link landing: the verification page (it reads the URL itself)."""
    return _page()


@bp.get("/01/<gtin:gtin>/10/<lot:lot>")
def landing_lot(gtin: str, lot: str) -> Response:
    return _page()


@bp.get("/01/page")
def landing_shell() -> Response:
    """The page under a path of no label: what the service worker keeps for use offline."""
    return _page()


@bp.get("/01/sw.js")
def service_worker() -> Response:
    """The page's service worker, served under /01/ so that its scope covers every label."""
    response = send_from_directory(STATIC, "sw.js", max_age=0)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- accreditation -----------------------------------------------------------------------


def _body_json(
    session: Session, body_id: str, name: str, status: AccreditationStatus | None
) -> dict[str, Any]:
    return {
        "body": body_id,
        "name": name,
        "status": status.value if status else None,
        "history": [
            accreditation_event_json(event)
            for event in services.accreditation_history(session, body_id)
        ],
    }


@bp.get("/api/v1/accreditations")
def accreditations() -> Response:
    session = web.session()
    return jsonify(
        {
            "data": [
                _body_json(session, organisation.id, organisation.name, accreditation.status)
                for organisation, accreditation in services.accredited_bodies(session)
            ]
        }
    )


@bp.post("/api/v1/accreditations/<id:body_id>")
def decide_accreditation(body_id: str) -> Response:
    principal = access.require_principal(services.SCOPE)
    body = parse(AccreditationChange, web.json_body())
    session = web.session()
    services.set_accreditation(
        session,
        principal,
        body_id=body_id,
        status=body.status,
        reason=body.reason,
    )
    session.commit()
    organisation = get_organisation(session, body_id)
    return jsonify(_body_json(session, body_id, organisation.name, body.status))


# --- certificates and the registry -------------------------------------------------------


def certificate_json(
    session: Session, entry: services.RegistryEntry, *, detail: bool = False
) -> dict[str, Any]:
    certificate = entry.certificate
    document: dict[str, Any] = {
        "number": certificate.id,
        "id": certificate.uid,
        "status": entry.status,
        "decidedStatus": certificate.status.value,
        "body": {
            "id": certificate.body_id,
            "name": entry.body_name,
            "accreditation": entry.body_status.value if entry.body_status else None,
        },
        "company": {"id": certificate.owner_id, "name": certificate.company_name},
        "product": {"name": certificate.product_name, "gtin": certificate.gtin},
        "record": certificate.record_id,
        "category": certificate.category,
        "value": str(certificate.value.normalize()),
        "unit": certificate.unit,
        "valueIsPer": f"1 {certificate.unit}",
        "issuedAt": certificate.issued_at.isoformat(),
        "validUntil": certificate.valid_until.isoformat(),
        "logIndex": certificate.log_index,
        "grade": grade_json(entry.grade),
    }
    if detail:
        document["history"] = [
            certificate_event_json(event)
            for event in services.certificate_history(session, certificate.id)
        ]
        document["grades"] = [
            grade_json(grade) for grade in services.grade_history(session, certificate.id)
        ]
        document["signed"] = {
            "certificate": json.loads(certificate.document_json),
            "signature": {"alg": "Ed25519", "kid": certificate.kid, "value": certificate.signature},
        }
    return document


@bp.post("/api/v1/certificates")
def certify() -> Response:
    principal = access.require_principal(services.SCOPE)
    session = web.session()
    certificate, created = services.certify(session, principal, web.json_body())
    [receipt] = issue_receipts(session, web.exchange_key(), _origin(), [certificate.log_index])
    session.commit()
    entry = services.registry_entry(session, certificate.id)
    return _created({**certificate_json(session, entry, detail=True), "receipt": receipt}, created)


@bp.get("/api/v1/certificates/<rowid:certificate_id>")
def certificate(certificate_id: int) -> Response:
    session = web.session()
    return jsonify(
        certificate_json(session, services.registry_entry(session, certificate_id), detail=True)
    )


@bp.post("/api/v1/certificates/<rowid:certificate_id>/<action>")
def change_certificate(certificate_id: int, action: str) -> Response:
    principal = access.require_principal(services.SCOPE)
    body = parse(CertificateChange, web.json_body())
    session = web.session()
    services.change_certificate(
        session,
        principal,
        certificate_id=certificate_id,
        action=action,
        reason=body.reason,
        on_revoked=CERTIFICATE_REVOKED,
    )
    session.commit()
    entry = services.registry_entry(session, certificate_id)
    return jsonify(certificate_json(session, entry, detail=True))


@bp.get("/api/v1/registry")
def registry() -> Response:
    """Certified products (建档入库): ``q`` (product, company, body), category, gtin, status."""
    session = web.session()
    status = request.args.get("status")
    allowed = {"active", "suspended", "revoked", "expired", "accreditation-withdrawn"}
    if status is not None and status not in allowed:
        raise BadRequest(f"status is one of {', '.join(sorted(allowed))}")
    entries = services.registry(
        session,
        query=request.args.get("q") or None,
        category=request.args.get("category") or None,
        gtin=request.args.get("gtin") or None,
        status=status,
        limit=web.page_limit(),
    )
    return jsonify({"data": [certificate_json(session, entry) for entry in entries]})


# --- grading -----------------------------------------------------------------------------


@bp.get("/api/v1/grading-schemes")
def grading_schemes() -> Response:
    session = web.session()
    found = services.schemes(session, request.args.get("category") or None)
    return jsonify({"data": [scheme_json(scheme) for scheme in found]})


@bp.post("/api/v1/grading-schemes")
def publish_scheme() -> Response:
    principal = access.require_principal(services.SCOPE)
    body = parse(SchemeRequest, web.json_body())
    session = web.session()
    scheme, regraded = services.publish_scheme(
        session,
        principal,
        category=body.category,
        method=body.method,
        unit=body.unit,
        parameters=body.parameters,
    )
    session.commit()
    return _created(
        {
            **scheme_json(scheme),
            "regraded": [
                {"certificate": grade.certificate_id, "grade": grade.grade} for grade in regraded
            ],
        }
    )


# --- labels ------------------------------------------------------------------------------


def label_json(label: Label) -> dict[str, Any]:
    claims = services.label_claims_of(label, _origin())
    return {
        "id": label.id,
        "url": label.url,
        "claims": label_claims.claims_document(claims),
        "signature": {"alg": "Ed25519", "kid": label.kid, "value": label.signature},
        "qrVersion": qr.symbol(label.url).version,
        "logIndex": label.log_index,
        "png": f"/api/v1/labels/{label.id}.png",
        "svg": f"/api/v1/labels/{label.id}.svg",
    }


@bp.post("/api/v1/labels")
def issue_label() -> Response:
    principal = access.require_principal(services.SCOPE)
    body = parse(LabelRequest, web.json_body())
    session = web.session()
    label = services.issue_label(
        session,
        principal,
        certificate_id=body.certificate,
        lot=body.lot,
        key=web.exchange_key(),
        origin=_origin(),
    )
    assert label.log_index is not None
    [receipt] = issue_receipts(session, web.exchange_key(), _origin(), [label.log_index])
    session.commit()
    return _created({**label_json(label), "receipt": receipt})


@bp.get("/api/v1/labels/<rowid:label_id>")
def label(label_id: int) -> Response:
    return jsonify(label_json(services.get_label(web.session(), label_id)))


def _art(label: Label) -> qr.LabelArt:
    value = label_claims.claims_document(services.label_claims_of(label, _origin()))["value"]
    return qr.LabelArt(url=label.url, value=value, unit=label.unit, grade=label.grade)


@bp.get("/api/v1/labels/<rowid:label_id>.svg")
def label_svg(label_id: int) -> Response:
    art = _art(services.get_label(web.session(), label_id))
    response = Response(qr.svg(art), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/api/v1/labels/<rowid:label_id>.png")
def label_png(label_id: int) -> Response:
    art = _art(services.get_label(web.session(), label_id))
    response = Response(qr.png(art), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/api/v1/labels/<rowid:label_id>/log")
def label_log(label_id: int) -> Response:
    """Where the label is in the transparency log: its entry, proved against the newest
    checkpoint the witnesses cosigned that covers it (else the current one), which comes with
    its cosignatures. The verification page checks this when the trust list names a witness
    policy: the entry it computes from the scanned label must be in a witnessed log."""
    session = web.session()
    found = services.get_label(session, label_id)
    assert found.log_index is not None
    served = witnessing.checkpoint_for(
        session, web.exchange_key(), _origin(), covering=found.log_index + 1
    )
    proof = inclusion_proof(session, found.log_index, served.tree_size)
    session.commit()
    response = jsonify(
        {
            "label": found.id,
            "entry": {"label": found.id, "url": found.url},
            "logIndex": found.log_index,
            "checkpoint": served.note,
            "inclusionProof": log_schemas.inclusion_json(proof),
            "witnessedBy": list(served.witnessed_by),
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/v1/labels/<rowid:label_id>/status")
def label_status(label_id: int) -> Response:
    """Is the certificate of the label the exchange issued under this number still good?

    It says nothing of a scanned label, which may claim other values under the same number:
    the verification page asks ``POST /api/v1/labels/verify`` with the whole label."""
    session = web.session()
    status = services.label_status(session, label_id)
    label = status.label
    entry = status.entry
    response = jsonify(
        {
            "label": label.id,
            "status": "valid" if status.valid else "invalid",
            "reasons": [reason.to_json() for reason in status.reasons],
            "checkedAt": utcnow().isoformat(),
            "certificate": {
                "number": entry.certificate.id,
                "status": entry.status,
                "body": entry.body_name,
                "validUntil": entry.certificate.valid_until.isoformat(),
                "history": [
                    certificate_event_json(event)
                    for event in services.certificate_history(session, entry.certificate.id)
                ],
            },
            "product": {
                "name": entry.certificate.product_name,
                "gtin": label.gtin,
                "lot": label.lot,
            },
            "company": {"name": entry.certificate.company_name},
            "category": entry.certificate.category,
            "grade": label.grade,
            "currentGrade": grade_json(status.current),
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/api/v1/labels/verify")
@web.reads_no_recognitions  # a label's verdict rests on its certificate and keys alone
def verify() -> Response:
    """Scanned text (JSON ``{"text": ...}`` or text/plain) → the exchange's verdict, with
    reasons: valid only for a label it issued with exactly these claims, and still good.
    The verification page asks this whenever it is online."""
    if request.mimetype == "text/plain":
        text = request.get_data(as_text=True)
    else:
        text = parse(VerifyRequest, web.json_body()).text
    reader: sa.Engine = current_app.extensions["exchange.reader"]
    with reader.connect() as connection:
        check = services.check_label(connection, text, origin=_origin())
    verdict, issued = check.verdict, check.issued
    response = jsonify(
        {
            "verdict": "valid" if verdict.valid else "invalid",
            "reasons": [reason.to_json() for reason in verdict.reasons],
            "claims": None
            if verdict.claims is None
            else label_claims.claims_document(verdict.claims),
            "certificateStatus": check.certificate_status,
            # What the exchange holds of the label, when it issued exactly this one.
            "issued": None
            if issued is None
            else {
                "label": issued.label,
                "certificate": {
                    "number": issued.certificate,
                    "status": issued.certificate_status,
                    "body": issued.body,
                    "validUntil": issued.valid_until.isoformat(),
                },
                "product": {"name": issued.product},
                "company": {"name": issued.company},
            },
            "checkedAt": dt.datetime.now(dt.UTC).isoformat(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
