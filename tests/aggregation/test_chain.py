"""Staleness across three companies over a real server: a supplier, a chain-owner that
derives its product from the supplier's record, and a customer chain-owner that builds on
the derived record. When the supplier supersedes its record, the middle company's new
derived record supersedes its old one, so the customer's product goes stale, its owner is
told, and recomputing gives the new exact figure."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from exchange.organisations.models import Role
from tests.aggregation.test_views import load_factors, pcf
from tests.e2e.conftest import running_server
from tests.e2e.test_exchange import run_cli
from tests.factories import Member, add_member

pytestmark = pytest.mark.e2e

FRUIT_URN = "urn:gtin:06901234567007"
JAM_URN = "urn:gtin:06901234567014"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    with running_server(database_url, tmp_path / "instance", tmp_path / "server.log") as url:
        yield url


class Api:
    def __init__(self, server: str, member: Member) -> None:
        self.server, self.member = server, member

    def call(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.server}{path}", headers=self.member.headers, timeout=60, **kwargs
        )
        assert response.status_code == expected, (path, response.text)
        return response.json()


def fruit(including: str, **changes: Any) -> dict[str, Any]:
    """A supplier's fruit: per kilogram, no biogenic part, no packaging."""
    document = pcf(
        declaredUnitOfMeasurement="kilogram",
        declaredUnitAmount="1",
        pcfIncludingBiogenicUptake=including,
        pcfExcludingBiogenicUptake=including,
        fossilGhgEmissions=including,
        biogenicCO2Uptake="0",
        landUseChangeGhgEmissions="0",
        **changes,
    )
    document.pop("packagingGhgEmissions", None)
    document["packagingEmissionsIncluded"] = False
    return document


