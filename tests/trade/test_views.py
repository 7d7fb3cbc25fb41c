"""Trade exports on hand-built records: every number checked, and the missing-data answer."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.log.verify import verify_inclusion_proof
from exchange.organisations.models import Role
from exchange.trade.services import TRADE_EXTENSION_PATH
from tests.factories import Member, add_member

BATTERY = "/api/v1/trade/records/{}/battery-declaration"
CBAM = "/api/v1/trade/records/{}/cbam-report"


def trade_extension(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specVersion": "2.0.0",
        "dataSchema": "https://exchange.example" + TRADE_EXTENSION_PATH,
        "data": data,
    }


def push(
    client: FlaskClient,
    member: Member,
    *,
    unit: str,
    amount: str,
    total: str,
    mass: str = "1",
    extension: dict[str, Any] | None = None,
    **pcf_changes: Any,
) -> dict[str, Any]:
    footprint = member.footprint()
    footprint.pop("precedingPfIds", None)
    pcf = footprint["pcf"]
    pcf.update(
        declaredUnitOfMeasurement=unit,
        declaredUnitAmount=amount,
        pcfIncludingBiogenicUptake=total,
        productMassPerDeclaredUnit=mass,
        **pcf_changes,
    )
    if extension is not None:
        footprint["extensions"] = [trade_extension(extension)]
    response = client.post(
        "/api/v1/footprints", json=member.key.sign_footprint(footprint), headers=member.headers
    )
    assert response.status_code == 201, response.get_json()
    return footprint


@pytest.fixture
def maker(app: Flask) -> Member:
    return add_member(app, Role.SUPPLIER)


def test_battery_declaration_per_kwh_of_lifetime_energy(
    app: Flask, client: FlaskClient, maker: Member
) -> None:
    # Two packs of 50 kWh each, 2000 full cycles: 200,000 kWh over their service life.
    footprint = push(
        client,
        maker,
        unit="piece",
        amount="2",
        total="6000",
        extension={
            "battery": {"ratedEnergyCapacityKWh": "50", "expectedLifetimeCycles": "2000"},
            "lifeCycleStages": {
                "rawMaterialAcquisition": "4200",
                "mainProduction": "1500",
                "distribution": "60",
                "endOfLife": "240",
            },
        },
    )
    response = client.get(BATTERY.format(footprint["id"]), headers=maker.headers)
    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    assert doc["functionalUnit"].startswith("1 kWh of the total energy")
    assert doc["unit"] == "kg CO2e/kWh"
    assert doc["basis"] == {
        "declaredUnitOfMeasurement": "piece",
        "declaredUnitAmount": "2",
        "ratedEnergyCapacityKWh": "100",
        "ratedEnergyCapacitySource": (
            "extensions[trade-data].battery.ratedEnergyCapacityKWh x pcf.declaredUnitAmount"
        ),
        "expectedLifetimeCycles": "2000",
        "totalEnergyKWh": "200000",
        "pcfIncludingBiogenicUptake": "6000",
    }
    assert doc["carbonFootprint"] == "0.03"
    assert doc["carbonFootprintPerKWhRatedCapacity"] == "60"
    assert [
        (s["stage"], s["emissions"], s["perFunctionalUnit"], s["sharePercent"])
        for s in doc["stages"]
    ] == [
        ("rawMaterialAcquisition", "4200", "0.021", "70"),
        ("mainProduction", "1500", "0.0075", "25"),
        ("distribution", "60", "0.0003", "1"),
        ("endOfLife", "240", "0.0012", "4"),
    ]
    assert doc["manufacturer"]["companyIds"] == maker.company_ids
    assert doc["placeOfManufacture"] == "US-TX"  # the example's subdivision

    source = doc["source"]
    stored = client.get(f"/api/v1/footprints/{footprint['id']}", headers=maker.headers)
    assert source["recordId"] == footprint["id"]
    assert source["signerKid"] == maker.key.kid
    assert source["log"]["index"] == stored.get_json()["exchange"]["logIndex"]
    proof = {
        "index": source["log"]["index"],
        "size": source["log"]["treeSize"],
        "leafHash": source["log"]["leafHash"],
        "proof": source["log"]["inclusionProof"],
        "rootHash": source["log"]["rootHash"],
    }
    assert (
        verify_inclusion_proof(
            proof,
            source["log"]["checkpoint"],
            public_key=app.extensions["exchange.key"].public_key,
            origin=app.config["EXCHANGE_ORIGIN"],
        )
        == source["log"]["index"]
    )
    served = client.get(source["log"]["proofUrl"]).get_json()
    assert served["proof"] == source["log"]["inclusionProof"]


def test_battery_declared_per_kwh_takes_distribution_from_outbound_logistics(
    client: FlaskClient, maker: Member
) -> None:
    footprint = push(
        client,
        maker,
        unit="kilowatt hour",
        amount="10",
        total="750",
        outboundLogisticsGhgEmissions="50",
        extension={
            "battery": {"expectedLifetimeCycles": "1000"},
            "lifeCycleStages": {
                "rawMaterialAcquisition": "500",
                "mainProduction": "150",
                "endOfLife": "50",
            },
        },
    )
    doc = client.get(BATTERY.format(footprint["id"]), headers=maker.headers).get_json()
    assert doc["basis"]["ratedEnergyCapacityKWh"] == "10"
    assert doc["basis"]["totalEnergyKWh"] == "10000"
    assert doc["carbonFootprint"] == "0.075"
    assert doc["carbonFootprintPerKWhRatedCapacity"] == "75"
    assert [s["perFunctionalUnit"] for s in doc["stages"]] == ["0.05", "0.015", "0.005", "0.005"]


def test_battery_missing_data_lists_every_field(client: FlaskClient, maker: Member) -> None:
    footprint = push(client, maker, unit="kilogram", amount="1", total="12")
    response = client.get(BATTERY.format(footprint["id"]), headers=maker.headers)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "MissingData"
    prefix = "extensions[trade-data]"
    assert [item["field"] for item in body["details"]] == [
        f"{prefix}.battery.ratedEnergyCapacityKWh",
        f"{prefix}.battery.expectedLifetimeCycles",
        f"{prefix}.lifeCycleStages.rawMaterialAcquisition",
        f"{prefix}.lifeCycleStages.mainProduction",
        f"{prefix}.lifeCycleStages.distribution (or pcf.outboundLogisticsGhgEmissions)",
        f"{prefix}.lifeCycleStages.endOfLife",
    ]
    assert "'kilogram'" in body["details"][0]["message"]
    assert "kWh" in body["details"][0]["message"]

    page = client.get(BATTERY.format(footprint["id"]) + ".html", headers=maker.headers)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "缺少数据" in html and "Missing data" in html
    assert f"{prefix}.battery.expectedLifetimeCycles" in html
    assert "<script" not in html


def test_battery_stages_that_do_not_add_up_are_reported(client: FlaskClient, maker: Member) -> None:
    footprint = push(
        client,
        maker,
        unit="kilowatt hour",
        amount="1",
        total="100",
        extension={
            "battery": {"expectedLifetimeCycles": "500"},
            "lifeCycleStages": {
                "rawMaterialAcquisition": "50",
                "mainProduction": "30",
                "distribution": "5",
                "endOfLife": "5",
            },
        },
    )
    body = client.get(BATTERY.format(footprint["id"]), headers=maker.headers).get_json()
    assert body["code"] == "MissingData"
    assert body["details"] == [
        {
            "field": "extensions[trade-data].lifeCycleStages",
            "message": "the stages add up to 90 kg CO2e, but the record's "
            "pcfIncludingBiogenicUptake is 100",
        }
    ]


CBAM_DATA = {
    "direct": "1850",
    "indirect": "320.5",
    "directSource": "actual",
    "indirectSource": "default",
    "productionRoute": "basic oxygen furnace",
    "cnCode": "72081000",
    "installation": {"name": "Yangpu steel works", "country": "CN", "unLocode": "CNYPG"},
}


def test_cbam_report_per_tonne_of_goods(client: FlaskClient, maker: Member) -> None:
    footprint = push(
        client,
        maker,
        unit="kilogram",
        amount="1000",
        total="2170.5",
        extension={"embeddedEmissions": CBAM_DATA},
    )
    response = client.get(CBAM.format(footprint["id"]), headers=maker.headers)
    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    assert doc["unit"] == "t CO2e/t"
    assert doc["goods"]["cnCode"] == "72081000"
    assert doc["goods"]["massTonnes"] == "1"
    assert doc["goods"]["massSource"] == "pcf.declaredUnitAmount (declared in kilogram)"
    assert doc["embeddedEmissions"] == {"directTonnes": "1.85", "indirectTonnes": "0.3205"}
    assert doc["specificEmbeddedEmissions"] == {
        "direct": {"value": "1.85", "source": "actual"},
        "indirect": {"value": "0.3205", "source": "default"},
        "total": "2.1705",
    }
    assert doc["installation"] == {
        "name": "Yangpu steel works",
        "country": "CN",
        "identifier": None,
        "unLocode": "CNYPG",
    }
    assert doc["productionRoute"] == "basic oxygen furnace"
    assert doc["reportingPeriod"]["start"] == footprint["pcf"]["referencePeriodStart"]
    assert doc["source"]["signerKid"] == maker.key.kid

    page = client.get(CBAM.format(footprint["id"]) + ".html", headers=maker.headers)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "内含排放报告" in html and "Embedded emissions report" in html
    assert "2.1705" in html and maker.key.kid in html and footprint["id"] in html
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<script" not in html


def test_cbam_mass_of_pieces_comes_from_the_product_mass(
    client: FlaskClient, maker: Member
) -> None:
    data = dict(CBAM_DATA, direct="5000", indirect="1000")
    footprint = push(
        client,
        maker,
        unit="piece",
        amount="4",
        total="6000",
        mass="2500",
        extension={"embeddedEmissions": data},
    )
    doc = client.get(CBAM.format(footprint["id"]), headers=maker.headers).get_json()
    assert doc["goods"]["massTonnes"] == "2.5"
    assert doc["specificEmbeddedEmissions"]["direct"]["value"] == "2"
    assert doc["specificEmbeddedEmissions"]["indirect"]["value"] == "0.4"
    assert doc["specificEmbeddedEmissions"]["total"] == "2.4"


def test_cbam_missing_data(client: FlaskClient, maker: Member) -> None:
    footprint = push(
        client,
        maker,
        unit="piece",
        amount="1",
        total="10",
        mass="0",
        extension={"embeddedEmissions": {"direct": "7", "directSource": "estimated"}},
    )
    body = client.get(CBAM.format(footprint["id"]), headers=maker.headers).get_json()
    prefix = "extensions[trade-data].embeddedEmissions"
    assert body["code"] == "MissingData"
    assert [item["field"] for item in body["details"]] == [
        "pcf.productMassPerDeclaredUnit",
        f"{prefix}.indirect",
        f"{prefix}.directSource",
        f"{prefix}.indirectSource",
        f"{prefix}.productionRoute",
        f"{prefix}.cnCode",
        f"{prefix}.installation.name",
        f"{prefix}.installation.country",
    ]
    assert body["details"][0]["message"].startswith("must be greater than zero")
    assert body["details"][2]["message"] == "one of actual, default"


def test_exports_respect_visibility(app: Flask, client: FlaskClient, maker: Member) -> None:
    footprint = push(
        client,
        maker,
        unit="kilogram",
        amount="1000",
        total="2170.5",
        extension={"embeddedEmissions": CBAM_DATA},
    )
    stranger = add_member(app, Role.CHAIN_OWNER)
    for path in (CBAM, BATTERY):
        for suffix in ("", ".html"):
            response = client.get(path.format(footprint["id"]) + suffix, headers=stranger.headers)
            assert response.status_code == 404
            assert response.get_json()["code"] == "NotFound"
            assert "Yangpu" not in response.get_data(as_text=True)
    assert client.get(CBAM.format(footprint["id"])).status_code == 401
    shared = client.post(
        "/api/v1/shares",
        json={"organisationId": stranger.organisation_id, "recordId": footprint["id"]},
        headers=maker.headers,
    )
    assert shared.status_code == 201
    assert client.get(CBAM.format(footprint["id"]), headers=stranger.headers).status_code == 200


def test_extension_schema_is_served(client: FlaskClient) -> None:
    schema = client.get("/api/v1/trade/extensions/trade-data/1.0.0/schema.json").get_json()
    assert schema["$id"].endswith(TRADE_EXTENSION_PATH)
    assert set(schema["properties"]) == {"lifeCycleStages", "battery", "embeddedEmissions"}


def test_export_command(app: Flask, client: FlaskClient, maker: Member) -> None:
    complete = push(
        client,
        maker,
        unit="kilogram",
        amount="1000",
        total="2170.5",
        extension={"embeddedEmissions": CBAM_DATA},
    )
    runner = app.test_cli_runner()
    result = runner.invoke(args=["trade", "export", "cbam-report", complete["id"]])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["specificEmbeddedEmissions"]["total"] == "2.1705"
    result = runner.invoke(args=["trade", "export", "battery-declaration", complete["id"]])
    assert result.exit_code == 1
    assert json.loads(result.output)["code"] == "MissingData"
    result = runner.invoke(args=["trade", "export", "cbam-report", str(uuid.uuid4())])
    assert result.exit_code == 1 and "no footprint" in result.output
