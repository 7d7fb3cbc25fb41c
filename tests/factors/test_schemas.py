"""Parsing the factor exchange format: exact decimals, every bad field reported at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exchange.errors import ValidationFailed
from exchange.factors.gwp import GwpSet
from exchange.factors.schemas import parse_factor


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "test.diesel.2023",
        "kind": "activity",
        "name": "Diesel, combustion",
        "category": "Fuel",
        "value": "2.006",
        "unit": "litre",
        "region": "CN",
        "year": "2023",
        "gwpSet": "ar6",
        "gases": "CO2=2;CH4-fossil=0.0001;N2O=0.00001",
        "scope": "combustion",
        "source": "test source",
        "licence": "CC BY 4.0",
    }
    base.update(changes)
    return base


def fields(error: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return {detail["field"] for detail in error.value.details}


def test_a_csv_row_parses_into_exact_values() -> None:
    item = parse_factor(row())
    assert item.value == Decimal("2.006")
    assert item.unit == "L"
    assert item.gwp_set == GwpSet.AR6
    assert item.category == "fuel"
    assert item.year == 2023
    assert item.gases == {
        "CH4-fossil": Decimal("0.0001"),
        "CO2": Decimal("2"),
        "N2O": Decimal("0.00001"),
    }


def test_the_value_must_be_the_breakdowns_total_to_its_precision() -> None:
    # 2 + 0.0001 x 29.8 + 0.00001 x 273 = 2.00571, which is 2.006 to three places
    assert parse_factor(row(value="2.006")).value == Decimal("2.006")
    with pytest.raises(ValidationFailed) as caught:
        parse_factor(row(value="2.007"))
    assert caught.value.details == [
        {"field": "value", "message": "the gas breakdown gives 2.00571 kg CO2e in AR6, not 2.007"}
    ]


def test_every_bad_field_is_reported_together() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_factor(
            row(
                value=2.006,
                unit="furlong",
                year="20x3",
                gwpSet="AR3",
                gases="CH4=1",
                scope="partial",
                licence="",
            )
        )
    assert fields(caught) == {"value", "unit", "year", "gwpSet", "gases", "scope", "licence"}


def test_decimals_beyond_the_stored_precision_are_refused_not_rounded() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_factor(row(value="0.1234567890123", gases=None))
    assert fields(caught) == {"value"}
    assert parse_factor(row(value="0.123456789012", gases=None)).value == Decimal("0.123456789012")
