"""Sites: registration, output, and roll-ups equal to hand-computed weighted averages."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import utcnow
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.labels.builders import Programme

Q1 = {"periodStart": "2026-01-01T00:00:00Z", "periodEnd": "2026-04-01T00:00:00Z"}
Q2 = {"periodStart": "2026-04-01T00:00:00Z", "periodEnd": "2026-07-01T00:00:00Z"}


@dataclasses.dataclass
class Park:
    client: FlaskClient
    programme: Programme
    park_owner: Member
    a: Member
    b: Member
    park: str
    factory_a: str
    factory_b: str
    records: dict[str, str]

    def link(self, member: Member, site: str, record: str, quantity: str, period: Any) -> Any:
        return self.client.post(
            f"/api/v1/sites/{site}/productions",
            json={"recordId": self.records.get(record, record), "quantity": quantity, **period},
            headers=member.headers,
        )

    def rollup(self, member: Member, site: str, query: str = "") -> Any:
        response = self.client.get(f"/api/v1/sites/{site}/rollup{query}", headers=member.headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def _site(client: FlaskClient, member: Member, **body: Any) -> str:
    response = client.post("/api/v1/sites", json=body, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _disclose(client: FlaskClient, member: Member, record_id: str, level: str) -> None:
    response = client.put(
        f"/api/v1/footprints/{record_id}/disclosure",
        json={"disclosure": level},
        headers=member.headers,
    )
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def park(app: Flask, client: FlaskClient) -> Park:
    a = add_member(app, Role.SUPPLIER)
    b = add_member(app, Role.SUPPLIER)
    programme = Programme(
        app=app,
        client=client,
        regulator=add_member(app, Role.REGULATOR),
        body=add_member(app, Role.CERTIFICATION_BODY),
        supplier=a,
    )
    programme.accredit()
    programme.scheme()  # benchmark 10 kg CO2e/kg, cut points 0.6/0.8/1.2/2.0
    park_owner = add_member(app, Role.SUPPLIER)
    park_id = _site(client, park_owner, kind="park", name="洋浦经济开发区", region="CN-HI")
    factory_a = _site(
        client,
        a,
        kind="factory",
        name="Factory A",
        region="cn-hi",
        parkId=park_id,
        location="Yangpu",
    )
    factory_b = _site(client, b, kind="factory", name="Factory B", region="CN-HI", parkId=park_id)
    records = {
        # 5 kg CO2e per kg (10 for 2 kg), 3 per kg (certified, grade 1), 7 per piece
        "r1": programme.record(value="10", amount="2")["id"],
        "r2": programme.record(value="3", amount="1")["id"],
        "r3": programme.record(value="7", amount="1", unit="piece")["id"],
    }
    programme.certify(
        programme.client.get(f"/api/v1/footprints/{records['r2']}", headers=a.headers).get_json()[
            "footprint"
        ]
    )
    programme.supplier = b
    records["rb"] = programme.record(value="4", amount="1")["id"]  # private
    records["rb2"] = programme.record(value="12", amount="2")["id"]  # 6 per kg, public
    _disclose(client, b, records["rb2"], "public")
    _disclose(client, a, records["r1"], "regulator")
    return Park(client, programme, park_owner, a, b, park_id, factory_a, factory_b, records)


def _linked(park: Park) -> None:
    for member, site, record, quantity, period in (
        (park.a, park.factory_a, "r1", "100", Q1),
        (park.a, park.factory_a, "r2", "300", Q1),
        (park.a, park.factory_a, "r3", "10", Q1),
        (park.a, park.factory_a, "r1", "50", Q2),
        (park.b, park.factory_b, "rb", "100", Q1),
        (park.b, park.factory_b, "rb2", "200", Q1),
    ):
        response = park.link(member, site, record, quantity, period)
        assert response.status_code == 201, response.get_json()


def test_factory_rollup_is_the_production_weighted_average(park: Park) -> None:
    _linked(park)
    q1 = "?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z"
    doc = park.rollup(park.a, park.factory_a, q1)
    assert doc["withheld"] == 0
    kilogram, piece = doc["units"]
    # (100 x 5 + 300 x 3) / 400 = 3.5; 300 of 400 kg certified
    assert kilogram == {
        "unit": "kilogram",
        "quantity": "400",
        "emissions": "1400",
        "footprintPerUnit": "3.5",
        "records": 2,
        "certifiedQuantity": "300",
        "certifiedShare": "0.75",
        "grades": [
            {"grade": 1, "quantity": "300", "outputs": 1},
            {"grade": None, "quantity": "100", "outputs": 1},
        ],
    }
    # pieces are never added to kilograms
    assert piece["unit"] == "piece"
    assert (piece["quantity"], piece["emissions"], piece["footprintPerUnit"]) == ("10", "70", "7")
    assert piece["certifiedShare"] == "0"
    assert [o["footprintPerUnit"] for o in doc["outputs"]] == ["5", "3", "7"]

    whole_year = park.rollup(park.a, park.factory_a)
    # (150 x 5 + 300 x 3) / 450 = 1650 / 450 = 3.666…
    assert whole_year["units"][0]["quantity"] == "450"
    assert whole_year["units"][0]["emissions"] == "1650"
    assert whole_year["units"][0]["footprintPerUnit"] == "3.666666666667"
    assert whole_year["units"][0]["certifiedShare"] == "0.666666666667"

    page = park.client.get(
        f"/api/v1/sites/{park.factory_a}/rollup.html{q1}", headers=park.a.headers
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "绿色工厂" in html and "Production-weighted footprint" in html and "3.5" in html
    assert "<script" not in html


def test_park_rollup_shows_each_reader_only_what_it_may_see(park: Park) -> None:
    _linked(park)
    q1 = "?from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z"
    # The park's owner sees the one public record: 200 kg at 6.
    owner_view = park.rollup(park.park_owner, park.park, q1)
    assert owner_view["withheld"] == 4
    assert [(u["unit"], u["quantity"], u["footprintPerUnit"]) for u in owner_view["units"]] == [
        ("kilogram", "200", "6")
    ]
    assert {o["recordId"] for o in owner_view["outputs"]} == {park.records["rb2"]}
    assert [f["site"]["id"] for f in owner_view["factories"]] == [park.factory_a, park.factory_b]
    assert owner_view["factories"][0]["units"] == []
    assert owner_view["factories"][0]["withheld"] == 3

    # The regulator also sees what was disclosed to it: (100 x 5 + 200 x 6) / 300.
    regulator_view = park.rollup(park.programme.regulator, park.park, q1)
    assert regulator_view["withheld"] == 3
    kilogram = regulator_view["units"][0]
    assert (kilogram["quantity"], kilogram["emissions"]) == ("300", "1700")
    assert kilogram["footprintPerUnit"] == "5.666666666667"
    assert park.records["rb"] not in str(regulator_view)
    assert park.records["r2"] not in str(regulator_view)

    page = park.client.get(
        f"/api/v1/sites/{park.park}/rollup.html{q1}", headers=park.park_owner.headers
    )
    assert "绿色园区" in page.get_data(as_text=True)


def test_sites_are_not_shown_to_strangers(app: Flask, park: Park) -> None:
    _linked(park)
    stranger = add_member(app, Role.CHAIN_OWNER)
    client = park.client
    for reader, site in (
        (stranger, park.factory_a),
        (stranger, park.park),
        (park.b, park.factory_a),
    ):
        response = client.get(f"/api/v1/sites/{site}/rollup", headers=reader.headers)
        assert response.status_code == 404, (reader, site)
    # Parks are listed for factories to name; factories only to their owner and park.
    assert client.get(f"/api/v1/sites/{park.park}", headers=stranger.headers).status_code == 200
    listed = client.get("/api/v1/sites", headers=stranger.headers).get_json()["data"]
    assert [site["id"] for site in listed] == [park.park]
    owner_list = client.get("/api/v1/sites", headers=park.park_owner.headers).get_json()["data"]
    assert {site["id"] for site in owner_list} == {park.park, park.factory_a, park.factory_b}
    regulator = park.programme.regulator
    assert client.get("/api/v1/sites", headers=regulator.headers).status_code == 200


def test_bad_sites_and_outputs_are_refused_and_change_nothing(park: Park) -> None:
    client, a = park.client, park.a
    cases = [
        ({"kind": "factory", "name": "X", "region": "Hainan"}, "region"),
        ({"kind": "park", "name": "X", "region": "CN", "parkId": park.park}, "parkId"),
        ({"kind": "factory", "name": "X", "region": "CN", "parkId": park.factory_b}, "parkId"),
        ({"kind": "mine", "name": "X", "region": "CN"}, "kind"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/sites", json=body, headers=a.headers)
        assert response.status_code == 400, body
        assert field in {d["field"] for d in response.get_json()["details"]}
    before = client.get("/api/v1/sites", headers=a.headers).get_json()["data"]
    assert len(before) == 2  # the park and its own factory

    assert park.link(a, park.factory_a, "r1", "0", Q1).status_code == 400
    assert park.link(a, park.factory_a, "r1", "1e3", Q1).status_code == 400
    reversed_period = {"periodStart": Q1["periodEnd"], "periodEnd": Q1["periodStart"]}
    assert park.link(a, park.factory_a, "r1", "5", reversed_period).status_code == 400
    assert park.link(a, park.factory_a, "rb", "5", Q1).status_code == 404  # B's record
    assert park.link(a, park.factory_b, "r1", "5", Q1).status_code == 404  # B's factory
    assert park.rollup(a, park.factory_a)["outputs"] == []
    assert park.link(a, park.factory_a, "r1", "5", Q1).status_code == 201
    duplicate = park.link(a, park.factory_a, "r1", "6", Q1)
    assert duplicate.status_code == 409
    assert [o["quantity"] for o in park.rollup(a, park.factory_a)["outputs"]] == ["5"]
    bad_time = client.get(
        f"/api/v1/sites/{park.factory_a}/rollup?from=2026-01-01", headers=a.headers
    )
    assert bad_time.status_code == 400


def test_an_expired_certificate_no_longer_covers_output(park: Park) -> None:
    _linked(park)
    later = "?asOf=2031-01-01T00:00:00Z"
    doc = park.rollup(park.a, park.factory_a, later)
    assert doc["units"][0]["certifiedShare"] == "0"
    assert doc["asOf"] == "2031-01-01T00:00:00+00:00"
    assert utcnow().year < 2031


def test_rollup_command_shows_the_regulators_view(app: Flask, park: Park) -> None:
    _linked(park)
    result = app.test_cli_runner().invoke(
        args=["sites", "rollup", park.park, "--from", "2026-01-01", "--to", "2026-04-01"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["units"][0]["footprintPerUnit"] == "5.666666666667"
    assert document["withheld"] == 3
    missing = app.test_cli_runner().invoke(args=["sites", "rollup", "no-such-site"])
    assert missing.exit_code == 1 and "no site" in missing.output
