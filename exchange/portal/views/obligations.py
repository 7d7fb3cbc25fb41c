"""What the regime asks of companies, in the portal: the regulator's disclosure requirements
and compliance overview; a company's own obligations and reminders, its trade exports and
carbon-inclusion reduction of a record; and the public green-procurement list. Thin pages
over exchange/disclosure, exchange/trade and exchange/scenarios, whose checks apply."""

from __future__ import annotations

import json
from typing import Any, Final

from flask import current_app, request
from werkzeug.wrappers import Response

from exchange import web
from exchange.db import utcnow
from exchange.disclosure import schemas as disclosure_schemas
from exchange.disclosure import services as disclosure
from exchange.disclosure.models import ComplianceState, ContentLevel, DeadlineKind, Manner
from exchange.errors import ExchangeError
from exchange.footprints import services as footprints
from exchange.log.services import ensure_checkpoint
from exchange.organisations.models import Role
from exchange.organisations.schemas import parse
from exchange.portal import services as portal
from exchange.portal.security import roles_required
from exchange.portal.views.common import (
    RECORD_ROLES,
    bp,
    db,
    done,
    form_text,
    principal,
    render,
)
from exchange.scenarios import schemas as scenario_schemas
from exchange.scenarios import services as scenarios
from exchange.trade import services as trade

EXPORTS: Final = {
    "battery-declaration": ("EU battery carbon-footprint declaration", trade.battery_declaration),
    "cbam-report": ("CBAM embedded-emissions report", trade.cbam_report),
}


def _lines(name: str) -> list[str]:
    return [line.strip() for line in form_text(name).splitlines() if line.strip()]


def _optional(name: str, limit: int = 40) -> str | None:
    return form_text(name, limit).strip() or None


# --- the regulator ----------------------------------------------------------------------------


@bp.get("/regulator/disclosure")
@roles_required(Role.REGULATOR)
def regulator_disclosure() -> tuple[str, int]:
    state_text = request.args.get("state") or None
    state = ComplianceState(state_text) if state_text in set(ComplianceState) else None
    entries = disclosure.overview(db(), principal(), now=utcnow(), state=state)
    return render(
        "disclosure_overview.html",
        overview=disclosure_schemas.overview_json(entries),
        requirements=disclosure.list_requirements(db()),
        state=state.value if state else "",
        states=list(ComplianceState),
        levels=list(ContentLevel),
        manners=list(Manner),
        kinds=list(DeadlineKind),
    )


@bp.post("/regulator/disclosure")
@roles_required(Role.REGULATOR)
def regulator_define_requirement() -> Response:
    body: dict[str, Any] = {
        "title": form_text("title", 400).strip(),
        "basis": form_text("basis", 6000).strip(),
        "scope": {
            "category": _optional("category", 400),
            "productIds": _lines("productIds"),
            "organisationIds": _lines("organisationIds"),
        },
        "content": {"level": form_text("level", 40), "fields": _lines("fields")},
        "manner": form_text("manner", 40),
        "deadline": {
            "kind": form_text("kind", 40),
            "month": _optional("month"),
            "day": _optional("day"),
            "withinDays": _optional("withinDays"),
            "dueSoonDays": _optional("dueSoonDays") or "30",
        },
    }
    if effective_from := _optional("effectiveFrom"):
        body["effectiveFrom"] = f"{effective_from}T00:00:00Z"
    requirement = parse(disclosure_schemas.RequirementRequest, body)
    disclosure.define_requirement(db(), principal(), requirement.to_new(), now=utcnow())
    db().commit()
    return done("Requirement defined.", "portal.regulator_disclosure")


# --- companies --------------------------------------------------------------------------------


@bp.get("/compliance")
@roles_required(*RECORD_ROLES)
def compliance() -> tuple[str, int]:
    """What is required of us: each obligation, its state and deadline, and what is missing."""
    obligations = disclosure.my_compliance(db(), principal(), now=utcnow())
    reminders = disclosure.reminders_of(db(), principal(), limit=50)
    return render(
        "compliance.html",
        obligations=[disclosure_schemas.obligation_json(item) for item in obligations],
        reminders=[disclosure_schemas.reminder_json(item) for item in reminders],
    )


@bp.get("/disclosure-report")
@roles_required(*RECORD_ROLES)
def disclosure_report() -> tuple[str, int]:
    """Our own disclosure report, in full, citing a signed log checkpoint."""
    session, viewer = db(), principal()
    checkpoint = ensure_checkpoint(
        session, web.exchange_key(), str(current_app.config["EXCHANGE_ORIGIN"])
    )
    report = scenarios.disclosure_report(
        session, viewer, viewer.organisation_id, log_size=checkpoint.tree_size
    )
    indexes = [item.record.log_index for item in report.records]
    indexes += [entry.certificate.log_index for entry in report.certificates]
    document = scenario_schemas.disclosure_json(
        report, scenarios.leaf_hashes(session, indexes), checkpoint.note
    )
    session.commit()  # the checkpoint it cites may be new
    return render("disclosure_report.html", document=document)


@bp.get("/records/<id:record_id>/exports/<any('battery-declaration', 'cbam-report'):kind>")
@roles_required(*RECORD_ROLES)
def record_export(record_id: str, kind: str) -> tuple[str, int]:
    """A trade export of a record; when data is missing, which fields and why (422)."""
    title, exporter = EXPORTS[kind]
    record = footprints.get_record(db(), principal(), record_id)
    try:
        export = exporter(
            db(), record, key=web.exchange_key(), origin=current_app.config["EXCHANGE_ORIGIN"]
        )
    except trade.MissingData as missing:
        db().rollback()
        return render(
            "export.html", missing.status, title=title, record_id=record.id, missing=missing
        )
    db().commit()  # the checkpoint it cites may be new
    return render(
        "export.html",
        title=title,
        record_id=record.id,
        missing=None,
        document=json.dumps(export.document, indent=2, ensure_ascii=False),
    )


@bp.get("/records/<id:record_id>/reduction")
@roles_required(*RECORD_ROLES)
def record_reduction(record_id: str) -> tuple[str, int]:
    """The carbon-inclusion reduction of a record against its category's benchmark."""
    arguments = {"record": record_id}
    for name in ("quantity", "quantityUnit"):
        if request.args.get(name):
            arguments[name] = request.args[name][:100]
    query = scenario_schemas.reduction_query(arguments)
    try:
        found = scenarios.reduction(db(), principal(), query)
    except ExchangeError as error:
        if error.status == 404:
            raise
        return render(
            "reduction.html", error.status, record_id=record_id, document=None, error=error
        )
    return render(
        "reduction.html",
        record_id=record_id,
        document=scenario_schemas.reduction_json(found),
        error=None,
    )


# --- public -----------------------------------------------------------------------------------


@bp.get("/procurement")
def procurement() -> tuple[str, int]:
    """The green-procurement list of a category, with its CSV export."""
    arguments = {
        name: request.args[name][:300]
        for name in ("category", "grade", "rule", "region")
        if request.args.get(name)
    }
    document = None
    if "category" in arguments:
        query = scenario_schemas.procurement_query(arguments)
        document = scenario_schemas.procurement_json(scenarios.procurement_list(db(), query))
    return render(
        "procurement.html",
        document=document,
        categories=portal.certified_categories(db()),
        arguments=arguments,
        csv_query={**arguments, "format": "csv"},
    )
