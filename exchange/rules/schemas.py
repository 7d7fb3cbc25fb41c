"""Wire formats of accounting rules and demands, and how a footprint cites a rule.

A PACT footprint cites one of the programme's rules in
``pcf.productOrSectorSpecificRules`` as
``{"operator": "Other", "otherOperatorName": PROGRAMME_NAME, "ruleNames": [<rule code>]}``;
entries of other operators are someone else's rules and are not checked here. PACT v3 has
no field for the system boundary or the life-cycle stages covered, so a footprint states
them in a data model extension whose ``dataSchema`` is :data:`BOUNDARY_SCHEMA`, with
``data`` = ``{"systemBoundary": "cradle-to-gate", "lifeCycleStages": ["production", ...]}``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from decimal import Decimal
from typing import Any, Final, get_args

from exchange import quantities
from exchange.errors import ValidationFailed
from exchange.pact_wire import CarbonFootprint
from exchange.rules.models import AccountingRule, RuleDemand, Stage, SystemBoundary

PROGRAMME_NAME: Final = "Hainan Product Carbon Footprint Programme"
BOUNDARY_SCHEMA: Final = "urn:footprint-exchange:schema:accounting-boundary:v1"
# PACT's declaredUnitOfMeasurement values, read off the wire model itself.
DECLARED_UNITS: Final[tuple[str, ...]] = get_args(
    CarbonFootprint.model_fields["declared_unit_of_measurement"].annotation
)
CODE_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclasses.dataclass(frozen=True, slots=True)
class RuleInput:
    code: str
    title: str
    classifications: list[str]
    standard_basis: str
    declared_unit: str
    system_boundary: SystemBoundary
    required_stages: list[Stage]
    min_primary_data_share: Decimal | None
    max_dqr: Decimal | None


def _choices(kind: Any) -> str:
    return ", ".join(member.value for member in kind)


def parse_rule(data: object) -> RuleInput:
    """A proposed rule; every bad field is reported together."""
    if not isinstance(data, dict):
        raise ValidationFailed("a rule is a JSON object")
    errors: list[dict[str, str]] = []

    def text(name: str, limit: int) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append({"field": name, "message": "a non-empty string is required"})
            return ""
        if len(value.strip()) > limit:
            errors.append({"field": name, "message": f"at most {limit} characters"})
        return value.strip()

    code = text("code", 64)
    if code and not CODE_PATTERN.match(code):
        errors.append({"field": "code", "message": "letters, digits and . _ - only"})
    title = text("title", 300)
    standard_basis = text("standardBasis", 300)
    declared_unit = text("declaredUnit", 32)
    if declared_unit and declared_unit not in DECLARED_UNITS:
        errors.append(
            {"field": "declaredUnit", "message": f"a PACT unit: {', '.join(DECLARED_UNITS)}"}
        )
    boundary_text = text("systemBoundary", 32)
    boundary = None
    if boundary_text:
        try:
            boundary = SystemBoundary(boundary_text)
        except ValueError:
            errors.append({"field": "systemBoundary", "message": _choices(SystemBoundary)})

    classifications = data.get("productClassifications", [])
    if not isinstance(classifications, list) or not all(
        isinstance(urn, str) and urn.lower().startswith("urn:") and len(urn) <= 300
        for urn in classifications
    ):
        errors.append({"field": "productClassifications", "message": "a list of URNs"})
        classifications = []
    stages: list[Stage] = []
    raw_stages = data.get("requiredStages", [])
    if not isinstance(raw_stages, list):
        errors.append({"field": "requiredStages", "message": "a list of stages"})
        raw_stages = []
    for position, stage in enumerate(raw_stages):
        try:
            stages.append(Stage(stage))
        except ValueError:
            errors.append({"field": f"requiredStages.{position}", "message": _choices(Stage)})

    floors: dict[str, Decimal | None] = {}
    for name, high in (("minPrimaryDataShare", Decimal(100)), ("maxDqr", Decimal(5))):
        value = data.get(name)
        floors[name] = None
        if value is None:
            continue
        try:
            number = quantities.parse(value)
        except ValueError as exc:
            errors.append({"field": name, "message": str(exc)})
            continue
        if not Decimal(0) <= number <= high:
            errors.append({"field": name, "message": f"from 0 to {high}"})
        floors[name] = number
    if errors:
        raise ValidationFailed("the rule is not valid", details=errors)
    assert boundary is not None
    return RuleInput(
        code=code,
        title=title,
        classifications=list(dict.fromkeys(classifications)),
        standard_basis=standard_basis,
        declared_unit=declared_unit,
        system_boundary=boundary,
        required_stages=list(dict.fromkeys(stages)),
        min_primary_data_share=floors["minPrimaryDataShare"],
        max_dqr=floors["maxDqr"],
    )


def classifications_of(rule: AccountingRule) -> list[str]:
    return list(json.loads(rule.classifications_json))


def stages_of(rule: AccountingRule) -> list[Stage]:
    return [Stage(stage) for stage in json.loads(rule.required_stages_json)]


def rule_json(rule: AccountingRule) -> dict[str, Any]:
    return {
        **rule.content(),
        "status": rule.status.value,
        "statusComment": rule.status_comment,
        "statusChangedAt": rule.status_changed_at.isoformat(),
        "citation": {
            "operator": "Other",
            "otherOperatorName": PROGRAMME_NAME,
            "ruleNames": [rule.code],
        },
    }


def demand_json(demand: RuleDemand) -> dict[str, Any]:
    return {
        "id": demand.id,
        "category": demand.category,
        "classification": demand.classification,
        "description": demand.description,
        "requestedBy": demand.requested_by_id,
        "ruleCode": demand.rule_code,
        "createdAt": demand.created_at.isoformat(),
    }
