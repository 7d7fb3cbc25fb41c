"""The green-procurement list: exact values, grades, statuses as of a moment, filters, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.labels.models import Certificate
from exchange.scenarios.schemas import PROCUREMENT_COLUMNS
from tests.labels.builders import CATEGORY
from tests.rules.test_views import listed_rule
from tests.scenarios.builders import Programme, gtin, programme

URL = "/api/v1/scenarios/procurement"


@pytest.fixture
def fx(app: Flask, client: FlaskClient) -> Programme:
    found = programme(app, client)
    found.scheme()
    return found


def _list(fx: Programme, **params: Any) -> Any:
    response = fx.client.get(URL, query_string={"category": CATEGORY, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _certified(fx: Programme) -> dict[str, dict[str, Any]]:
    first, second = fx.suppliers
    return {
        # PACT v3: -18.44 kg CO2e for 2 kg is -9.22 per kilogram (a cradle-to-grave tea).
        "tea": fx.product(first, number=1, product="Baisha green tea", value="-18.44", amount="2"),
        "coffee": fx.product(second, number=2, product="Xinglong coffee", value="14", amount="2"),
        "pepper": fx.product(first, number=3, product="Hainan pepper", value="11"),
        "rubber": fx.product(second, number=4, product="Rubber gloves", value="2", region="CN-GD"),
        "short": fx.product(
            first, number=5, product="Coconut chips", value="3", valid_for=dt.timedelta(hours=1)
        ),
    }


def test_the_list_holds_certified_products_at_or_better_than_the_grade(fx: Programme) -> None:
    made = _certified(fx)
    fx.suspend(made["rubber"]["number"])

    listed = _list(fx, grade="2")
    assert listed["scenario"] == "green-procurement"
    assert listed["scheme"]["version"] == 1
    assert listed["scheme"]["parameters"]["benchmark"] == "10"
    names = [item["product"]["name"] for item in listed["data"]]
    # Grade first, then footprint: the suspended gloves are left out, pepper is grade 3.
    assert names == ["Baisha green tea", "Coconut chips", "Xinglong coffee"]
    tea, chips, coffee = listed["data"]
    assert tea["footprint"] == {
        "value": "-9.22",
        "unit": "kg CO2e",
        "declaredUnit": "kilogram",
        "per": "1 kilogram",
    }
    assert (tea["grade"], chips["grade"], coffee["grade"]) == (1, 1, 2)
    assert coffee["footprint"]["value"] == "7"
    assert tea["product"]["gtin"] == gtin(1)
    assert tea["supplier"]["id"] == fx.suppliers[0].organisation_id
    assert tea["certificate"]["number"] == made["tea"]["number"]
    assert tea["certificate"]["status"] == "active"
    assert tea["certificate"]["validUntil"] == made["tea"]["validUntil"]
    assert tea["certificate"]["logIndex"] == made["tea"]["logIndex"]
    assert tea["scheme"]["version"] == 1
    assert tea["regions"] == ["CN-HI"]
    assert [item["rank"] for item in listed["data"]] == [1, 2, 3]

    best = _list(fx, grade="1")
    assert [item["product"]["name"] for item in best["data"]] == [
        "Baisha green tea",
        "Coconut chips",
    ]
    everything = _list(fx, grade="5")
    assert len(everything["data"]) == 4  # all but the suspended gloves


def test_as_of_a_later_moment_an_expired_certificate_is_left_out(fx: Programme) -> None:
    _certified(fx)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    names = [item["product"]["name"] for item in _list(fx, grade="2", asOf=later)["data"]]
    assert names == ["Baisha green tea", "Rubber gloves", "Xinglong coffee"]
    now = [item["product"]["name"] for item in _list(fx, grade="2")["data"]]
    assert now == ["Baisha green tea", "Rubber gloves", "Coconut chips", "Xinglong coffee"]
    # Before anything was certified the list was empty; before the scheme, there was none.
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    refused = fx.client.get(URL, query_string={"category": CATEGORY, "grade": "2", "asOf": earlier})
    assert refused.status_code == 400
    assert refused.get_json()["details"][0]["field"] == "asOf"


def test_a_suspension_counts_from_its_moment_and_a_reinstatement_restores(
    fx: Programme,
) -> None:
    made = _certified(fx)
    before = dt.datetime.now(dt.UTC).isoformat()
    fx.suspend(made["tea"]["number"])
    assert "Baisha green tea" not in [i["product"]["name"] for i in _list(fx, grade="1")["data"]]
    # As of the moment before the suspension the tea was on the list.
    assert "Baisha green tea" in [
        i["product"]["name"] for i in _list(fx, grade="1", asOf=before)["data"]
    ]
    reinstated = fx.client.post(
        f"/api/v1/certificates/{made['tea']['number']}/reinstate",
        json={"reason": "finding closed"},
        headers=fx.body.headers,
    )
    assert reinstated.status_code == 200
    assert "Baisha green tea" in [i["product"]["name"] for i in _list(fx, grade="1")["data"]]


def test_a_product_certified_twice_is_listed_once_with_its_newest_certificate(
    fx: Programme,
) -> None:
    supplier = fx.suppliers[0]
    fx.product(supplier, number=7, product="Wuzhishan tea", value="5")
    newer = fx.product(supplier, number=7, product="Wuzhishan tea", value="4")
    listed = _list(fx, grade="1")["data"]
    assert [(item["certificate"]["number"], item["footprint"]["value"]) for item in listed] == [
        (newer["number"], "4")
    ]


def test_region_filter_takes_a_country_or_a_subdivision(fx: Programme) -> None:
    _certified(fx)
    in_hainan = [i["product"]["name"] for i in _list(fx, grade="5", region="CN-HI")["data"]]
    assert in_hainan == ["Baisha green tea", "Coconut chips", "Xinglong coffee", "Hainan pepper"]
    in_china = _list(fx, grade="5", region="cn")["data"]
    assert len(in_china) == 5  # Hainan and Guangdong
    in_guangdong = _list(fx, grade="5", region="CN-GD")["data"]
    assert [i["product"]["name"] for i in in_guangdong] == ["Rubber gloves"]
    # A prefix that is not a whole code finds nothing.
    assert _list(fx, grade="5", region="C")["data"] == []
    assert _list(fx, grade="5", region="TH")["data"] == []


def test_rule_filter_keeps_records_citing_the_rule(fx: Programme) -> None:
    code = listed_rule(
        fx.client,
        fx.suppliers[0],
        fx.regulator,
        code="HN-PCR-TEA",
        title="Tea, cradle to gate",
        productClassifications=[CATEGORY],
    )
    fx.product(fx.suppliers[0], number=8, product="Rule-following tea", value="5", rule=code)
    fx.product(fx.suppliers[1], number=9, product="Other tea", value="5")
    names = [i["product"]["name"] for i in _list(fx, grade="1", rule=code)["data"]]
    assert names == ["Rule-following tea"]
    assert _list(fx, grade="1", rule=code)["rule"]["code"] == code
    assert len(_list(fx, grade="1")["data"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"grade": "2", "category": "urn:pact:productclassification:hainan:unknown"}, "category"),
        ({"grade": "0"}, "grade"),
        ({"grade": "10"}, "grade"),
        ({"grade": "two"}, "grade"),
        ({"grade": "²"}, "grade"),
        ({"grade": "6"}, "grade"),  # the scheme has five grades
        ({}, "grade"),
        ({"grade": "2", "category": ""}, "category"),
        ({"grade": "2", "asOf": "yesterday"}, "asOf"),
        ({"grade": "2", "asOf": "2026-11-26T08:00:00"}, "asOf"),
        ({"grade": "2", "rule": "HN-NO-SUCH-RULE"}, "rule"),
        ({"grade": "2", "format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_clear_json_errors(
    fx: Programme, params: dict[str, str], field: str
) -> None:
    query = {"category": CATEGORY, **params}
    response = fx.client.get(URL, query_string=query)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["code"] == "BadRequest"
    assert body["details"][0]["field"] == field


def test_a_bad_token_is_refused_and_no_token_reads_the_public_list(fx: Programme) -> None:
    _certified(fx)
    refused = fx.client.get(
        URL,
        query_string={"category": CATEGORY, "grade": "1"},
        headers={"Authorization": "Bearer forged"},
    )
    assert refused.status_code == 401
    signed_in = fx.client.get(
        URL, query_string={"category": CATEGORY, "grade": "1"}, headers=fx.suppliers[1].headers
    )
    assert signed_in.get_json() == {
        **_list(fx, grade="1"),
        "filters": signed_in.get_json()["filters"],
    }


def test_csv_has_one_row_per_product_and_fixed_columns(fx: Programme) -> None:
    _certified(fx)
    fx.product(fx.suppliers[1], number=10, product="=HYPERLINK(1)", value="1")
    response = fx.client.get(
        URL, query_string={"category": CATEGORY, "grade": "2", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(PROCUREMENT_COLUMNS)
    table = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [row["product_name"] for row in table] == [
        "Baisha green tea",
        "'=HYPERLINK(1)",  # a spreadsheet must not run a supplier's text as a formula
        "Rubber gloves",
        "Coconut chips",
        "Xinglong coffee",
    ]
    tea = table[0]
    assert tea["footprint_kgco2e_per_unit"] == "-9.22"  # numbers are never quoted
    assert tea["declared_unit"] == "kilogram"
    assert (tea["grade"], tea["scheme_version"], tea["certificate_status"]) == ("1", "1", "active")
    assert tea["gtin"] == gtin(1)
    assert tea["regions"] == "CN-HI"


def test_the_printable_page_is_bilingual_and_runs_no_script(fx: Programme) -> None:
    _certified(fx)
    response = fx.client.get(
        URL, query_string={"category": CATEGORY, "grade": "2", "format": "html"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "绿色采购清单" in page and "Green-procurement list" in page
    assert "<script" not in page
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Baisha green tea" in page and "-9.22" in page
    assert "format=csv" in page
    with fx.client.get("/api/v1/scenarios/static/scenarios.css") as css:
        assert css.status_code == 200 and b"@media print" in css.data


def test_certificates_are_unchanged_by_reading_the_list(fx: Programme, app: Flask) -> None:
    _certified(fx)
    with app.extensions["exchange.sessions"]() as session:
        before = session.execute(sa.select(Certificate.id, Certificate.status)).all()
    fx.client.get(URL, query_string={"category": CATEGORY, "grade": "99"})
    _list(fx, grade="3")
    with app.extensions["exchange.sessions"]() as session:
        assert session.execute(sa.select(Certificate.id, Certificate.status)).all() == before
