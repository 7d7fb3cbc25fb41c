"""A small exact unit system for activity quantities and the denominators of factors.

Every unit is a dimension and an exact ratio (a :class:`~fractions.Fraction`) to that
dimension's base unit, so conversions never pass through binary floating point. Results
are :class:`~decimal.Decimal`: exact when the decimal expansion ends (1 t = 1000 kg,
1 MWh = 3600 MJ); a ratio that never ends in decimal (1 MJ = 1/3.6 kWh) is rounded
half-even to :data:`~exchange.quantities.PLACES` fractional digits, the precision the database
keeps.

Pieces convert to mass only through a given mass per piece.
"""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal
from fractions import Fraction
from typing import Final

from exchange import quantities


class Dimension(enum.StrEnum):
    MASS = "mass"
    VOLUME = "volume"
    ENERGY = "energy"
    DISTANCE = "distance"
    TRANSPORT = "distance-mass"
    AREA = "area"
    COUNT = "pieces"


@dataclasses.dataclass(frozen=True, slots=True)
class Unit:
    symbol: str
    dimension: Dimension
    # How many base units of the dimension one of this unit is.
    to_base: Fraction


class UnitError(ValueError):
    """An unknown unit, or a conversion between units of different dimensions."""


def _units(dimension: Dimension, table: dict[str, str]) -> dict[str, Unit]:
    return {symbol: Unit(symbol, dimension, Fraction(ratio)) for symbol, ratio in table.items()}


UNITS: Final[dict[str, Unit]] = {
    **_units(
        Dimension.MASS,
        # The international avoirdupois pound is defined as exactly 0.45359237 kg.
        {"kg": "1", "g": "0.001", "mg": "0.000001", "t": "1000", "lb": "0.45359237"},
    ),
    **_units(Dimension.VOLUME, {"m3": "1", "L": "0.001", "mL": "0.000001"}),
    **_units(
        Dimension.ENERGY,
        # tce: tonne of standard coal equivalent, 29.3076 GJ (GB/T 2589).
        {
            "MJ": "1",
            "kJ": "0.001",
            "GJ": "1000",
            "TJ": "1000000",
            "Wh": "0.0036",
            "kWh": "3.6",
            "MWh": "3600",
            "GWh": "3600000",
            "tce": "29307.6",
        },
    ),
    **_units(Dimension.DISTANCE, {"km": "1", "m": "0.001"}),
    **_units(Dimension.TRANSPORT, {"t·km": "1", "kg·km": "0.001"}),
    **_units(Dimension.AREA, {"m2": "1", "ha": "10000", "km2": "1000000"}),
    **_units(Dimension.COUNT, {"piece": "1"}),
}

# Other spellings, including PACT's declaredUnitOfMeasurement values.
ALIASES: Final[dict[str, str]] = {
    "kilogram": "kg",
    "gram": "g",
    "tonne": "t",
    "ton": "t",
    "liter": "L",
    "litre": "L",
    "l": "L",
    "cubic meter": "m3",
    "m³": "m3",
    "kilowatt hour": "kWh",
    "megajoule": "MJ",
    "ton kilometer": "t·km",
    "tkm": "t·km",
    "t.km": "t·km",
    "t*km": "t·km",
    "kgkm": "kg·km",
    "kg.km": "kg·km",
    "kg*km": "kg·km",
    "square meter": "m2",
    "m²": "m2",
    "pieces": "piece",
    "pc": "piece",
    "pcs": "piece",
}


def unit(symbol: str) -> Unit:
    """The unit named by a symbol or an alias; an unknown name is a :class:`UnitError`."""
    name = symbol.strip()
    found = (
        UNITS.get(name)
        or UNITS.get(ALIASES.get(name, ""))
        or UNITS.get(ALIASES.get(name.lower(), ""))
    )
    if found is None:
        raise UnitError(f"unknown unit {symbol!r}; known: {', '.join(UNITS)}")
    return found


def to_decimal(value: Fraction) -> Decimal:
    """A fraction as a Decimal: exact when it terminates, else rounded half-even to
    :data:`~exchange.quantities.PLACES` fractional digits."""
    denominator = value.denominator
    # A fraction terminates in base 10 iff its reduced denominator has no prime but 2 and 5.
    rest = denominator
    twos = fives = 0
    while rest % 2 == 0:
        rest //= 2
        twos += 1
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest == 1:
        digits = max(twos, fives)
        exact = value * 10**digits
        assert exact.denominator == 1
        return Decimal(exact.numerator).scaleb(-digits)
    # Round half to even on the exact fraction, never on a float.
    scaled = value * 10**quantities.PLACES
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Decimal(floor).scaleb(-quantities.PLACES)


def _ratio(source: Unit, target: Unit, mass_per_piece: Decimal | None) -> Fraction:
    """How many ``target`` units one ``source`` unit is."""
    if source.dimension == target.dimension:
        return source.to_base / target.to_base
    if mass_per_piece is not None and {source.dimension, target.dimension} == {
        Dimension.COUNT,
        Dimension.MASS,
    }:
        kg_per_piece = Fraction(mass_per_piece)
        if kg_per_piece <= 0:
            raise UnitError("the mass per piece must be positive")
        if source.dimension == Dimension.COUNT:
            return source.to_base * kg_per_piece / target.to_base
        return source.to_base / kg_per_piece / target.to_base
    hint = (
        " (give the mass per piece)"
        if Dimension.COUNT in {source.dimension, target.dimension}
        and Dimension.MASS in {source.dimension, target.dimension}
        else ""
    )
    raise UnitError(
        f"cannot convert {source.symbol} ({source.dimension.value}) to "
        f"{target.symbol} ({target.dimension.value}){hint}"
    )


def convert(
    amount: Decimal, source: str, target: str, *, mass_per_piece: Decimal | None = None
) -> Decimal:
    """A quantity of ``source`` units expressed in ``target`` units.

    ``mass_per_piece`` (kg per piece) lets pieces and masses convert into each other.
    """
    ratio = _ratio(unit(source), unit(target), mass_per_piece)
    return to_decimal(Fraction(amount) * ratio)


def convert_per_unit(
    value: Decimal, source: str, target: str, *, mass_per_piece: Decimal | None = None
) -> Decimal:
    """A value per ``source`` unit (a factor) expressed per ``target`` unit.

    0.5306 kg CO2e per kWh is 530.6 per MWh: the inverse ratio of :func:`convert`.
    """
    ratio = _ratio(unit(target), unit(source), mass_per_piece)
    return to_decimal(Fraction(value) * ratio)