def test_a_supplier_superseding_its_record_stales_the_top_of_a_three_company_chain(
    app: Flask, server: str, tmp_path: Path
) -> None:
    load_factors(app)
    grower = add_member(app)
    jam_maker = add_member(app, Role.CHAIN_OWNER)
    baker = add_member(app, Role.CHAIN_OWNER)
    grower_api, jam_api, baker_api = (Api(server, m) for m in (grower, jam_maker, baker))

    # The grower signs its fruit (2 kg CO2e/kg) and shares the product with the jam maker.
    first = grower.envelope(productIds=[FRUIT_URN], pcf=fruit("2"))
    grower_api.call("POST", "/api/v1/footprints", 201, json=first)
    shares = {"organisationId": jam_maker.organisation_id, "productId": FRUIT_URN}
    grower_api.call("POST", "/api/v1/shares", 201, json=shares)

    # The jam maker: 500 g of fruit and 1 kWh per kilogram of jam, derived with the CLI.
    jam = jam_api.call(
        "POST",
        "/api/v1/products",
        201,
        json={
            "code": "JAM",
            "name": "Mango jam",
            "declaredUnit": "kilogram",
            "productUrn": JAM_URN,
            "lines": [
                {
                    "label": "fruit",
                    "quantity": "500",
                    "unit": "g",
                    "supplierId": grower.organisation_id,
                    "supplierProduct": FRUIT_URN,
                },
                {
                    "category": "electricity",
                    "quantity": "1",
                    "unit": "kWh",
                    "factorCode": "test.grid",
                },
            ],
        },
    )
    jam_maker.key.save(tmp_path / "jam.jwk")
    env = {
        **os.environ,
        "EXCHANGE_URL": server,
        "EXCHANGE_CLIENT_ID": jam_maker.client_id,
        "EXCHANGE_CLIENT_SECRET": jam_maker.client_secret,
        "EXCHANGE_INSTANCE_PATH": str(tmp_path / "cli-instance"),
    }

    def derive() -> str:
        computed = run_cli("products", "compute", jam["id"], env=env, cwd=tmp_path)
        assert computed.returncode == 0, computed.stderr
        derived = run_cli(
            "products", "derive", jam["id"], "--key", "jam.jwk", "--yes", env=env, cwd=tmp_path
        )
        assert derived.returncode == 0, derived.stderr
        return derived.stdout.split()[1].rstrip(",")

    first_jam = derive()  # 0.5 x 2 + 0.5306
    assert (
        jam_api.call("GET", f"/api/v1/footprints/{first_jam}")["footprint"]["pcf"][
            "pcfExcludingBiogenicUptake"
        ]
        == "1.5306"
    )
    jam_api.call(
        "POST",
        "/api/v1/shares",
        201,
        json={"organisationId": baker.organisation_id, "productId": JAM_URN},
    )

    # The baker: 200 g of the jam maker's jam per tart, from the derived record.
    tart = baker_api.call(
        "POST",
        "/api/v1/products",
        201,
        json={
            "code": "TART",
            "name": "Mango tart",
            "declaredUnit": "piece",
            "lines": [
                {
                    "label": "jam",
                    "quantity": "200",
                    "unit": "g",
                    "supplierId": jam_maker.organisation_id,
                    "supplierProduct": JAM_URN,
                }
            ],
        },
    )
    result = baker_api.call("POST", f"/api/v1/products/{tart['id']}/compute")["result"]
    assert result["pcf"]["total"] == "0.30612"
    assert result["inputs"][0]["input"]["recordId"] == first_jam

    # The grower supersedes its record (3 kg CO2e/kg): the jam goes stale, the tart not yet.
    second = grower.envelope(
        productIds=[FRUIT_URN], pcf=fruit("3"), precedingPfIds=[first["footprint"]["id"]]
    )
    grower_api.call("POST", "/api/v1/footprints", 201, json=second)
    assert jam_api.call("GET", f"/api/v1/products/{jam['id']}")["result"]["stale"] is True
    assert baker_api.call("GET", f"/api/v1/products/{tart['id']}")["result"]["stale"] is False
    draft = jam_api.call("GET", f"/api/v1/products/{jam['id']}/derived-footprint", 409)
    assert "stale" in draft["message"]

    # The jam maker recomputes and derives again: the review names the record it replaces
    # (declined here), then the new record replaces the old one.
    assert run_cli("products", "compute", jam["id"], env=env, cwd=tmp_path).returncode == 0
    review = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "products", "derive", jam["id"], "--key", "jam.jwk"],
        env=env,
        cwd=tmp_path,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert review.returncode == 1 and "Aborted" in review.stderr
    assert review.stdout.startswith(
        "Mango jam: 2.0306 kg CO2e per 1 kilogram excluding biogenic uptake (including "
        "biogenic uptake 2.0306)"
    )
    assert f"replaces record {first_jam} (it becomes Deprecated)" in review.stdout
    second_jam = derive()  # 0.5 x 3 + 0.5306
    new = jam_api.call("GET", f"/api/v1/footprints/{second_jam}")["footprint"]
    assert new["precedingPfIds"] == [first_jam]
    assert new["pcf"]["pcfExcludingBiogenicUptake"] == "2.0306"
    old = jam_api.call("GET", f"/api/v1/footprints/{first_jam}")["exchange"]
    assert (old["status"], old["deprecatedBy"]) == ("Deprecated", second_jam)
    links = jam_api.call("GET", f"/api/v1/products/{jam['id']}")["derivedRecords"]
    assert [link["recordId"] for link in links] == [first_jam, second_jam]

    # The baker's tart is stale, the baker is told (without the grower's record), and
    # recomputing uses the new derived record for the new exact figure.
    seen = baker_api.call("GET", f"/api/v1/products/{tart['id']}")
    assert seen["result"]["stale"] is True
    notices = baker_api.call("GET", "/api/v1/products/notices")["data"]
    (notice,) = [item for item in notices if item["productId"] == tart["id"]]
    assert first_jam in notice["reason"]
    assert first["footprint"]["id"] not in str(notices)
    recomputed = baker_api.call("POST", "/api/v1/products/recompute-stale")
    assert recomputed == {"computed": 1, "changed": 1}
    result = baker_api.call("GET", f"/api/v1/products/{tart['id']}/result")["result"]
    assert result["pcf"]["total"] == "0.40612"
    assert result["inputs"][0]["input"]["recordId"] == second_jam

    # A draft fetched before the second derivation names the old record, which is gone:
    # submitting it now is a conflict, and nothing changes.
    stale_draft = copy.deepcopy(new) | {"id": "5a4e7bd6-3f55-4bd4-9a0c-0b1e8ad3a001"}
    stale_draft.pop("extensions", None)
    refused = requests.post(
        f"{server}/api/v1/footprints",
        json=jam_maker.key.sign_footprint(stale_draft),
        headers=jam_maker.headers,
        timeout=60,
    )
    assert refused.status_code == 409, refused.text
    assert jam_api.call("GET", f"/api/v1/footprints/{second_jam}")["exchange"]["status"] == (
        "Active"
    )
