"""The factor API over the Flask test client: declaration, review permissions and
visibility, versions, search, conversion, import reports, export, and the log's audit."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.factors import services
from exchange.factors.models import Factor, FactorReview
from exchange.log.models import LogEntry
from exchange.organisations.models import Role
from tests.factories import Member, add_member, json_of


@pytest.fixture
def regulator(app: Flask) -> Member:
    return add_member(app, Role.REGULATOR)


@pytest.fixture
def supplier(app: Flask) -> Member:
    return add_member(app, Role.SUPPLIER)


@pytest.fixture
def other(app: Flask) -> Member:
    return add_member(app, Role.CHAIN_OWNER)


def declaration(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "acme.coconut-shell-charcoal",
        "kind": "product",
        "name": "Coconut shell charcoal, cradle to gate",
        "category": "material",
        "value": "1.25",
        "unit": "kg",
        "region": "CN-HI",
        "year": 2024,
        "gwpSet": "AR6",
        "scope": "life-cycle",
        "source": "ACME LCA study 2024",
        "licence": "CC BY 4.0",
        "evidence": "https://example.com/acme-lca.pdf",
    }
    body.update(changes)
    return body


def declare(client: FlaskClient, member: Member, **changes: Any) -> Any:
    return client.post("/api/v1/factors", json=declaration(**changes), headers=member.headers)


def decide(
    client: FlaskClient, member: Member, factor_id: str, decision: str, comment: str = ""
) -> Any:
    return client.post(
        f"/api/v1/factors/{factor_id}/review",
        json={"decision": decision, "comment": comment},
        headers=member.headers,
    )


def codes(response: Any) -> list[tuple[str, int, str]]:
    return [(f["code"], f["version"], f["status"]) for f in json_of(response)["data"]]


def review_entries(app: Flask) -> int:
    with transaction(app.extensions["exchange.sessions"]) as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(LogEntry)
            .where(LogEntry.kind == FactorReview.log.kind)
        )
    return count or 0


def load_starter(app: Flask) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.load_starter(session)


def test_a_declaration_is_pending_and_seen_only_by_its_declarant_and_the_regulator(
    client: FlaskClient, supplier: Member, other: Member, regulator: Member
) -> None:
    created = declare(client, supplier)
    assert created.status_code == 201, json_of(created)
    factor = json_of(created)
    assert (factor["status"], factor["version"], factor["value"]) == ("submitted", 1, "1.25")
    assert factor["declaredBy"] == supplier.organisation_id

    assert (
        client.get(f"/api/v1/factors/{factor['id']}", headers=supplier.headers).status_code == 200
    )
    assert (
        client.get(f"/api/v1/factors/{factor['id']}", headers=regulator.headers).status_code == 200
    )
    assert client.get(f"/api/v1/factors/{factor['id']}", headers=other.headers).status_code == 404
    assert client.get(f"/api/v1/factors/{factor['id']}").status_code == 404

    assert codes(client.get("/api/v1/factors", headers=supplier.headers)) == [
        ("acme.coconut-shell-charcoal", 1, "submitted")
    ]
    assert codes(client.get("/api/v1/factors", headers=other.headers)) == []
    assert codes(client.get("/api/v1/factors")) == []
    assert len(codes(client.get("/api/v1/factors", headers=regulator.headers))) == 1


def test_only_the_regulator_decides_and_every_decision_is_logged(
    client: FlaskClient, app: Flask, supplier: Member, other: Member, regulator: Member
) -> None:
    factor_id = json_of(declare(client, supplier))["id"]
    for member in (supplier, other):
        refused = decide(client, member, factor_id, "approve")
        assert refused.status_code == 403
        assert json_of(refused)["code"] == "AccessDenied"
    assert review_entries(app) == 0

    approved = decide(client, regulator, factor_id, "approve", "checked against the study")
    assert approved.status_code == 200, json_of(approved)
    assert json_of(approved)["status"] == "approved"
    [review] = json_of(approved)["reviews"]
    assert review["decision"] == "approve"
    assert review["reviewer"] == regulator.organisation_id
    assert review_entries(app) == 1
    # Now everyone, even without a token, sees it.
    assert codes(client.get("/api/v1/factors")) == [("acme.coconut-shell-charcoal", 1, "approved")]
    assert decide(client, regulator, factor_id, "reject", "too late").status_code == 409

    audit = app.test_cli_runner().invoke(args=["audit"])
    assert audit.exit_code == 0, audit.output
    assert "audit ok" in audit.output


def test_return_and_reject_need_a_comment_and_stay_private(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    factor_id = json_of(declare(client, supplier))["id"]
    missing = decide(client, regulator, factor_id, "return")
    assert missing.status_code == 400
    assert json_of(missing)["details"] == [{"field": "comment", "message": "required"}]
    returned = decide(client, regulator, factor_id, "return", "cite the verification report")
    assert json_of(returned)["status"] == "returned"
    assert json_of(returned)["reviews"][0]["comment"] == "cite the verification report"
    assert codes(client.get("/api/v1/factors")) == []
    # The correction is the next version of the same code.
    corrected = declare(client, supplier, evidence="https://example.com/verified.pdf")
    assert json_of(corrected)["version"] == 2
    rejected = decide(client, regulator, json_of(corrected)["id"], "reject", "not representative")
    assert json_of(rejected)["status"] == "rejected"
    assert codes(client.get("/api/v1/factors", headers=supplier.headers)) == [
        ("acme.coconut-shell-charcoal", 2, "rejected"),
        ("acme.coconut-shell-charcoal", 1, "returned"),
    ]


def test_a_correction_supersedes_and_the_old_version_stays_readable(
    client: FlaskClient, app: Flask, supplier: Member, other: Member, regulator: Member
) -> None:
    first = json_of(declare(client, supplier))["id"]
    decide(client, regulator, first, "approve")
    # Only one version at a time is under review, and the code is the declarant's.
    second = declare(client, supplier, value="1.19")
    assert json_of(second)["version"] == 2
    assert declare(client, supplier, value="1.18").status_code == 409
    taken = declare(client, other)
    assert taken.status_code == 409
    assert json_of(taken)["details"][0]["field"] == "code"

    decide(client, regulator, json_of(second)["id"], "approve")
    old = client.get(f"/api/v1/factors/{first}")
    assert old.status_code == 200
    assert json_of(old)["status"] == "retired"
    assert json_of(old)["value"] == "1.25"
    assert [r["decision"] for r in json_of(old)["reviews"]] == ["approve", "retire"]
    assert review_entries(app) == 3
    approved_only = json_of(client.get("/api/v1/factors?status=approved"))["data"]
    assert [(f["version"], f["value"]) for f in approved_only] == [(2, "1.19")]


def test_bad_declarations_name_their_fields(client: FlaskClient, supplier: Member) -> None:
    response = declare(client, supplier, value=1.25, unit="furlong", gwpSet="SAR")
    assert response.status_code == 400
    assert {d["field"] for d in json_of(response)["details"]} == {"value", "unit", "gwpSet"}
    assert client.post("/api/v1/factors", json=declaration()).status_code == 401


def test_search_by_region_year_category_and_text(client: FlaskClient, app: Flask) -> None:
    load_starter(app)
    hainan = json_of(client.get("/api/v1/factors?region=cn-hi&year=2023"))["data"]
    assert [(f["code"], f["value"], f["scope"]) for f in hainan] == [
        ("cn.electricity.hainan.2023", "0.3648", "combustion")
    ]
    electricity = json_of(client.get("/api/v1/factors?category=electricity&limit=100"))["data"]
    assert len(electricity) == 9
    assert {f["unitLabel"] for f in electricity} == {"kg CO2e/kWh"}
    southern = json_of(client.get("/api/v1/factors?q=southern&year=2022"))["data"]
    assert [(f["region"], f["value"]) for f in southern] == [("CN-CSG", "0.3869")]
    page = client.get("/api/v1/factors?category=electricity&limit=4")
    assert len(json_of(page)["data"]) == 4
    assert "offset=4" in json_of(page)["next"]
    assert client.get("/api/v1/factors?status=pending").status_code == 400


def test_a_factor_is_served_per_another_unit_and_gwp_set(client: FlaskClient, app: Flask) -> None:
    load_starter(app)
    grid = json_of(client.get("/api/v1/factors?code=cn.electricity.hainan.2023"))["data"][0]
    # 0.3648 / 3.6 = 0.101333...: twelve places
    per_mj = json_of(client.get(f"/api/v1/factors/{grid['id']}?unit=MJ"))["converted"]
    assert per_mj == {"value": "0.101333333333", "unit": "MJ", "gwpSet": "AR6"}
    per_mwh = json_of(client.get(f"/api/v1/factors/{grid['id']}?unit=MWh&gwpSet=AR4"))["converted"]
    assert per_mwh == {"value": "364.8", "unit": "MWh", "gwpSet": "AR4"}
    wrong = client.get(f"/api/v1/factors/{grid['id']}?unit=kg")
    assert wrong.status_code == 400
    assert "kWh" in json_of(wrong)["message"]
    assert "kg" in json_of(wrong)["message"]

    methane = json_of(client.get("/api/v1/factors?code=ipcc.gwp100.ar6.ch4-fossil"))["data"][0]
    assert methane["value"] == "29.8"
    as_ar5 = json_of(client.get(f"/api/v1/factors/{methane['id']}?gwpSet=AR5"))["converted"]
    assert as_ar5["value"] == "30"


def test_a_total_without_breakdown_is_not_re_expressed(
    client: FlaskClient, supplier: Member, regulator: Member
) -> None:
    factor_id = json_of(declare(client, supplier))["id"]
    decide(client, regulator, factor_id, "approve")
    refused = client.get(f"/api/v1/factors/{factor_id}?gwpSet=AR5")
    assert refused.status_code == 400
    assert "gas breakdown" in json_of(refused)["message"]


MIXED_CSV = """code,kind,name,category,value,unit,region,year,gwpSet,gases,scope,source,licence
test.lpg,activity,LPG combustion,fuel,2.99,kg,CN,2023,AR6,CO2=2.99,combustion,test,CC0
test.bad-unit,activity,Bad unit,fuel,1,furlong,CN,2023,AR6,,combustion,test,CC0
test.truck,activity,Truck transport,transport,0.085,t·km,CN,2023,AR5,,life-cycle,test,CC0
test.bad-sum,activity,Bad sum,fuel,3,kg,CN,2023,AR6,CO2=2.5,combustion,test,CC0
test.no-licence,activity,No licence,fuel,3,kg,CN,2023,AR6,,combustion,test,
"""


def test_import_reports_bad_rows_keeps_good_ones_and_re_import_changes_nothing(
    client: FlaskClient, app: Flask, regulator: Member, supplier: Member
) -> None:
    headers = {**regulator.headers, "Content-Type": "text/csv"}
    first = client.post("/api/v1/factors/import", data=MIXED_CSV, headers=headers)
    assert first.status_code == 207
    report = json_of(first)
    assert (report["created"], report["unchanged"], report["rejected"]) == (2, 0, 3)
    bad = {row["row"]: row for row in report["rows"] if row["status"] == "rejected"}
    # Row numbers as a spreadsheet shows them: the header is row 1.
    assert sorted(bad) == [3, 5, 6]
    assert [e["field"] for e in bad[3]["errors"]] == ["unit"]
    assert [e["field"] for e in bad[5]["errors"]] == ["value"]
    assert [e["field"] for e in bad[6]["errors"]] == ["licence"]
    entries = review_entries(app)
    assert entries == 2

    again = json_of(client.post("/api/v1/factors/import", data=MIXED_CSV, headers=headers))
    assert (again["created"], again["unchanged"], again["rejected"]) == (0, 2, 3)
    assert review_entries(app) == entries
    truck = json_of(client.get("/api/v1/factors?code=test.truck"))["data"]
    assert [(f["unit"], f["value"], f["status"]) for f in truck] == [("t·km", "0.085", "approved")]

    denied = client.post(
        "/api/v1/factors/import",
        data=MIXED_CSV,
        headers={**supplier.headers, "Content-Type": "text/csv"},
    )
    assert denied.status_code == 403


def test_json_import_and_export_round_trip(
    client: FlaskClient, app: Flask, regulator: Member
) -> None:
    rows: list[dict[str, Any]] = [
        {
            "code": "test.steel",
            "kind": "product",
            "name": "Steel billet",
            "category": "material",
            "value": "1.86",  # 1.8 + 0.001 x 30 + 0.0001 x 265 = 1.8565
            "unit": "t",
            "region": "CN",
            "year": 2022,
            "gwpSet": "AR5",
            "gases": {"CO2": "1.8", "CH4-fossil": "0.001", "N2O": "0.0001"},
            "scope": "life-cycle",
            "source": "test",
            "licence": "CC0",
        },
        {"code": "test.broken", "value": "x"},
    ]
    report = json_of(client.post("/api/v1/factors/import", json=rows, headers=regulator.headers))
    assert (report["created"], report["rejected"]) == (1, 1)
    # A changed row without a version number becomes the code's next version.
    rows[0]["value"], rows[0]["gases"] = "1.9", {"CO2": "1.9"}
    report = json_of(
        client.post("/api/v1/factors/import", json=rows[:1], headers=regulator.headers)
    )
    assert report["rows"][0] == {"row": 1, "status": "created", "code": "test.steel", "version": 2}

    exported = client.get("/api/v1/factors/export?format=csv&q=steel")
    assert exported.mimetype == "text/csv"
    lines = exported.get_data(as_text=True).splitlines()
    assert len(lines) == 3  # header, version 2 (approved), version 1 (retired)
    assert "CH4-fossil=0.001;CO2=1.8;N2O=0.0001" in lines[2]
    # The export imports back unchanged: same codes, versions and content.
    back = json_of(
        client.post(
            "/api/v1/factors/import",
            data=exported.get_data(as_text=True),
            headers={**regulator.headers, "Content-Type": "text/csv"},
        )
    )
    assert (back["created"], back["unchanged"], back["rejected"]) == (0, 2, 0)
    as_json = json_of(client.get("/api/v1/factors/export?format=json&q=steel"))["factors"]
    assert [(f["version"], f["status"]) for f in as_json] == [(2, "approved"), (1, "retired")]


def test_a_footprint_record_is_offered_as_a_product_factor(
    client: FlaskClient, supplier: Member, other: Member, regulator: Member
) -> None:
    footprint = supplier.footprint()
    footprint["pcf"]["declaredUnitAmount"] = "4"
    footprint["pcf"]["pcfExcludingBiogenicUptake"] = "1.5"
    submitted = client.post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    assert submitted.status_code == 201, json_of(submitted)
    record_id = json_of(submitted)["id"]
    offer = {
        "footprintRecordId": record_id,
        "code": "acme.bioethanol",
        "licence": "for use by programme members",
        "category": "chemical",
        "value": "99",  # the record decides the value, not the offer
    }
    response = client.post("/api/v1/factors", json=offer, headers=supplier.headers)
    assert response.status_code == 201, json_of(response)
    factor = json_of(response)
    # The PCF is per 4 kg: 1.5 / 4 = 0.375 kg CO2e per kg.
    assert (factor["value"], factor["unit"], factor["kind"]) == ("0.375", "kg", "product")
    assert (factor["scope"], factor["region"], factor["gwpSet"]) == ("life-cycle", "US-TX", "AR6")
    assert factor["footprintRecordId"] == record_id

    stolen = client.post(
        "/api/v1/factors", json={**offer, "code": "other.bioethanol"}, headers=other.headers
    )
    assert stolen.status_code == 400
    assert json_of(stolen)["details"][0]["field"] == "footprintRecordId"

    successor = supplier.footprint(precedingPfIds=[record_id])
    assert (
        client.post(
            "/api/v1/footprints",
            json=supplier.key.sign_footprint(successor),
            headers=supplier.headers,
        ).status_code
        == 201
    )
    stale = client.post(
        "/api/v1/factors", json={**offer, "code": "acme.bioethanol-2"}, headers=supplier.headers
    )
    assert stale.status_code == 400
    assert json_of(stale)["details"] == [
        {"field": "footprintRecordId", "message": "a deprecated record"}
    ]


def test_exact_values_survive_the_database(app: Flask) -> None:
    value = Decimal("12345678901234.123456789012")
    with transaction(app.extensions["exchange.sessions"]) as session:
        report = services.import_rows(
            session,
            [
                {
                    "code": "test.exact",
                    "kind": "activity",
                    "name": "Exactness",
                    "category": "test",
                    "value": str(value),
                    "unit": "kg",
                    "region": "CN",
                    "year": "2024",
                    "gwpSet": "AR6",
                    "scope": "combustion",
                    "source": "test",
                    "licence": "CC0",
                    "uncertainty": "7.5",
                }
            ],
        )
        assert report.count("created") == 1
    with transaction(app.extensions["exchange.sessions"]) as session:
        stored = session.scalars(sa.select(Factor).where(Factor.code == "test.exact")).one()
        assert stored.value == value
        assert stored.uncertainty == Decimal("7.5")
        assert stored.content_digest == services.content_digest(stored)


def test_cli_import_load_starter_and_export(app: Flask, tmp_path: Any) -> None:
    runner = app.test_cli_runner()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(MIXED_CSV, "utf-8")
    first = runner.invoke(args=["factors", "import", str(mixed)])
    assert first.exit_code == 1
    assert "2 created, 0 unchanged, 3 rejected" in first.output
    assert "row 3 (test.bad-unit) unit: unknown unit 'furlong'" in first.output
    again = runner.invoke(args=["factors", "import", str(mixed)])
    assert "0 created, 2 unchanged, 3 rejected" in again.output

    starter = runner.invoke(args=["factors", "load-starter"])
    assert starter.exit_code == 0, starter.output
    assert "103 created, 0 unchanged, 0 rejected" in starter.output
    assert "0 created, 103 unchanged" in runner.invoke(args=["factors", "load-starter"]).output

    out = tmp_path / "hainan.json"
    exported = runner.invoke(
        args=["factors", "export", "--format", "json", "--region", "CN-HI", "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    document = json.loads(out.read_text("utf-8"))
    assert sorted((f["year"], f["value"]) for f in document["factors"]) == [
        (2021, "0.4524"),
        (2022, "0.4184"),
        (2023, "0.3648"),
    ]
    assert runner.invoke(args=["audit"]).exit_code == 0


def test_a_concurrent_declaration_of_the_same_version_is_a_conflict(
    client: FlaskClient, supplier: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert declare(client, supplier).status_code == 201
    # As if a second request had read the versions before the first one committed.
    monkeypatch.setattr(services, "versions_of", lambda session, code: [])
    raced = declare(client, supplier, value="1.3")
    assert raced.status_code == 409
    assert "meanwhile" in json_of(raced)["message"]


def test_the_log_commits_to_the_reviewed_content(
    client: FlaskClient, app: Flask, supplier: Member, regulator: Member
) -> None:
    factor_id = json_of(declare(client, supplier))["id"]
    decide(client, regulator, factor_id, "approve")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit"]).exit_code == 0
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(
            sa.update(Factor).where(Factor.id == factor_id).values(value=Decimal("0.99"))
        )
        # Even with a digest recomputed to match, the logged decision names the old one.
        stored = session.get(Factor, factor_id)
        assert stored is not None
        session.refresh(stored)
        stored.content_digest = services.content_digest(stored)
    audit = runner.invoke(args=["audit"])
    assert audit.exit_code == 1
    assert "audit FAILED" in audit.output
