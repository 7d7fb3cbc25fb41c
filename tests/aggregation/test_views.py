"""Chain-owner aggregation over the HTTP API: a three-tier drink computed from signed
supplier records and approved factors, staleness, missing data, access control, and a
derived footprint signed by the chain-owner and verified."""

from __future__ import annotations

import copy
import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.aggregation import commitments, services
from exchange.aggregation.cli import recompute_stale_command
from exchange.aggregation.models import Result
from exchange.client.labels import certificate_document, sign_certificate
from exchange.db import transaction
from exchange.factors import services as factor_services
from exchange.organisations.models import Role
from tests.factories import Member, add_member, pact_example
from tests.pact.oracle import openapi_errors

FACTORS_CSV = (
    "code,version,kind,name,category,value,unit,region,year,gwpSet,gases,scope,source,"
    "licence,uncertainty,evidence\n"
    "test.grid,1,activity,Test grid electricity,electricity,0.5306,kWh,CN,2023,AR6,,"
    "life-cycle,Test source grid,test licence,,\n"
    "test.truck,1,activity,Test truck,transport,0.1,t·km,CN,2023,AR6,,life-cycle,"
    "Test source truck,test licence,,\n"
    "test.sugar,1,product,Test sugar (secondary),food,0.9,kg,CN,2023,AR6,,life-cycle,"
    "Test source sugar,test licence,,\n"
)
SUGAR_URN = "urn:gtin:06901234567892"
BOTTLE_URN = "urn:gtin:06901234567809"


def load_factors(app: Flask) -> None:
    with transaction(app.extensions["exchange.sessions"]) as session:
        report = factor_services.import_text(session, FACTORS_CSV, "csv", comment="test")
    assert report.count("rejected") == 0, report.to_json()


def pcf(**values: Any) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(pact_example()["pcf"])
    for name in (
        "landManagementFossilGhgEmissions",
        "landManagementBiogenicCO2Emissions",
        "biogenicNonCO2Emissions",
    ):
        document.pop(name)
    document.update(values)
    return document


SUGAR_PCF = pcf(
    declaredUnitOfMeasurement="kilogram",
    declaredUnitAmount="10",
    pcfIncludingBiogenicUptake="-2.5",
    pcfExcludingBiogenicUptake="4",
    fossilGhgEmissions="3.2",
    biogenicCO2Uptake="-6.5",
    landUseChangeGhgEmissions="0.8",
    primaryDataShare="50",
    dqi={"technologicalDQR": "1.5", "geographicalDQR": "2", "temporalDQR": "2.5"},
)
BOTTLE_PCF = pcf(
    declaredUnitOfMeasurement="piece",
    declaredUnitAmount="100",
    productMassPerDeclaredUnit="2",
    pcfIncludingBiogenicUptake="12",
    pcfExcludingBiogenicUptake="12",
    fossilGhgEmissions="12",
    biogenicCO2Uptake="0",
    landUseChangeGhgEmissions="0",
    packagingGhgEmissions="12",
    primaryDataShare="80",
    dqi={"technologicalDQR": "1", "geographicalDQR": "1", "temporalDQR": "1"},
)


def push(client: FlaskClient, member: Member, **changes: Any) -> dict[str, Any]:
    envelope = member.envelope(**changes)
    response = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return {**envelope, "logIndex": body["receipt"]["receipt"]["logIndex"]}


