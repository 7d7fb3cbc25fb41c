"""The regulator: dashboard, factor declarations and rule proposals to review, grading
schemes and accreditation of certification bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import g, request
from werkzeug.wrappers import Response

from exchange import web
from exchange.errors import ValidationFailed
from exchange.factors import services as factors
from exchange.factors.models import Decision, FactorStatus
from exchange.factors.schemas import factor_json
from exchange.labels import services as labels
from exchange.labels.models import AccreditationStatus, GradingMethod
from exchange.labels.schemas import SchemeRequest
from exchange.organisations.models import Organisation, OrganisationRole, Role
from exchange.organisations.schemas import parse
from exchange.portal import charts, i18n, names
from exchange.portal import services as portal
from exchange.portal.security import roles_required
from exchange.portal.views.common import bp, db, done, form_text, principal, render
from exchange.rules import services as rules
from exchange.rules.models import RuleStatus
from exchange.rules.schemas import rule_json


@bp.get("/regulator")
@roles_required(Role.REGULATOR)
def regulator_dashboard() -> tuple[str, int]:
    figures = portal.dashboard(db(), principal())
    language = g.lang
    by_category = _named(figures.by_category, lambda urn: names.category_name(urn, language))
    by_region = _named(figures.by_region, lambda code: names.region_name(code, language))
    grades: dict[str, dict[int, int]] = {}
    for category, counts in figures.grades.items():
        merged = grades.setdefault(names.category_name(category, language), {})
        for grade, count in counts.items():
            merged[grade] = merged.get(grade, 0) + count
    records = i18n.translate("Records", language)
    certificates = i18n.translate("Certificates", language)
    return render(
        "dashboard.html",
        figures=figures,
        tiles=figures.figures,
        per_month=charts.stacked_columns(
            i18n.translate("Records and certificates per month", language),
            {records: figures.records_per_month, certificates: figures.certificates_per_month},
        ),
        by_category=charts.stacked_columns(
            i18n.translate("Records by category and month", language), by_category
        ),
        by_region=charts.stacked_columns(
            i18n.translate("Records by region and month", language), by_region
        ),
        grades=charts.grade_bars(
            i18n.translate("Grade distribution per category", language), grades
        ),
    )


def _named(
    series: dict[str, dict[str, int]], name: Callable[[str], str]
) -> dict[str, dict[str, int]]:
    """Series keyed by what people call them; codes that share a name are added up."""
    named: dict[str, dict[str, int]] = {}
    for code, counts in series.items():
        merged = named.setdefault(name(code), {})
        for period, count in counts.items():
            merged[period] = merged.get(period, 0) + count
    return named


@bp.get("/regulator/factors")
@roles_required(Role.REGULATOR)
def regulator_factors() -> tuple[str, int]:
    pending = factors.search(
        db(), principal(), factors.Filters(status=FactorStatus.SUBMITTED), limit=200
    )
    return render(
        "factors.html",
        factors=[factor_json(item) for item in pending],
        decisions=list(Decision),
    )


@bp.post("/regulator/factors/<id:factor_id>/review")
@roles_required(Role.REGULATOR)
def regulator_review_factor(factor_id: str) -> Response:
    decision = web.choice_field(request.form, "decision", Decision)
    factors.review(
        db(),
        principal(),
        factor_id,
        decision=decision,
        comment=form_text("comment", 2000),
    )
    db().commit()
    return done("Decision recorded.", "portal.regulator_factors")


@bp.get("/regulator/rules")
@roles_required(Role.REGULATOR)
def regulator_rules() -> tuple[str, int]:
    found = rules.list_rules(db(), status=None, text=None)
    return render(
        "rules.html",
        rules=[rule_json(rule) for rule in found],
        statuses=[RuleStatus.ASSESSED, RuleStatus.LISTED, RuleStatus.WITHDRAWN],
    )


@bp.post("/regulator/rules/<rulecode:code>/status")
@roles_required(Role.REGULATOR)
def regulator_rule_status(code: str) -> Response:
    status = web.choice_field(request.form, "status", RuleStatus)
    rules.transition(
        db(),
        principal(),
        code,
        status=status,
        comment=form_text("comment", 2000),
    )
    db().commit()
    return done("Decision recorded.", "portal.regulator_rules")


@bp.get("/regulator/grading")
@roles_required(Role.REGULATOR)
def regulator_grading() -> tuple[str, int]:
    return render("grading.html", schemes=labels.schemes(db()), methods=list(GradingMethod))


def _scheme_parameters(method: str) -> dict[str, Any]:
    """Benchmark-ratio parameters from two simple fields, or any method's as JSON."""
    text = form_text("parameters", 20_000).strip()
    if text:
        try:
            parameters = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(
                "parameters are not JSON", details=[{"field": "parameters", "message": str(exc)}]
            ) from exc
        if not isinstance(parameters, dict):
            raise ValidationFailed("parameters are a JSON object")
        return parameters
    if method != GradingMethod.BENCHMARK.value:
        raise ValidationFailed(
            "give this method's parameters as JSON",
            details=[{"field": "parameters", "message": "required"}],
        )
    cut_points = [item.strip() for item in form_text("cutPoints", 200).split(",") if item.strip()]
    try:
        for item in cut_points:
            Decimal(item)
    except InvalidOperation as exc:
        raise ValidationFailed("cut points are decimals separated by commas") from exc
    return {"benchmark": form_text("benchmark", 40).strip(), "cutPoints": cut_points}


@bp.post("/regulator/grading")
@roles_required(Role.REGULATOR)
def regulator_publish_scheme() -> Response:
    method = form_text("method", 32)
    body = parse(
        SchemeRequest,
        {
            "category": form_text("category", 300).strip(),
            "method": method,
            "unit": form_text("unit", 32).strip(),
            "parameters": _scheme_parameters(method),
        },
    )
    labels.publish_scheme(
        db(),
        principal(),
        category=body.category,
        method=body.method,
        unit=body.unit,
        parameters=body.parameters,
    )
    db().commit()
    return done("Scheme published.", "portal.regulator_grading")


@bp.get("/regulator/accreditation")
@roles_required(Role.REGULATOR)
def regulator_accreditation() -> tuple[str, int]:
    session = db()
    bodies = session.scalars(
        sa.select(Organisation)
        .join(OrganisationRole, OrganisationRole.organisation_id == Organisation.id)
        .where(OrganisationRole.role == Role.CERTIFICATION_BODY)
        .order_by(Organisation.name)
    ).all()
    rows = [
        (
            body,
            labels.accreditation_status(session, body.id),
            labels.accreditation_history(session, body.id),
        )
        for body in bodies
    ]
    return render("accreditation.html", rows=rows, statuses=list(AccreditationStatus))


@bp.post("/regulator/accreditation/<id:body_id>")
@roles_required(Role.REGULATOR)
def regulator_accredit(body_id: str) -> Response:
    status = web.choice_field(request.form, "status", AccreditationStatus)
    labels.set_accreditation(
        db(),
        principal(),
        body_id=body_id,
        status=status,
        reason=form_text("reason", 500),
    )
    db().commit()
    return done("Decision recorded.", "portal.regulator_accreditation")
