"""The starter dataset: it loads whole, every row names its source and licence, and each
fuel factor is the derivation its source text states (NCV x carbon content x oxidation x
44/12), so a figure and the text that explains it cannot drift apart."""

from __future__ import annotations

import re
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest

from exchange.factors import schemas, services
from exchange.factors.schemas import FactorInput

ROWS = [schemas.parse_factor(row) for row in schemas.read_rows(services.starter_text(), "csv")]
FUELS = [row for row in ROWS if row.category == "fuel"]


def test_the_starter_set_holds_each_kind_once_with_its_source_and_licence() -> None:
    assert Counter(row.category for row in ROWS) == {
        "electricity": 9,
        "greenhouse-gas": 69,
        "fuel": 12,
        "transport": 7,
        "material": 6,
    }
    assert len({row.code for row in ROWS}) == len(ROWS)
    for row in ROWS:
        assert row.source and row.licence, row.code
    for row in ROWS:
        if row.category in ("transport", "material"):
            assert row.source.startswith(
                "UK Government GHG Conversion Factors for Company Reporting 2025"
            )
            assert row.licence.startswith("Open Government Licence v3.0")
            assert row.gases is None  # published as CO2e totals only
    # The GWP basis the DESNZ methodology paper gives each sheet (2025, Table 1).
    assert {row.gwp_set.value for row in ROWS if row.category == "transport"} == {"AR5"}
    assert {row.gwp_set.value for row in ROWS if row.category == "material"} == {"AR4"}
    assert {row.unit for row in ROWS if row.category == "transport"} == {"t·km"}
    assert {row.unit for row in ROWS if row.category == "material"} == {"t"}


def _number(pattern: str, text: str) -> Fraction:
    found = re.search(pattern, text)
    assert found is not None, (pattern, text)
    return Fraction(found.group(1))


def _four_places(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


@pytest.mark.parametrize("row", FUELS, ids=[row.code for row in FUELS])
def test_a_fuel_factor_is_the_guideline_derivation_its_source_states(row: FactorInput) -> None:
    carbon = _number(r"carbon content per unit heat ([\d.]+) tC/TJ", row.source) / 1000
    oxidation = _number(r"oxidation rate (\d+)%", row.source) / 100
    per_gj = carbon * oxidation * Fraction(44, 12)  # t CO2 per GJ
    if row.unit == "GJ":
        expected = per_gj * 1000
    else:
        ncv = _number(r"net calorific value ([\d.]+) GJ", row.source)
        # GJ/t gives t CO2 per t (= kg per kg); GJ per 10^4 Nm3 gives t per 10^4 Nm3.
        expected = ncv * per_gj * (Fraction(1, 10) if row.unit == "m3" else 1)
    assert row.value == _four_places(expected)
    assert row.gases == {"CO2": row.value}
    assert (row.region, row.scope.value) == ("CN", "combustion")