def share_product(client: FlaskClient, owner: Member, grantee: Member, product: str) -> None:
    response = client.post(
        "/api/v1/shares",
        json={"organisationId": grantee.organisation_id, "productId": product},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.get_json()


def define(client: FlaskClient, member: Member, **document: Any) -> dict[str, Any]:
    response = client.post("/api/v1/products", json=document, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def compute(client: FlaskClient, member: Member, product_id: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/products/{product_id}/compute", headers=member.headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


class Chain:
    """Sugar and bottle suppliers, a chain-owner with syrup (2 L) and drink (1 piece)."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        load_factors(app)
        self.sugar_co = add_member(app)
        self.bottle_co = add_member(app)
        self.owner = add_member(app, Role.CHAIN_OWNER)
        self.sugar = push(
            client, self.sugar_co, productIds=[SUGAR_URN], pcf=copy.deepcopy(SUGAR_PCF)
        )
        self.bottle = push(
            client, self.bottle_co, productIds=[BOTTLE_URN], pcf=copy.deepcopy(BOTTLE_PCF)
        )
        share_product(client, self.sugar_co, self.owner, SUGAR_URN)
        share_product(client, self.bottle_co, self.owner, BOTTLE_URN)
        self.syrup = define(
            client,
            self.owner,
            code="SYRUP",
            name="Syrup",
            declaredUnit="liter",
            declaredAmount="2",
            lines=[
                {
                    "label": "sugar",
                    "quantity": "500",
                    "unit": "g",
                    "supplierId": self.sugar_co.organisation_id,
                    "supplierProduct": SUGAR_URN,
                    "factorCode": "test.sugar",
                },
                {
                    "category": "electricity",
                    "quantity": "3.6",
                    "unit": "MJ",
                    "factorCode": "test.grid",
                },
            ],
        )
        self.drink = define(
            client,
            self.owner,
            code="DRINK",
            name="Drink",
            declaredUnit="piece",
            declaredAmount="1",
            lines=[
                {"label": "syrup", "quantity": "330", "unit": "mL", "productId": self.syrup["id"]},
                {
                    "category": "packaging",
                    "quantity": "1",
                    "unit": "piece",
                    "supplierId": self.bottle_co.organisation_id,
                    "supplierProduct": BOTTLE_URN,
                },
                {
                    "category": "transport",
                    "quantity": "50",
                    "unit": "kg·km",
                    "factorCode": "test.truck",
                },
            ],
        )


@pytest.fixture
def chain(app: Flask, client: FlaskClient) -> Chain:
    return Chain(app, client)


def test_three_tiers_hand_computed_with_provenance(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    body = compute(client, chain.owner, chain.drink["id"])
    result = body["result"]
    # Syrup per 2 L: sugar 0.5 kg of a 10 kg record (-2.5): -0.125; 1 kWh x 0.5306.
    # Drink: 0.165 x syrup 0.4056 = 0.066924; a bottle 12 / 100 = 0.12; 0.05 t·km x 0.1.
    assert result["pcf"] == {
        "pcfExcludingBiogenicUptake": "0.245549",  # PACT's headline figure
        "total": "0.191924",
        "fossil": "0.238949",
        "biogenic": "-0.053625",
        "landUse": "0.0066",
        "packaging": "0.12",
    }
    assert result["excludingBiogenic"] == "0.245549"
    assert result["quality"] == {
        "primaryDataShare": "53.344049497221",
        "dqr": {
            "technologicalDQR": "1.179013930795",
            "geographicalDQR": "1.358027861591",
            "temporalDQR": "1.537041792386",
        },
        "coverage": "0.691732493665",
    }
    syrup_line, bottle_line, truck_line = result["inputs"]
    assert syrup_line["kind"] == "product"
    assert syrup_line["contribution"]["total"] == "0.066924"
    assert bottle_line["input"]["recordId"] == chain.bottle["footprint"]["id"]
    assert bottle_line["input"]["kid"] == chain.bottle_co.key.kid
    assert bottle_line["input"]["logIndex"] == chain.bottle["logIndex"]
    assert bottle_line["input"]["owner"] == chain.bottle_co.organisation_id
    assert (truck_line["secondary"], truck_line["input"]["code"]) == (True, "test.truck")
    assert truck_line["input"]["version"] == 1
    assert truck_line["contribution"]["total"] == "0.005"

    syrup = client.get(f"/api/v1/products/{chain.syrup['id']}/result", headers=chain.owner.headers)
    sugar_line = syrup.get_json()["result"]["inputs"][0]
    assert sugar_line["input"]["recordId"] == chain.sugar["footprint"]["id"]
    assert sugar_line["input"]["signature"] == chain.sugar["signature"]["value"]
    assert sugar_line["contribution"] == {
        "pcfExcludingBiogenicUptake": "0.2",
        "total": "-0.125",
        "fossil": "0.16",
        "biogenic": "-0.325",
        "landUse": "0.04",
        "packaging": "0",
    }

    explanation = client.get(
        f"/api/v1/products/{chain.drink['id']}/explain", headers=chain.owner.headers
    ).get_json()
    assert explanation["byTier"] == [
        # bottle 0.12 + truck 0.005
        {"tier": 2, "pcfExcludingBiogenicUptake": "0.125", "total": "0.125"},
        # sugar -0.020625 (0.033 without its uptake) + grid 0.087549, through syrup
        {"tier": 3, "pcfExcludingBiogenicUptake": "0.120549", "total": "0.066924"},
    ]
    breakdown = explanation["tree"]["components"][0]["breakdown"]
    assert breakdown["tier"] == 2
    assert [c["contributionToRoot"] for c in breakdown["components"]] == ["-0.020625", "0.087549"]
    assert [c["contributionToRootExcludingBiogenicUptake"] for c in breakdown["components"]] == [
        "0.033",
        "0.087549",
    ]
    assert explanation["tree"]["pcf"]["pcfExcludingBiogenicUptake"] == "0.245549"


def test_recomputation_is_byte_identical(app: Flask, client: FlaskClient, chain: Chain) -> None:
    compute(client, chain.owner, chain.drink["id"])
    url = f"/api/v1/products/{chain.drink['id']}/result"
    first = client.get(url, headers=chain.owner.headers).get_json()
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.recompute(session)  # the full path: every product again
    second = client.get(url, headers=chain.owner.headers).get_json()
    assert signing.canonical_json(first["result"]) == signing.canonical_json(second["result"])
    assert first["digest"] == second["digest"]
    assert first["computedAt"] != second["computedAt"]


def test_a_full_recomputation_rewrites_exactly_what_differs(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    columns = ", ".join(["product_id", *services.loading.RESULT_COLUMNS[1:]])
    engine = app.extensions["exchange.engine"]
    with engine.begin() as connection:
        stored = connection.exec_driver_sql(
            f"SELECT {columns} FROM agg_results ORDER BY product_id"
        ).all()
        # One figure spoiled, one result stale: what a full recomputation must mend.
        connection.execute(
            sa.update(Result)
            .where(Result.product_id == chain.syrup["id"])
            .values(total=Decimal("-1"))
        )
        connection.execute(
            sa.update(Result)
            .where(Result.product_id == chain.drink["id"])
            .values(stale=True, stale_reason="test")
        )
        earlier = connection.execute(sa.select(sa.func.max(Result.computed_at))).scalar_one()
    with transaction(app.extensions["exchange.sessions"]) as session:
        outcome = services.recompute(session)
    assert outcome.computed == 2
    with engine.connect() as connection:
        assert (
            connection.exec_driver_sql(
                f"SELECT {columns} FROM agg_results ORDER BY product_id"
            ).all()
            == stored
        )
        rows = connection.execute(
            sa.select(Result.computed_at, Result.stale, Result.stale_reason)
        ).all()
    assert len({computed_at for computed_at, _, _ in rows}) == 1  # one time, spoiled or not
    assert rows[0][0] > earlier
    assert {(stale, reason) for _, stale, reason in rows} == {(False, None)}


def test_superseding_marks_exactly_the_affected_ancestors_stale(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    gift = define(
        client,
        chain.owner,
        code="GIFT",
        name="Gift box",
        declaredUnit="piece",
        lines=[{"quantity": "6", "unit": "piece", "productId": chain.drink["id"]}],
    )
    water = define(
        client,
        chain.owner,
        code="WATER",
        name="Water",
        declaredUnit="piece",
        lines=[
            {
                "quantity": "1",
                "unit": "piece",
                "supplierId": chain.bottle_co.organisation_id,
                "supplierProduct": BOTTLE_URN,
            }
        ],
    )
    compute(client, chain.owner, gift["id"])
    compute(client, chain.owner, water["id"])

    newer = copy.deepcopy(SUGAR_PCF) | {"pcfIncludingBiogenicUptake": "-1.5"}
    push(
        client,
        chain.sugar_co,
        productIds=[SUGAR_URN],
        pcf=newer,
        precedingPfIds=[chain.sugar["footprint"]["id"]],
    )

    listed = client.get("/api/v1/products", headers=chain.owner.headers).get_json()["data"]
    stale = {item["code"]: item["result"]["stale"] for item in listed}
    assert stale == {"DRINK": True, "GIFT": True, "SYRUP": True, "WATER": False}
    notices = client.get("/api/v1/products/notices", headers=chain.owner.headers).get_json()
    assert sorted(n["productId"] for n in notices["data"]) == sorted(
        [chain.syrup["id"], chain.drink["id"], gift["id"]]
    )
    assert all(chain.sugar["footprint"]["id"] in n["reason"] for n in notices["data"])

    response = client.post("/api/v1/products/recompute-stale", headers=chain.owner.headers)
    assert response.get_json() == {"computed": 3, "changed": 3}
    listed = client.get("/api/v1/products", headers=chain.owner.headers).get_json()["data"]
    assert not any(item["result"]["stale"] for item in listed)
    syrup = next(item for item in listed if item["code"] == "SYRUP")
    # -1.5 x 0.05 + 0.5306; the biogenic part stays -0.325 (excluding uptake is still 4):
    assert syrup["result"]["pcf"]["total"] == "0.4556"


def test_revocation_marks_users_stale_through_the_service(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    with transaction(app.extensions["exchange.sessions"]) as session:
        stale = services.mark_inputs_stale(
            session, [chain.bottle["footprint"]["id"]], "certificate revoked"
        )
    assert stale == [chain.drink["id"]]


def test_revoking_a_certificate_of_an_input_marks_its_users_stale(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    body, regulator = add_member(app, Role.CERTIFICATION_BODY), add_member(app, Role.REGULATOR)
    accredited = client.post(
        f"/api/v1/accreditations/{body.organisation_id}",
        json={"status": "granted", "reason": "audit"},
        headers=regulator.headers,
    )
    assert accredited.status_code == 200
    bottle = chain.bottle["footprint"]
    assert (
        client.post(
            "/api/v1/shares",
            json={"organisationId": body.organisation_id, "recordId": bottle["id"]},
            headers=chain.bottle_co.headers,
        ).status_code
        == 201
    )
    document = certificate_document(
        body_id=body.organisation_id,
        record_id=bottle["id"],
        footprint=bottle,
        gtin=BOTTLE_URN.removeprefix("urn:gtin:"),
        category="urn:pact:productclassification:un-cpc:3692",
    )
    certified = client.post(
        "/api/v1/certificates", json=sign_certificate(body.key, document), headers=body.headers
    )
    assert certified.status_code == 201, certified.get_json()
    number = certified.get_json()["number"]

    def stale() -> dict[str, bool]:
        listed = client.get("/api/v1/products", headers=chain.owner.headers).get_json()["data"]
        return {item["code"]: item["result"]["stale"] for item in listed if item["result"]}

    assert stale()["DRINK"] is False
    suspended = client.post(
        f"/api/v1/certificates/{number}/suspend", json={"reason": "review"}, headers=body.headers
    )
    assert suspended.status_code == 200
    assert stale()["DRINK"] is False  # a suspension may be lifted
    revoked = client.post(
        f"/api/v1/certificates/{number}/revoke", json={"reason": "errors"}, headers=body.headers
    )
    assert revoked.status_code == 200
    assert stale()["DRINK"] is True


def test_missing_supplier_data_falls_back_to_a_factor_and_requests_it(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    cane_co = add_member(app)
    secret = push(
        client, cane_co, productIds=["urn:gtin:00000000000017"], pcf=copy.deepcopy(SUGAR_PCF)
    )
    candy = define(
        client,
        chain.owner,
        code="CANDY",
        name="Candy",
        declaredUnit="kilogram",
        lines=[
            {
                "quantity": "1",
                "unit": "kg",
                "supplierId": cane_co.organisation_id,
                "supplierProduct": "urn:gtin:00000000000017",
                "factorCode": "test.sugar",
            }
        ],
    )
    body = compute(client, chain.owner, candy["id"])
    (line,) = body["result"]["inputs"]
    assert (line["kind"], line["secondary"], line["contribution"]["total"]) == (
        "factor",
        True,
        "0.9",
    )
    assert body["result"]["missingSupplierData"] == [
        {"supplierId": cane_co.organisation_id, "productId": "urn:gtin:00000000000017"}
    ]
    assert body["result"]["quality"]["coverage"] == "0"
    assert secret["footprint"]["id"] not in json.dumps(body)

    sent = client.post(f"/api/v1/products/{candy['id']}/requests", headers=chain.owner.headers)
    assert sent.status_code == 200, sent.get_json()
    (request,) = sent.get_json()["data"]
    assert request["supplierId"] == cane_co.organisation_id
    assert request["status"] == "open"
    incoming = client.get("/api/v1/requests?direction=incoming", headers=cane_co.headers)
    assert [item["id"] for item in incoming.get_json()["data"]] == [request["requestId"]]

    # Another record the supplier keeps to itself stales the candy, but the notice does not
    # name it: the chain-owner may not know it exists.
    compute(client, chain.owner, candy["id"])
    private = push(
        client, cane_co, productIds=["urn:gtin:00000000000017"], pcf=copy.deepcopy(SUGAR_PCF)
    )
    notices = client.get("/api/v1/products/notices", headers=chain.owner.headers).get_json()
    reasons = [n["reason"] for n in notices["data"] if n["productId"] == candy["id"]]
    assert reasons and not any(private["footprint"]["id"] in reason for reason in reasons)

    # The supplier shares its record: the candy goes stale and now uses it.
    share_product(client, cane_co, chain.owner, "urn:gtin:00000000000017")
    push(
        client,
        cane_co,
        productIds=["urn:gtin:00000000000017"],
        pcf=copy.deepcopy(SUGAR_PCF),
        precedingPfIds=[secret["footprint"]["id"]],
    )
    body = compute(client, chain.owner, candy["id"])
    assert body["result"]["inputs"][0]["kind"] == "record"
    assert body["result"]["pcf"]["total"] == "-0.25"  # a negative total is kept


def test_a_cycle_is_refused_naming_it(client: FlaskClient, app: Flask) -> None:
    load_factors(app)
    owner = add_member(app, Role.CHAIN_OWNER)
    a = define(
        client,
        owner,
        code="A",
        name="A",
        declaredUnit="kg",
        lines=[{"quantity": "1", "unit": "kg", "factorCode": "test.sugar"}],
    )
    b = define(
        client,
        owner,
        code="B",
        name="B",
        declaredUnit="kg",
        lines=[{"quantity": "1", "unit": "kg", "productId": a["id"]}],
    )
    response = client.put(
        f"/api/v1/products/{a['id']}/bom",
        json={"lines": [{"quantity": "1", "unit": "kg", "productId": b["id"]}]},
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert "A -> B -> A" in response.get_json()["message"]


def test_an_incompatible_unit_names_both(client: FlaskClient, app: Flask) -> None:
    load_factors(app)
    owner = add_member(app, Role.CHAIN_OWNER)
    product = define(
        client,
        owner,
        code="X",
        name="X",
        declaredUnit="kg",
        lines=[{"quantity": "1", "unit": "kWh", "factorCode": "test.sugar"}],
    )
    response = client.post(f"/api/v1/products/{product['id']}/compute", headers=owner.headers)
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert "kWh" in message and "kg" in message


def test_csv_upload(client: FlaskClient, app: Flask) -> None:
    load_factors(app)
    owner = add_member(app, Role.CHAIN_OWNER)
    product = define(client, owner, code="CSV", name="From CSV", declaredUnit="kg")
    text = (
        "category,label,quantity,unit,factorCode\n"
        "component,sugar,0.5,kg,test.sugar\n"
        "electricity,power,2,kWh,test.grid\n"
    )
    response = client.put(
        f"/api/v1/products/{product['id']}/bom",
        data=text,
        content_type="text/csv",
        headers=owner.headers,
    )
    assert response.status_code == 200, response.get_json()
    body = compute(client, owner, product["id"])
    assert body["result"]["pcf"]["total"] == "1.5112"  # 0.5 x 0.9 + 2 x 0.5306
    exported = client.get(f"/api/v1/products/{product['id']}/export", headers=owner.headers)
    assert exported.mimetype == "text/csv"
    assert exported.get_data(as_text=True).count("\n") == 3


def test_a_chain_owner_never_sees_unshared_inputs(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    # Another chain-owner makes a concentrate from its own, unshared supplier record.
    other = add_member(app, Role.CHAIN_OWNER)
    juice_co = add_member(app)
    juice = push(
        client, juice_co, productIds=["urn:gtin:00000000000024"], pcf=copy.deepcopy(SUGAR_PCF)
    )
    share_product(client, juice_co, other, "urn:gtin:00000000000024")
    concentrate = define(
        client,
        other,
        code="CONC",
        name="Concentrate",
        declaredUnit="kg",
        productUrn="urn:gtin:00000000000031",
        lines=[
            {
                "quantity": "2",
                "unit": "kg",
                "supplierId": juice_co.organisation_id,
                "supplierProduct": "urn:gtin:00000000000024",
            }
        ],
    )
    compute(client, other, concentrate["id"])

    # Not shared yet: our chain-owner can neither use nor read it, nor pin the record.
    mix = {"code": "MIX", "name": "Mix", "declaredUnit": "kg"}
    response = client.post(
        "/api/v1/products",
        headers=chain.owner.headers,
        json=mix | {"lines": [{"quantity": "1", "unit": "kg", "productId": concentrate["id"]}]},
    )
    assert response.status_code == 400
    response = client.post(
        "/api/v1/products",
        headers=chain.owner.headers,
        json=mix
        | {"lines": [{"quantity": "1", "unit": "kg", "recordId": juice["footprint"]["id"]}]},
    )
    assert response.status_code == 400
    for path in ("", "/result", "/explain", "/export"):
        url = f"/api/v1/products/{concentrate['id']}{path}"
        assert client.get(url, headers=chain.owner.headers).status_code == 404

    # Shared as a product: usable, but opaque, even in the explanation and the export.
    share_product(client, other, chain.owner, "urn:gtin:00000000000031")
    product = define(
        client,
        chain.owner,
        **mix,
        lines=[{"quantity": "1", "unit": "kg", "productId": concentrate["id"]}],
    )
    body = compute(client, chain.owner, product["id"])
    assert body["result"]["pcf"]["total"] == "-0.5"
    texts = [json.dumps(body)]
    explanation = client.get(
        f"/api/v1/products/{product['id']}/explain", headers=chain.owner.headers
    ).get_json()
    texts.append(json.dumps(explanation))
    texts.append(
        client.get(
            f"/api/v1/products/{product['id']}/export", headers=chain.owner.headers
        ).get_data(as_text=True)
    )
    component = explanation["tree"]["components"][0]
    assert component["opaque"] is True and "breakdown" not in component
    for text in texts:
        assert juice["footprint"]["id"] not in text
        assert juice_co.organisation_id not in text

    # The juice supplier supersedes its record: both chain-owners' products go stale, and
    # ours is told that a component changed, not which input.
    push(client, juice_co, productIds=["urn:gtin:00000000000024"], pcf=copy.deepcopy(SUGAR_PCF),
         precedingPfIds=[juice["footprint"]["id"]])  # fmt: skip
    for member, product_id in ((other, concentrate["id"]), (chain.owner, product["id"])):
        seen = client.get(f"/api/v1/products/{product_id}", headers=member.headers).get_json()
        assert seen["result"]["stale"] is True
    ours = client.get("/api/v1/products/notices", headers=chain.owner.headers).get_json()
    (notice,) = [n for n in ours["data"] if n["productId"] == product["id"]]
    assert notice["reason"] == services.OTHER_COMPONENT_CHANGED
    theirs = client.get("/api/v1/products/notices", headers=other.headers).get_json()
    assert juice["footprint"]["id"] in theirs["data"][0]["reason"]
    assert juice["footprint"]["id"] not in json.dumps(ours)

    # The other chain-owner stops sharing its concentrate: ours may no longer use it.
    grants = client.get("/api/v1/shares", headers=other.headers).get_json()["data"]
    (concentrate_grant,) = [g for g in grants if g["productId"] == "urn:gtin:00000000000031"]
    client.delete(f"/api/v1/shares/{concentrate_grant['id']}", headers=other.headers)
    refused = client.post(f"/api/v1/products/{product['id']}/compute", headers=chain.owner.headers)
    assert refused.status_code == 400
    assert "no longer shared" in refused.get_json()["message"]

    # A record shared and then unshared is withheld from the explanation.
    shares = client.get("/api/v1/shares", headers=chain.bottle_co.headers).get_json()["data"]
    compute(client, chain.owner, chain.drink["id"])
    for grant in shares:
        client.delete(f"/api/v1/shares/{grant['id']}", headers=chain.bottle_co.headers)
    explanation = client.get(
        f"/api/v1/products/{chain.drink['id']}/explain", headers=chain.owner.headers
    ).get_json()
    assert chain.bottle["footprint"]["id"] not in json.dumps(explanation)
    assert explanation["tree"]["components"][1]["input"]["withheld"] is True


def test_a_derived_footprint_is_signed_submitted_linked_and_verified(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    draft_response = client.get(
        f"/api/v1/products/{chain.drink['id']}/derived-footprint?referenceYear=2025",
        headers=chain.owner.headers,
    )
    assert draft_response.status_code == 200, draft_response.get_json()
    draft = draft_response.get_json()
    assert draft["pcf"]["pcfIncludingBiogenicUptake"] == "0.191924"
    assert draft["pcf"]["declaredUnitOfMeasurement"] == "piece"
    envelope = chain.owner.key.sign_footprint(draft)  # signed on the chain-owner's machine
    response = client.post("/api/v1/footprints", json=envelope, headers=chain.owner.headers)
    assert response.status_code == 201, response.get_json()
    record_id = response.get_json()["id"]

    product = client.get(f"/api/v1/products/{chain.drink['id']}", headers=chain.owner.headers)
    (link,) = product.get_json()["derivedRecords"]
    assert (link["recordId"], link["matchedResult"]) == (record_id, True)

    # A partner it is shared with verifies the chain-owner's signature over the provenance,
    # which holds commitments, not the suppliers' lines (see test_confidential_provenance).
    partner = add_member(app)
    client.post(
        "/api/v1/shares",
        json={"organisationId": partner.organisation_id, "recordId": record_id},
        headers=chain.owner.headers,
    )
    served = client.get(f"/api/v1/footprints/{record_id}", headers=partner.headers).get_json()
    keys = client.get(f"/api/v1/organisations/{chain.owner.organisation_id}/jwks.json").get_json()[
        "keys"
    ]
    (jwk,) = [key for key in keys if key["kid"] == served["signature"]["kid"]]
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=served["footprint"],
        signature=served["signature"]["value"],
        public_key=signing.public_key_from_jwk(
            {k: v for k, v in jwk.items() if k != "kid"} | {"kty": "OKP", "crv": "Ed25519"}
        ),
    )
    (extension,) = served["footprint"]["extensions"]
    provenance = extension["data"]
    assert len(provenance["commitments"]) == 3
    assert chain.bottle["signature"]["value"] not in json.dumps(served)
    # The chain-owner that computed it opens each line and verifies the supplier signature
    # it names, against the supplier's record.
    opened = client.get(
        f"/api/v1/footprints/{record_id}/provenance", headers=chain.owner.headers
    ).get_json()
    bottle_line = opened["lines"][1]["opening"]
    assert commitments.check_opening(provenance, bottle_line) == bottle_line["line"]
    bottle_input = bottle_line["line"]["input"]
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=chain.bottle["footprint"],
        signature=bottle_input["signature"],
        public_key=chain.bottle_co.key.public_key,
    )
    schema = client.get(extension["dataSchema"].removeprefix("http://localhost"))
    assert schema.status_code == 200

    # The record is a normal one: it can be superseded, and it is a PACT footprint.
    assert served["footprint"]["pcf"]["primaryDataShare"] == "53.344049497221"


def test_definitions_are_validated_field_by_field(client: FlaskClient, app: Flask) -> None:
    load_factors(app)
    owner = add_member(app, Role.CHAIN_OWNER)
    response = client.post(
        "/api/v1/products",
        json={"code": "X", "name": "X", "declaredUnit": "hour"},
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "declaredUnit"
    response = client.post(
        "/api/v1/products",
        json={
            "code": "X",
            "name": "X",
            "declaredUnit": "kg",
            "lines": [
                {"quantity": "1", "unit": "kg", "factorCode": "test.sugar", "productId": "x"},
                {"quantity": "one", "unit": "kg", "factorCode": "test.sugar"},
            ],
        },
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert [d["field"] for d in response.get_json()["details"]] == ["lines.1.quantity"]
    response = client.post(
        "/api/v1/products",
        json={
            "code": "X",
            "name": "X",
            "declaredUnit": "kg",
            "lines": [{"quantity": "1", "unit": "furlong", "factorCode": "test.sugar"}],
        },
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert response.get_json()["details"][0]["field"] == "lines.0.unit"
    # A product of the graph that does not exist, or a line naming two kinds of input.
    for line in (
        {"quantity": "1", "unit": "kg", "productId": "no-such-product"},
        {"quantity": "1", "unit": "kg", "productId": "p", "recordId": "r"},
    ):
        response = client.post(
            "/api/v1/products",
            json={"code": "Y", "name": "Y", "declaredUnit": "kg", "lines": [line]},
            headers=owner.headers,
        )
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["details"][0]["field"].startswith("lines.0")
    assert client.get("/api/v1/products", headers=owner.headers).get_json()["data"] == []


def test_a_draft_computed_before_a_change_is_linked_but_not_matched(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.syrup["id"])
    draft = client.get(
        f"/api/v1/products/{chain.syrup['id']}/derived-footprint", headers=chain.owner.headers
    ).get_json()
    # The bill of materials changes and is recomputed before the old draft is submitted.
    client.put(
        f"/api/v1/products/{chain.syrup['id']}/bom",
        json={"lines": [{"quantity": "1", "unit": "kWh", "factorCode": "test.grid"}]},
        headers=chain.owner.headers,
    )
    stale_draft = client.get(
        f"/api/v1/products/{chain.syrup['id']}/derived-footprint", headers=chain.owner.headers
    )
    assert stale_draft.status_code == 409  # not computed since the change
    compute(client, chain.owner, chain.syrup["id"])
    envelope = chain.owner.key.sign_footprint(draft)
    response = client.post("/api/v1/footprints", json=envelope, headers=chain.owner.headers)
    assert response.status_code == 201, response.get_json()
    product = client.get(f"/api/v1/products/{chain.syrup['id']}", headers=chain.owner.headers)
    (link,) = product.get_json()["derivedRecords"]
    assert link["matchedResult"] is False


def test_the_operator_recomputes_every_stale_product(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    push(client, chain.bottle_co, productIds=[BOTTLE_URN], pcf=copy.deepcopy(BOTTLE_PCF),
         precedingPfIds=[chain.bottle["footprint"]["id"]])  # fmt: skip
    result = app.test_cli_runner().invoke(recompute_stale_command)
    assert result.exit_code == 0, result.output
    assert "1 recomputed, 0 changed" in result.output  # the drink; same figures, new record
    drink = client.get(f"/api/v1/products/{chain.drink['id']}", headers=chain.owner.headers)
    body = drink.get_json()
    assert body["result"]["stale"] is False
    assert body["lines"][1]["resolvedRecordId"] != chain.bottle["footprint"]["id"]


def test_pinned_records_resolve_like_supplier_lines(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    # Two pinned lines of one owner, computed both by the product's own path and by a full
    # recomputation (which checks the pins' visibility per owner, not per line).
    sugar_id, bottle_id = chain.sugar["footprint"]["id"], chain.bottle["footprint"]["id"]
    pinned = define(
        client,
        chain.owner,
        code="PINNED",
        name="Pinned",
        declaredUnit="kilogram",
        lines=[
            {"label": "sugar", "quantity": "0.5", "unit": "kg", "recordId": sugar_id},
            {"label": "bottle", "quantity": "1", "unit": "piece", "recordId": bottle_id},
        ],
    )
    first = compute(client, chain.owner, pinned["id"])["result"]
    assert [line["input"]["recordId"] for line in first["inputs"]] == [sugar_id, bottle_id]
    assert first["inputs"][0]["contribution"]["total"] == "-0.125"  # as the supplier line
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.recompute(session)
    url = f"/api/v1/products/{pinned['id']}/result"
    again = client.get(url, headers=chain.owner.headers).get_json()["result"]
    assert signing.canonical_json(again) == signing.canonical_json(first)


def test_packaging_lines_make_the_packaging_part_of_the_derived_footprint(
    app: Flask, client: FlaskClient, chain: Chain
) -> None:
    carton = define(
        client,
        chain.owner,
        code="CARTON",
        name="Boxed drink",
        declaredUnit="piece",
        lines=[
            # a secondary factor as packaging: 0.1 kg x 0.9, all of it packaging
            {"category": "packaging", "quantity": "0.1", "unit": "kg", "factorCode": "test.sugar"},
            # a supplier record as packaging, with biogenic uptake and no packaging figure
            # of its own: 1 kg of 10 kg is -0.25 in total, 0.4 without its uptake
            {
                "category": "packaging",
                "quantity": "1",
                "unit": "kg",
                "supplierId": chain.sugar_co.organisation_id,
                "supplierProduct": SUGAR_URN,
            },
            # a component that brings its own packaging part: a bottle, 12 / 100
            {
                "quantity": "1",
                "unit": "piece",
                "supplierId": chain.bottle_co.organisation_id,
                "supplierProduct": BOTTLE_URN,
            },
        ],
    )
    result = compute(client, chain.owner, carton["id"])["result"]
    assert result["pcf"]["total"] == "-0.04"  # 0.09 - 0.25 + 0.12
    assert result["pcf"]["packaging"] == "0.61"  # 0.09 + 0.4 + 0.12
    assert [line["contribution"]["packaging"] for line in result["inputs"]] == [
        "0.09",
        "0.4",
        "0.12",
    ]
    draft = client.get(
        f"/api/v1/products/{carton['id']}/derived-footprint", headers=chain.owner.headers
    ).get_json()
    assert draft["pcf"]["packagingEmissionsIncluded"] is True
    assert draft["pcf"]["packagingGhgEmissions"] == "0.61"
    assert openapi_errors(draft) == []

    # Without any packaging in its boundary, a product says so and gives no figure.
    compute(client, chain.owner, chain.syrup["id"])
    plain = client.get(
        f"/api/v1/products/{chain.syrup['id']}/derived-footprint", headers=chain.owner.headers
    ).get_json()
    assert plain["pcf"]["packagingEmissionsIncluded"] is False
    assert "packagingGhgEmissions" not in plain["pcf"]
    assert openapi_errors(plain) == []


def test_the_csv_export_shows_the_pact_headline_figure_first(
    client: FlaskClient, chain: Chain
) -> None:
    compute(client, chain.owner, chain.drink["id"])
    exported = client.get(
        f"/api/v1/products/{chain.drink['id']}/export", headers=chain.owner.headers
    ).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    header = exported.splitlines()[0].split(",")
    figures = [name for name in header if name.startswith("contribution")]
    assert figures == [
        "contributionExcludingBiogenicUptake",
        "contribution",
        "contributionToRootExcludingBiogenicUptake",
        "contributionToRoot",
    ]
    sugar = next(row for row in rows if row["label"] == "sugar")
    # 500 g of a 10 kg sugar record: -0.125 with its uptake, 0.2 without; x 0.165 to the drink
    assert (sugar["contributionExcludingBiogenicUptake"], sugar["contribution"]) == (
        "0.2",
        "-0.125",
    )
    assert sugar["contributionToRootExcludingBiogenicUptake"] == "0.033"
