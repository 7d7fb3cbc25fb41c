"""Known answers of the unit system, worked out by hand; every result is an exact Decimal."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.factors.units import UnitError, convert, convert_per_unit, to_decimal, unit


@pytest.mark.parametrize(
    ("amount", "source", "target", "expected"),
    [
        ("2.5", "t", "kg", "2500"),
        ("1.1", "t", "kg", "1100"),  # 1.1 * 1000 is 1100.0000000000002 in binary floats
        ("1", "lb", "g", "453.59237"),
        ("750", "mL", "L", "0.75"),
        ("2.5", "MWh", "MJ", "9000"),
        ("1", "tce", "kWh", "8141"),  # 29307.6 MJ / 3.6 MJ per kWh
        ("500", "kg·km", "t·km", "0.5"),
        ("12", "tkm", "ton kilometer", "12"),
        ("1", "ha", "m2", "10000"),
        ("3", "kilowatt hour", "MJ", "10.8"),
        ("0.000001", "GWh", "kWh", "1"),
        ("-4", "kg", "t", "-0.004"),
    ],
)
def test_conversions_are_exact(amount: str, source: str, target: str, expected: str) -> None:
    assert convert(Decimal(amount), source, target) == Decimal(expected)


def test_a_factor_per_unit_converts_by_the_inverse_ratio() -> None:
    # 0.5306 kg CO2e per kWh is 530.6 per MWh, and 0.5306 / 3.6 per MJ.
    assert convert_per_unit(Decimal("0.5306"), "kWh", "MWh") == Decimal("530.6")
    # 0.5306 / 3.6 = 0.14738888...: does not terminate, so 12 places, last one rounded up.
    assert convert_per_unit(Decimal("0.5306"), "kWh", "MJ") == Decimal("0.147388888889")
    assert convert_per_unit(Decimal("2"), "kg", "t") == Decimal("2000")


def test_pieces_convert_to_mass_only_with_a_mass_per_piece() -> None:
    assert convert(Decimal(3), "piece", "kg", mass_per_piece=Decimal("0.25")) == Decimal("0.75")
    assert convert(Decimal(1), "kg", "pcs", mass_per_piece=Decimal("0.25")) == Decimal(4)
    # 1.2 kg CO2e per piece of 0.3 kg is 4 kg CO2e per kg.
    assert convert_per_unit(
        Decimal("1.2"), "piece", "kg", mass_per_piece=Decimal("0.3")
    ) == Decimal(4)
    with pytest.raises(UnitError, match="mass per piece"):
        convert(Decimal(1), "piece", "kg")


def test_incompatible_units_are_an_error_naming_both() -> None:
    with pytest.raises(UnitError) as caught:
        convert(Decimal(1), "kg", "kWh")
    assert "kg" in str(caught.value)
    assert "kWh" in str(caught.value)
    with pytest.raises(UnitError, match="furlong"):
        unit("furlong")


def test_non_terminating_ratios_round_half_even_at_twelve_places() -> None:
    assert to_decimal(Fraction(2, 3)) == Decimal("0.666666666667")
    assert to_decimal(Fraction(1, 3)) == Decimal("0.333333333333")
    assert to_decimal(Fraction(-2, 3)) == Decimal("-0.666666666667")
    # A terminating value is never rounded, however many digits it has.
    assert to_decimal(Fraction(1, 2**20)) == Decimal("0.00000095367431640625")


# Groups whose ratios to each other are powers of ten (kWh to MJ is 3.6 both ways, but
# MJ to kWh is 1/3.6, which is rounded; so is kg to lb).
_DECIMAL_UNITS = {
    "mass": ["kg", "g", "mg", "t"],
    "volume": ["m3", "L", "mL"],
    "joules": ["MJ", "kJ", "GJ", "TJ"],
    "watt hours": ["Wh", "kWh", "MWh", "GWh"],
    "area": ["m2", "ha", "km2"],
}


@given(
    amount=st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False),
    dimension=st.sampled_from(sorted(_DECIMAL_UNITS)),
    data=st.data(),
)
def test_round_trips_between_decimal_ratio_units_are_exact(
    amount: Decimal, dimension: str, data: st.DataObject
) -> None:
    source = data.draw(st.sampled_from(_DECIMAL_UNITS[dimension]))
    target = data.draw(st.sampled_from(_DECIMAL_UNITS[dimension]))
    there = convert(amount, source, target)
    assert convert(there, target, source) == amount
