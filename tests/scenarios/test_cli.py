"""``exchange scenarios``: the same documents as the API, as JSON or CSV, from the database."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.scenarios.schemas import DISCLOSURE_COLUMNS, PROCUREMENT_COLUMNS, REDUCTION_COLUMNS
from tests.labels.builders import CATEGORY
from tests.scenarios.builders import Programme, programme


@pytest.fixture
def fx(app: Flask, client: FlaskClient) -> Programme:
    found = programme(app, client)
    found.scheme()
    return found


def test_procurement_prints_the_api_document_and_its_csv(fx: Programme, app: Flask) -> None:
    fx.product(fx.suppliers[0], number=1, product="Baisha green tea", value="-18.44", amount="2")
    fx.product(fx.suppliers[1], number=2, product="Xinglong coffee", value="14", amount="2")
    runner = app.test_cli_runner()
    as_of = "2099-01-01T00:00:00Z"  # after everything: the certificates run two years
    args = ["scenarios", "procurement", "--category", CATEGORY, "--grade", "2"]
    printed = runner.invoke(args=args)
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.output)
    api = fx.client.get(
        "/api/v1/scenarios/procurement", query_string={"category": CATEGORY, "grade": "2"}
    ).get_json()
    assert document["data"] == api["data"]
    assert [item["footprint"]["value"] for item in document["data"]] == ["-9.22", "7"]
    later = runner.invoke(args=[*args, "--as-of", as_of])
    assert json.loads(later.output)["data"] == []  # all expired by then

    table = runner.invoke(args=[*args, "--format", "csv"])
    assert table.exit_code == 0, table.output
    rows = list(csv.reader(io.StringIO(table.output)))
    assert rows[0] == list(PROCUREMENT_COLUMNS) and len(rows) == 3


def test_bad_input_is_an_error_naming_the_field(fx: Programme, app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["scenarios", "procurement", "--category", CATEGORY, "--grade", "0"]
    )
    assert result.exit_code == 1
    assert "grade" in result.output
    unknown = runner.invoke(args=["scenarios", "disclosure", "no-such-company"])
    assert unknown.exit_code == 1 and "no organisation" in unknown.output


def test_disclosure_as_the_company_is_full_and_anonymous_is_public(
    fx: Programme, app: Flask
) -> None:
    company = fx.suppliers[0]
    fx.product(company, number=1, product="Baisha green tea", value="-18.44", amount="2")
    fx.push(company, number=2, product="Secret recipe", value="3", disclosure=None)
    runner = app.test_cli_runner()
    public = runner.invoke(args=["scenarios", "disclosure", company.organisation_id])
    assert public.exit_code == 0, public.output
    document = json.loads(public.output)
    assert document["scope"] == "public"
    assert [item["productName"] for item in document["footprints"]] == ["Baisha green tea"]
    full = runner.invoke(
        args=[
            "scenarios", "disclosure", company.organisation_id,
            "--as", company.organisation_id, "--format", "csv",
        ]
    )  # fmt: skip
    assert full.exit_code == 0, full.output
    rows = list(csv.DictReader(io.StringIO(full.output)))
    assert list(rows[0]) == list(DISCLOSURE_COLUMNS)
    assert {row["product_name"] for row in rows} == {"Baisha green tea", "Secret recipe"}
    as_other = runner.invoke(
        args=[
            "scenarios",
            "disclosure",
            company.organisation_id,
            "--as",
            fx.suppliers[1].organisation_id,
        ]
    )
    assert "Secret recipe" not in as_other.output


def test_reductions_of_a_certificate(fx: Programme, app: Flask) -> None:
    tea = fx.product(fx.suppliers[0], number=1, product="Tea", value="-18.44", amount="2")
    runner = app.test_cli_runner()
    args = ["scenarios", "reductions", "--certificate", str(tea["number"]), "--quantity", "2.5"]
    printed = runner.invoke(args=[*args, "--quantity-unit", "t"])
    assert printed.exit_code == 0, printed.output
    document = json.loads(printed.output)
    assert document["totalReduction"] == {"value": "48050", "unit": "kg CO2e", "exact": True}
    table = runner.invoke(args=[*args, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(table.output)))
    assert list(rows[0]) == list(REDUCTION_COLUMNS)
    assert rows[0]["total_reduction_kgco2e"] == "48.05"  # 2.5 kg x 19.22
