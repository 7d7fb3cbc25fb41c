"""Pure rule checks: a footprint against the listed rule it cites, field by field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from exchange.pact_wire import ProductFootprint, parse_product_footprint
from exchange.rules.check import cited_codes, violations
from exchange.rules.models import AccountingRule, RuleStatus, SystemBoundary
from exchange.rules.schemas import BOUNDARY_SCHEMA, PROGRAMME_NAME
from tests.factories import pact_example

CLASSIFICATION = "urn:pact:productclassification:cas:1456"


def make_rule(**changes: Any) -> AccountingRule:
    values: dict[str, Any] = {
        "code": "HN-PCR-001",
        "title": "Bioethanol",
        "classifications_json": json.dumps([CLASSIFICATION]),
        "standard_basis": "GB/T 24067-2024",
        "declared_unit": "kilogram",
        "system_boundary": SystemBoundary.CRADLE_TO_GATE,
        "required_stages_json": json.dumps(["raw-material-acquisition", "production"]),
        "min_primary_data_share": Decimal("10"),
        "max_dqr": Decimal("3"),
        "status": RuleStatus.LISTED,
    }
    values.update(changes)
    return AccountingRule(**values)


def citing(*codes: str, boundary: dict[str, Any] | None = None, **pcf: Any) -> ProductFootprint:
    document = pact_example()
    document["pcf"]["productOrSectorSpecificRules"] = [
        {"operator": "Other", "otherOperatorName": PROGRAMME_NAME, "ruleNames": list(codes)}
    ]
    document["pcf"].update(pcf)
    data = boundary or {
        "systemBoundary": "cradle-to-gate",
        "lifeCycleStages": ["raw-material-acquisition", "production"],
    }
    document["extensions"] = [{"specVersion": "2.0.0", "dataSchema": BOUNDARY_SCHEMA, "data": data}]
    return parse_product_footprint(document)


def fields(errors: list[dict[str, str]]) -> list[str]:
    return [error["field"] for error in errors]


def test_a_compliant_footprint_has_no_violations() -> None:
    footprint = citing("HN-PCR-001")
    assert cited_codes(footprint) == [
        ("pcf.productOrSectorSpecificRules.0.ruleNames.0", "HN-PCR-001")
    ]
    # The example: per kilogram, primary data 12.9 %, DQRs 1.5 / 3.2 / 2.4 (ceiling raised).
    assert violations(footprint, {"HN-PCR-001": make_rule(max_dqr=Decimal("3.2"))}) == []


def test_each_broken_requirement_is_its_own_field_error() -> None:
    footprint = citing(
        "HN-PCR-001",
        boundary={"systemBoundary": "cradle-to-grave", "lifeCycleStages": ["production"]},
        declaredUnitOfMeasurement="liter",
        primaryDataShare="9.99",
    )
    errors = violations(footprint, {"HN-PCR-001": make_rule()})
    assert fields(errors) == [
        "pcf.declaredUnitOfMeasurement",
        "extensions.0.data.systemBoundary",
        "extensions.0.data.lifeCycleStages",
        "pcf.primaryDataShare",
        "pcf.dqi.geographicalDQR",
    ]
    assert "raw-material-acquisition" in errors[2]["message"]
    assert errors[3]["message"] == "rule HN-PCR-001 needs at least 10 % primary data, not 9.99"
    assert errors[4]["message"] == "rule HN-PCR-001 allows at most 3, not 3.2"


def test_a_missing_boundary_extension_classification_or_quality_data_is_a_violation() -> None:
    document = pact_example()
    document["pcf"]["productOrSectorSpecificRules"] = [
        {"operator": "Other", "otherOperatorName": PROGRAMME_NAME, "ruleNames": ["HN-PCR-001"]}
    ]
    del document["pcf"]["primaryDataShare"], document["pcf"]["dqi"]
    document["productClassifications"] = ["urn:pact:productclassification:cas:9999"]
    errors = violations(parse_product_footprint(document), {"HN-PCR-001": make_rule()})
    assert fields(errors) == [
        "productClassifications",
        "extensions",
        "pcf.primaryDataShare",
        "pcf.dqi",
    ]


def test_unknown_and_unlisted_rules_are_refused() -> None:
    footprint = citing("HN-PCR-404", "HN-PCR-001", "HN-PCR-002")
    rules = {
        "HN-PCR-001": make_rule(status=RuleStatus.WITHDRAWN),
        "HN-PCR-002": make_rule(code="HN-PCR-002", status=RuleStatus.ASSESSED),
    }
    errors = violations(footprint, rules)
    assert fields(errors) == [
        "pcf.productOrSectorSpecificRules.0.ruleNames.0",
        "pcf.productOrSectorSpecificRules.0.ruleNames.1",
        "pcf.productOrSectorSpecificRules.0.ruleNames.2",
    ]
    assert "no rule HN-PCR-404" in errors[0]["message"]
    assert "withdrawn" in errors[1]["message"]
    assert "assessed" in errors[2]["message"]


def test_rules_of_other_operators_are_not_ours_to_check() -> None:
    document = pact_example()  # cites a TfS guideline as operator "Other"
    footprint = parse_product_footprint(document)
    assert cited_codes(footprint) == []
    assert violations(footprint, {}) == []
    document["pcf"]["productOrSectorSpecificRules"] = [
        {"operator": "Other", "otherOperatorName": "Another Programme", "ruleNames": ["X"]}
    ]
    assert violations(parse_product_footprint(document), {}) == []
