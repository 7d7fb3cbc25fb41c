"""Carbon-inclusion reductions: exact figures against the category benchmark, units made
consistent (PACT v3: the PCF is per declaredUnitAmount x unit), negative reductions shown."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.scenarios.schemas import REDUCTION_COLUMNS
from tests.labels.builders import CATEGORY
from tests.scenarios.builders import Programme, programme

URL = "/api/v1/scenarios/reductions"
COFFEE = "urn:pact:productclassification:hainan:coffee"


@pytest.fixture
def fx(app: Flask, client: FlaskClient) -> Programme:
    found = programme(app, client)
    found.scheme()  # benchmark 10 kg CO2e per kilogram
    return found


def _get(fx: Programme, member: Any = None, **params: str) -> Any:
    headers = member.headers if member is not None else {}
    response = fx.client.get(URL, query_string=params, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _error(fx: Programme, status: int = 400, member: Any = None, **params: str) -> Any:
    headers = member.headers if member is not None else {}
    response = fx.client.get(URL, query_string=params, headers=headers)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_the_hainan_tea_reduces_by_benchmark_minus_its_negative_footprint(
    fx: Programme,
) -> None:
    tea = fx.product(
        fx.suppliers[0], number=1, product="Baisha green tea", value="-18.44", amount="2"
    )
    found = _get(fx, certificate=str(tea["number"]), quantity="500")
    assert found["basis"]["kind"] == "certificate"
    assert found["basis"]["certificate"] == tea["number"]
    assert found["basis"]["record"] == tea["record"]
    assert found["basis"]["certificateStatus"] == "active"
    assert found["basis"]["logIndex"] == tea["logIndex"]
    assert found["category"] == CATEGORY
    assert found["benchmark"]["value"] == "10"
    assert found["benchmark"]["unit"] == "kg CO2e per 1 kilogram"
    assert found["benchmark"]["scheme"]["version"] == 1
    assert found["footprintPerUnit"] == {
        "value": "-9.22",
        "unit": "kg CO2e per 1 kilogram",
        "exact": True,
    }
    # 10 - (-9.22) = 19.22 per kilogram; 500 kg sold: 9610 kg CO2e.
    assert found["reductionPerUnit"]["value"] == "19.22"
    assert found["quantity"] == {
        "value": "500",
        "unit": "kilogram",
        "inSchemeUnit": {"value": "500", "unit": "kilogram", "exact": True},
    }
    assert found["totalReduction"] == {"value": "9610", "unit": "kg CO2e", "exact": True}
    assert found["outcome"] == "reduction"

    # From the record itself (published): the same figures, per 2 kg divided out.
    by_record = _get(fx, record=tea["record"], quantity="500")
    assert by_record["basis"]["kind"] == "record"
    assert by_record["basis"]["pcf"] == "-18.44"
    assert by_record["basis"]["declaredUnitAmount"] == "2"
    assert by_record["totalReduction"]["value"] == "9610"


def test_quantities_in_other_units_convert_exactly(fx: Programme) -> None:
    tea = fx.product(fx.suppliers[0], number=1, product="Tea", value="-18.44", amount="2")
    number = str(tea["number"])
    tonnes = _get(fx, certificate=number, quantity="2.5", quantityUnit="t")
    assert tonnes["quantity"]["inSchemeUnit"]["value"] == "2500"
    assert tonnes["totalReduction"]["value"] == "48050"
    grams = _get(fx, certificate=number, quantity="750", quantityUnit="g")
    assert grams["quantity"]["inSchemeUnit"]["value"] == "0.75"
    assert grams["totalReduction"]["value"] == "14.415"


def test_a_record_declared_in_pieces_converts_through_its_stated_mass(fx: Programme) -> None:
    # 6 kg CO2e for 10 pieces weighing 2.5 kg together: 0.6 per piece, 2.4 per kilogram.
    record = fx.push(
        fx.suppliers[0],
        number=2,
        product="Coconut sweets",
        value="6",
        amount="10",
        unit="piece",
        mass="2.5",
    )
    per_kg = _get(fx, record=record["id"], quantity="1000", quantityUnit="piece")
    assert per_kg["footprintPerUnit"]["value"] == "2.4"
    assert per_kg["reductionPerUnit"]["value"] == "7.6"
    # 1000 pieces are 250 kg: 250 x 7.6.
    assert per_kg["quantity"]["inSchemeUnit"]["value"] == "250"
    assert per_kg["totalReduction"]["value"] == "1900"
    in_kg = _get(fx, record=record["id"], quantity="100")
    assert in_kg["totalReduction"]["value"] == "760"

    massless = fx.push(
        fx.suppliers[0], number=3, product="Sweets", value="6", amount="10", unit="piece", mass="0"
    )
    refused = _error(fx, record=massless["id"], quantity="1")
    assert refused["details"][0]["field"] == "declaredUnitOfMeasurement"
    assert "piece" in refused["message"] and "kilogram" in refused["message"]
    volume = _error(fx, record=record["id"], quantity="1", quantityUnit="L")
    assert volume["details"][0]["field"] == "quantityUnit"


def test_a_footprint_above_the_benchmark_is_a_negative_reduction_not_hidden(
    fx: Programme,
) -> None:
    heavy = fx.product(fx.suppliers[1], number=4, product="Imported tea", value="25")
    found = _get(fx, certificate=str(heavy["number"]), quantity="3")
    assert found["reductionPerUnit"]["value"] == "-15"
    assert found["totalReduction"]["value"] == "-45"
    assert found["outcome"] == "no-reduction"
    at_benchmark = fx.product(fx.suppliers[1], number=5, product="Average tea", value="10")
    assert _get(fx, certificate=str(at_benchmark["number"]))["outcome"] == "no-reduction"


def test_a_division_that_never_ends_is_rounded_once_and_marked(fx: Programme) -> None:
    # 10 kg CO2e for 3 kg: 10/3 per kilogram, a reduction of 20/3 per kilogram.
    record = fx.push(fx.suppliers[0], number=6, product="Thirds", value="10", amount="3")
    found = _get(fx, record=record["id"], quantity="3")
    assert found["footprintPerUnit"] == {
        "value": "3.333333333333",
        "unit": "kg CO2e per 1 kilogram",
        "exact": False,
    }
    assert found["reductionPerUnit"]["value"] == "6.666666666667"
    assert found["reductionPerUnit"]["exact"] is False
    # The total is computed on the exact fraction: 20/3 x 3 is exactly 20.
    assert found["totalReduction"] == {"value": "20", "unit": "kg CO2e", "exact": True}


def test_a_newer_scheme_is_used_unless_a_version_is_named(fx: Programme) -> None:
    tea = fx.product(fx.suppliers[0], number=1, product="Tea", value="-18.44", amount="2")
    fx.scheme(parameters={"benchmark": "12", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]})
    newest = _get(fx, certificate=str(tea["number"]))
    assert (newest["benchmark"]["value"], newest["benchmark"]["scheme"]["version"]) == ("12", 2)
    assert newest["reductionPerUnit"]["value"] == "21.22"
    first = _get(fx, certificate=str(tea["number"]), schemeVersion="1")
    assert (first["benchmark"]["value"], first["reductionPerUnit"]["value"]) == ("10", "19.22")
    missing = _error(fx, certificate=str(tea["number"]), schemeVersion="7")
    assert missing["details"][0]["field"] == "schemeVersion"


def test_a_private_record_of_another_company_is_not_found(fx: Programme) -> None:
    owner, other = fx.suppliers
    private = fx.push(owner, number=7, product="Private", value="1", disclosure=None)
    assert _error(fx, 404, member=other, record=private["id"])["code"] == "NotFound"
    assert _error(fx, 404, record=private["id"])["code"] == "NotFound"
    assert _get(fx, member=owner, record=private["id"])["reductionPerUnit"]["value"] == "9"


TEA = "{tea}"  # stands for the certified tea's number


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "record|certificate"),
        ({"record": "x", "certificate": TEA}, "record|certificate"),
        ({"certificate": "abc"}, "certificate"),
        ({"certificate": "0"}, "certificate"),
        ({"record": "x" * 37}, "record"),
        ({"certificate": TEA, "quantity": "-1"}, "quantity"),
        ({"certificate": TEA, "quantity": "0"}, "quantity"),
        ({"certificate": TEA, "quantity": "abc"}, "quantity"),
        ({"certificate": TEA, "quantity": "1e3"}, "quantity"),
        ({"certificate": TEA, "quantity": "1", "quantityUnit": "parsec"}, "quantityUnit"),
        ({"certificate": TEA, "quantityUnit": "kg"}, "quantityUnit"),
        ({"certificate": TEA, "category": COFFEE}, "category"),
        ({"certificate": TEA, "schemeVersion": "0"}, "schemeVersion"),
        ({"certificate": TEA, "format": "pdf"}, "format"),
    ],
)
def test_bad_parameters_are_clear_json_errors(
    fx: Programme, params: dict[str, str], field: str
) -> None:
    tea = fx.product(fx.suppliers[0], number=1, product="Tea", value="-18.44", amount="2")
    query = {name: str(tea["number"]) if value == TEA else value for name, value in params.items()}
    body = _error(fx, 400, None, **query)
    assert body["code"] == "BadRequest"
    assert body["details"][0]["field"] == field


def test_categories_without_a_benchmark_or_scheme_are_refused(fx: Programme) -> None:
    coffee = fx.push(fx.suppliers[0], number=8, product="Coffee", value="5", category=COFFEE)
    unknown = _error(fx, record=coffee["id"])
    assert unknown["details"][0]["field"] == "category"
    fx.scheme(category=COFFEE, method="fixed-bands", parameters={"cutPoints": ["5", "10"]})
    banded = _error(fx, record=coffee["id"])
    assert "fixed-bands" in banded["message"] and "no benchmark" in banded["message"]
    assert _error(fx, 404, certificate="999999")["code"] == "NotFound"


def test_csv_is_one_row_with_fixed_columns(fx: Programme) -> None:
    tea = fx.product(fx.suppliers[0], number=1, product="Tea", value="-18.44", amount="2")
    response = fx.client.get(
        URL, query_string={"certificate": str(tea["number"]), "quantity": "500", "format": "csv"}
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == list(REDUCTION_COLUMNS)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["footprint_kgco2e_per_unit"] == "-9.22"
    assert row["reduction_kgco2e_per_unit"] == "19.22"
    assert row["total_reduction_kgco2e"] == "9610"
    assert (row["benchmark_kgco2e_per_unit"], row["scheme_version"]) == ("10", "1")
    assert (row["unit"], row["exact"], row["outcome"]) == ("kilogram", "true", "reduction")


def test_the_printable_page_states_benchmark_scheme_and_outcome(fx: Programme) -> None:
    heavy = fx.product(fx.suppliers[1], number=4, product="Imported tea", value="25")
    response = fx.client.get(
        URL, query_string={"certificate": str(heavy["number"]), "quantity": "3", "format": "html"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "碳普惠减排量" in page and "Carbon-inclusion reduction" in page
    assert "-45 kg CO2e" in page and "无减排" in page and "no reduction" in page
    assert "<script" not in page
