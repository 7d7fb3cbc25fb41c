"""The rules API: proposals, the regulator's transitions, the demand catalogue, and the
rule check of records submitted through ``POST /api/v1/footprints``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.organisations.models import Role
from exchange.rules.models import AccountingRule
from exchange.rules.schemas import BOUNDARY_SCHEMA, PROGRAMME_NAME
from tests.factories import Member, add_member, json_of

CLASSIFICATION = "urn:pact:productclassification:cas:1456"


@pytest.fixture
def regulator(app: Flask) -> Member:
    return add_member(app, Role.REGULATOR)


@pytest.fixture
def supplier(app: Flask) -> Member:
    return add_member(app, Role.SUPPLIER)


def proposal(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "HN-PCR-001",
        "title": "Bioethanol, cradle to gate",
        "productClassifications": [CLASSIFICATION],
        "standardBasis": "GB/T 24067-2024",
        "declaredUnit": "kilogram",
        "systemBoundary": "cradle-to-gate",
        "requiredStages": ["raw-material-acquisition", "production"],
        "minPrimaryDataShare": "10",
        "maxDqr": "3.5",
    }
    body.update(changes)
    return body


def move(client: FlaskClient, member: Member, code: str, status: str) -> Any:
    return client.post(
        f"/api/v1/rules/{code}/status",
        json={"status": status, "comment": f"to {status}"},
        headers=member.headers,
    )


def listed_rule(client: FlaskClient, supplier: Member, regulator: Member, **changes: Any) -> str:
    code: str = json_of(
        client.post("/api/v1/rules", json=proposal(**changes), headers=supplier.headers)
    )["code"]
    assert move(client, regulator, code, "assessed").status_code == 200
    assert move(client, regulator, code, "listed").status_code == 200
    return code


def test_anyone_proposes_only_the_regulator_moves_a_rule_and_moves_are_logged(
    client: FlaskClient, app: Flask, supplier: Member, regulator: Member
) -> None:
    created = client.post("/api/v1/rules", json=proposal(), headers=supplier.headers)
    assert created.status_code == 201, json_of(created)
    assert json_of(created)["status"] == "proposed"
    assert json_of(created)["citation"] == {
        "operator": "Other",
        "otherOperatorName": PROGRAMME_NAME,
        "ruleNames": ["HN-PCR-001"],
    }
    assert (
        client.post("/api/v1/rules", json=proposal(), headers=supplier.headers).status_code == 409
    )

    assert move(client, supplier, "HN-PCR-001", "assessed").status_code == 403
    skipped = move(client, regulator, "HN-PCR-001", "listed")
    assert skipped.status_code == 409
    assert "assessed" in json_of(skipped)["message"]
    assert json_of(move(client, regulator, "HN-PCR-001", "assessed"))["status"] == "assessed"
    listed = json_of(move(client, regulator, "HN-PCR-001", "listed"))
    assert (listed["status"], listed["statusComment"]) == ("listed", "to listed")
    assert json_of(move(client, regulator, "HN-PCR-001", "withdrawn"))["status"] == "withdrawn"
    assert move(client, regulator, "HN-PCR-001", "listed").status_code == 409

    assert [r["code"] for r in json_of(client.get("/api/v1/rules?status=withdrawn"))["data"]] == [
        "HN-PCR-001"
    ]
    decisions = json_of(client.get("/api/v1/rules/HN-PCR-001"))["decisions"]
    assert [(d["status"], d["decidedBy"]) for d in decisions] == [
        ("assessed", regulator.organisation_id),
        ("listed", regulator.organisation_id),
        ("withdrawn", regulator.organisation_id),
    ]
    assert len({d["logIndex"] for d in decisions}) == 3
    audit = app.test_cli_runner().invoke(args=["audit"])
    assert audit.exit_code == 0, audit.output
    assert json_of(client.get("/api/v1/rules?status=listed"))["data"] == []
    assert json_of(client.get("/api/v1/rules/HN-PCR-001"))["maxDqr"] == "3.5"
    assert client.get("/api/v1/rules/NOPE").status_code == 404


def test_a_bad_proposal_names_its_fields(client: FlaskClient, supplier: Member) -> None:
    response = client.post(
        "/api/v1/rules",
        json=proposal(declaredUnit="bushel", systemBoundary="cradle", requiredStages=["harvest"]),
        headers=supplier.headers,
    )
    assert response.status_code == 400
    assert [d["field"] for d in json_of(response)["details"]] == [
        "declaredUnit",
        "systemBoundary",
        "requiredStages.0",
    ]


def test_demands_are_open_until_a_listed_rule_covers_them(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    for category, classification in (
        ("Bioethanol", CLASSIFICATION),
        ("Coconut water", "urn:pact:productclassification:un-cpc:2131"),
    ):
        created = client.post(
            "/api/v1/rules/demands",
            json={"category": category, "classification": classification, "description": "x"},
            headers=supplier.headers,
        )
        assert created.status_code == 201, json_of(created)
    assert (
        client.post("/api/v1/rules/demands", json={}, headers=supplier.headers).status_code == 400
    )
    listed_rule(client, supplier, regulator)
    demands = json_of(client.get("/api/v1/rules/demands"))["data"]
    assert [(d["category"], d["ruleCode"]) for d in demands] == [
        ("Bioethanol", "HN-PCR-001"),
        ("Coconut water", None),
    ]
    still_open = json_of(client.get("/api/v1/rules/demands?open=true"))["data"]
    assert [d["category"] for d in still_open] == ["Coconut water"]


def citing_envelope(member: Member, code: str, **pcf: Any) -> dict[str, Any]:
    footprint = member.footprint()
    footprint["pcf"]["productOrSectorSpecificRules"] = [
        {"operator": "Other", "otherOperatorName": PROGRAMME_NAME, "ruleNames": [code]}
    ]
    footprint["pcf"].update(pcf)
    footprint["extensions"] = [
        {
            "specVersion": "2.0.0",
            "dataSchema": BOUNDARY_SCHEMA,
            "data": {
                "systemBoundary": "cradle-to-gate",
                "lifeCycleStages": ["raw-material-acquisition", "production"],
            },
        }
    ]
    return member.key.sign_footprint(footprint)


def test_a_record_breaking_its_rule_is_refused_field_by_field(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    code = listed_rule(client, supplier, regulator)
    good = client.post(
        "/api/v1/footprints", json=citing_envelope(supplier, code), headers=supplier.headers
    )
    assert good.status_code == 201, json_of(good)

    bad = client.post(
        "/api/v1/footprints",
        json=citing_envelope(
            supplier, code, declaredUnitOfMeasurement="liter", primaryDataShare="5"
        ),
        headers=supplier.headers,
    )
    assert bad.status_code == 400
    assert json_of(bad)["code"] == "BadRequest"
    assert [d["field"] for d in json_of(bad)["details"]] == [
        "pcf.declaredUnitOfMeasurement",
        "pcf.primaryDataShare",
    ]


def test_a_batch_answers_rule_violations_item_by_item(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    code = listed_rule(client, supplier, regulator)
    items = [
        citing_envelope(supplier, code),
        citing_envelope(supplier, "HN-PCR-404"),
        supplier.envelope(),  # cites no rule of ours
    ]
    response = client.post("/api/v1/footprints", json={"items": items}, headers=supplier.headers)
    assert response.status_code == 207
    results = json_of(response)["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "created"]
    assert results[1]["error"]["details"] == [
        {
            "field": "pcf.productOrSectorSpecificRules.0.ruleNames.0",
            "message": "no rule HN-PCR-404 on the programme's list",
        }
    ]


def test_a_record_citing_a_withdrawn_rule_is_refused(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    code = listed_rule(client, supplier, regulator)
    move(client, regulator, code, "withdrawn")
    refused = client.post(
        "/api/v1/footprints", json=citing_envelope(supplier, code), headers=supplier.headers
    )
    assert refused.status_code == 400
    assert "withdrawn" in json_of(refused)["details"][0]["message"]


def test_the_log_commits_to_the_listed_rules_content(
    client: FlaskClient, app: Flask, supplier: Member, regulator: Member
) -> None:
    code = listed_rule(client, supplier, regulator)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit"]).exit_code == 0
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(
            sa.update(AccountingRule)
            .where(AccountingRule.code == code)
            .values(max_dqr=Decimal("5"))
        )
    audit = runner.invoke(args=["audit"])
    assert audit.exit_code == 1
    assert "audit FAILED" in audit.output


def test_cli_lists_rules_and_demands(
    client: FlaskClient, app: Flask, supplier: Member, regulator: Member
) -> None:
    listed_rule(client, supplier, regulator)
    client.post("/api/v1/rules", json=proposal(code="HN-PCR-002"), headers=supplier.headers)
    client.post(
        "/api/v1/rules/demands",
        json={"category": "Tea", "description": "black tea, per kg"},
        headers=supplier.headers,
    )
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["rules", "list", "--status", "listed"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split()[:4] == ["HN-PCR-001", "listed", "kilogram", "cradle-to-gate"]
    assert "HN-PCR-002" not in listed.output
    assert "HN-PCR-002" in runner.invoke(args=["rules", "list"]).output
    demands = runner.invoke(args=["rules", "demands", "--open"])
    assert "open" in demands.output
    assert "Tea" in demands.output
