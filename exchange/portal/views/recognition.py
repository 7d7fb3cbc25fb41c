"""Mutual recognition in the portal: the regulator's partner programmes, agreements (with
their status history) and recognition decisions, and the public list of agreements in force.
Thin pages over exchange/mutual_recognition: its parsing, services and role checks apply."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request
from werkzeug.wrappers import Response

from exchange import signing, web
from exchange.errors import ValidationFailed
from exchange.mutual_recognition import schemas as recognition_schemas
from exchange.mutual_recognition import services as recognition
from exchange.organisations.models import Role
from exchange.partners.models import AgreementStatus, VerificationLevel
from exchange.portal.security import roles_required
from exchange.portal.views.common import bp, db, done, form_text, principal, render

_SEPARATORS = re.compile(r"[,\n]")


def _items(name: str) -> list[str]:
    """A list field typed one item per line or comma separated."""
    return [item.strip() for item in _SEPARATORS.split(form_text(name, 20_000)) if item.strip()]


def _optional(name: str, limit: int = 40) -> str | None:
    return form_text(name, limit).strip() or None


def _day(name: str) -> str | None:
    """A date field (YYYY-MM-DD) as the start of that day in UTC, which the schema reads."""
    value = _optional(name, 40)
    if value is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"{value}T00:00:00Z"
    return value


def _whole(name: str) -> int | str | None:
    value = _optional(name, 12)
    # ASCII digits only: str.isdigit also takes "²", which int() refuses (a 500).
    if value is not None and value.isascii() and value.isdecimal():
        return int(value)
    return value


@bp.get("/regulator/partners")
@roles_required(Role.REGULATOR)
def regulator_partners() -> tuple[str, int]:
    session = db()
    partners = [
        (partner, recognition.anchors_of(session, partner.id))
        for partner in recognition.list_partners(session)
    ]
    return render("partners.html", partners=partners)


@bp.post("/regulator/partners")
@roles_required(Role.REGULATOR)
def regulator_register_partner() -> Response:
    try:
        jwks = signing.parse_json(form_text("jwks", 50_000))
    except ValueError as exc:
        raise ValidationFailed(
            "the JWK Set is not JSON", details=[{"field": "jwks", "message": str(exc)}]
        ) from exc
    body: dict[str, Any] = {
        "name": form_text("name", 400),
        "country": form_text("country", 8),
        "operator": form_text("operator", 400),
        "contact": form_text("contact", 600),
        "pactBaseUrl": form_text("pactBaseUrl", 600),
        "jwks": jwks,
        "recognisedDisclosure": form_text("recognisedDisclosure", 16) or "public",
    }
    if log_origin := _optional("logOrigin", 400):
        body["logOrigin"] = log_origin
    if uscc := _optional("uscc", 40):
        body["uscc"] = uscc
    recognition.register_partner(
        db(),
        principal(),
        recognition_schemas.parse_partner(body),
        key=web.exchange_key(),
        allow_private=bool(current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"]),
    )
    db().commit()
    return done("Partner programme registered.", "portal.regulator_partners")


@bp.post("/regulator/partners/<id:partner_id>/keys/<kid:kid>/revoke")
@roles_required(Role.REGULATOR)
def regulator_revoke_anchor(partner_id: str, kid: str) -> Response:
    """Revoke a pinned trust anchor from now: every recognition under it is flagged."""
    recognition.revoke_anchor(
        db(),
        principal(),
        partner_id,
        kid,
        form_text("reason", 2000),
    )
    db().commit()
    return done("Trust anchor revoked.", "portal.regulator_partners")


@bp.get("/regulator/agreements")
@roles_required(Role.REGULATOR)
def regulator_agreements() -> tuple[str, int]:
    session = db()
    partners = {partner.id: partner for partner in recognition.list_partners(session)}
    agreements = [
        (
            agreement,
            partners.get(agreement.partner_id),
            recognition.agreement_history(session, agreement.id),
        )
        for agreement in recognition.list_agreements(session, principal())
    ]
    return render(
        "agreements.html",
        agreements=agreements,
        partners=list(partners.values()),
        statuses=[status for status in AgreementStatus if status != AgreementStatus.DRAFT],
        levels=list(VerificationLevel),
        gwp_sets=sorted(recognition_schemas.GWP_SETS),
    )


@bp.post("/regulator/agreements")
@roles_required(Role.REGULATOR)
def regulator_create_agreement() -> Response:
    body: dict[str, Any] = {
        "partnerId": form_text("partnerId", 40),
        "title": form_text("title", 400),
        "scope": _items("scope"),
        "acceptedStandards": _items("acceptedStandards"),
        "acceptedRules": _items("acceptedRules"),
        "acceptedGwpSets": request.form.getlist("acceptedGwpSets")[:8],
        "minPrimaryDataShare": _optional("minPrimaryDataShare"),
        "maxDqr": _optional("maxDqr"),
        "maxExemptedShare": _optional("maxExemptedShare"),
        "maxReferenceAgeDays": _whole("maxReferenceAgeDays"),
        "requiredVerification": form_text("requiredVerification", 16) or "none",
        "validFrom": _day("validFrom"),
        "validUntil": _day("validUntil"),
        "reviewDate": _day("reviewDate"),
        "texts": {
            "zh": form_text("textZh"),
            "en": form_text("textEn"),
            "partner": {
                "language": form_text("partnerLanguage", 40),
                "text": form_text("partnerText"),
            },
        },
    }
    recognition.create_agreement(db(), principal(), recognition_schemas.parse_agreement(body))
    db().commit()
    return done("Agreement drafted.", "portal.regulator_agreements")


@bp.post("/regulator/agreements/<rowid:agreement_id>/status")
@roles_required(Role.REGULATOR)
def regulator_agreement_status(agreement_id: int) -> Response:
    status = web.choice_field(request.form, "status", AgreementStatus)
    recognition.set_agreement_status(
        db(),
        principal(),
        agreement_id,
        status,
        form_text("reason", 2000),
    )
    db().commit()
    return done("Decision recorded.", "portal.regulator_agreements")


@bp.get("/regulator/recognitions")
@roles_required(Role.REGULATOR)
def regulator_recognitions() -> tuple[str, int]:
    session = db()
    partners = {partner.id: partner for partner in recognition.list_partners(session)}
    found = recognition.list_recognitions(session, limit=200)
    return render("recognitions.html", recognitions=found, partners=partners)


@bp.get("/agreements")
def agreements_in_force() -> tuple[str, int]:
    """The public list of agreements in force, in the portal's layout and language."""
    session = db()
    partners = {partner.id: partner for partner in recognition.list_partners(session)}
    agreements = [
        (agreement, partners[agreement.partner_id], recognition_schemas.agreement_terms(agreement))
        for agreement in recognition.agreements_in_force(session)
    ]
    return render("agreements_in_force.html", agreements=agreements)
