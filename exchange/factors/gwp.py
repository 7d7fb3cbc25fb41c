"""IPCC GWP100 tables (AR4, AR5, AR6) and exact re-expression of gas-by-gas amounts.

A factor or record given gas by gas (kg of each gas) has a CO2e total in any set: the sum
of each mass times its GWP, computed in :class:`~decimal.Decimal` without rounding. A total
without its gas breakdown cannot be re-expressed (the share of each gas is unknown), so
:func:`reexpress_total` refuses it instead of guessing.

Values: DESIGN.md §7 for CH4, N2O, SF6, HFC-134a and HFC-32 (authoritative there); the
rest from IPCC AR4 WG1 Table 2.14, AR5 WG1 Table 8.A.1 (without climate-carbon feedbacks)
and AR6 WG1 Table 7.SM.7. AR4 gives one CH4 value for fossil and non-fossil methane; AR5
and AR6 add the CO2 from the oxidation of fossil methane.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Final


class GwpSet(enum.StrEnum):
    AR4 = "AR4"
    AR5 = "AR5"
    AR6 = "AR6"


class GwpError(ValueError):
    """An unknown gas or set, or a total that cannot be re-expressed."""


def _table(values: dict[str, tuple[str, str, str]]) -> dict[GwpSet, dict[str, Decimal]]:
    return {
        gwp_set: {gas: Decimal(triple[position]) for gas, triple in values.items()}
        for position, gwp_set in enumerate(GwpSet)
    }


# gas: (AR4, AR5, AR6) GWP100
GWP100: Final[dict[GwpSet, dict[str, Decimal]]] = _table(
    {
        "CO2": ("1", "1", "1"),
        "CH4-fossil": ("25", "30", "29.8"),
        "CH4-non-fossil": ("25", "28", "27.0"),
        "N2O": ("298", "265", "273"),
        "SF6": ("22800", "23500", "25200"),
        "NF3": ("17200", "16100", "17400"),
        "HFC-23": ("14800", "12400", "14600"),
        "HFC-32": ("675", "677", "771"),
        "HFC-125": ("3500", "3170", "3740"),
        "HFC-134a": ("1430", "1300", "1530"),
        "HFC-143a": ("4470", "4800", "5810"),
        "HFC-152a": ("124", "138", "164"),
        "HFC-227ea": ("3220", "3350", "3600"),
        "HFC-236fa": ("9810", "8060", "8690"),
        "HFC-245fa": ("1030", "858", "962"),
        "HFC-365mfc": ("794", "804", "914"),
        "HFC-43-10mee": ("1640", "1650", "1600"),
        "PFC-14": ("7390", "6630", "7380"),
        "PFC-116": ("12200", "11100", "12400"),
        "PFC-218": ("8830", "8900", "9290"),
        "PFC-318": ("10300", "9540", "10200"),
        "PFC-31-10": ("8860", "9200", "10000"),
        "PFC-41-12": ("9160", "8550", "9220"),
        "PFC-51-14": ("9300", "7910", "8620"),
    }
)

GASES: Final = tuple(GWP100[GwpSet.AR6])

ALIASES: Final = {
    "CF4": "PFC-14",
    "C2F6": "PFC-116",
    "C3F8": "PFC-218",
    "C-C4F8": "PFC-318",
    "C4F8": "PFC-318",
    "C4F10": "PFC-31-10",
    "C5F12": "PFC-41-12",
    "C6F14": "PFC-51-14",
    "CHF3": "HFC-23",
    "CH2F2": "HFC-32",
}
_BY_UPPER: Final = {gas.upper(): gas for gas in GASES}


def gas_name(name: str) -> str:
    """The table's name of a gas given by name or formula, case-insensitively."""
    key = name.strip().upper()
    if key == "CH4":
        raise GwpError("say CH4-fossil or CH4-non-fossil: their GWPs differ from AR5 on")
    found = _BY_UPPER.get(key) or ALIASES.get(key)
    if found is None:
        raise GwpError(f"unknown gas {name!r}; known: {', '.join(GASES)}")
    return found


def gwp_set(name: str) -> GwpSet:
    try:
        return GwpSet(name.strip().upper())
    except ValueError:
        raise GwpError(f"unknown GWP set {name!r}; use AR4, AR5 or AR6") from None


def co2e(gases: Mapping[str, Decimal], in_set: GwpSet) -> Decimal:
    """kg CO2e of ``gases`` (kg of each gas) with the GWP100 values of ``in_set``; exact."""
    table = GWP100[in_set]
    total = Decimal(0)
    # Wide enough that no product or sum of stored values is ever rounded.
    with localcontext() as context:
        context.prec = 120
        for name, mass in gases.items():
            total += mass * table[gas_name(name)]
    return total


def reexpress_total(
    total: Decimal,
    from_set: GwpSet,
    to_set: GwpSet,
    gases: Mapping[str, Decimal] | None,
) -> Decimal:
    """A CO2e total of ``from_set`` expressed in ``to_set``, through its gas breakdown.

    Without the breakdown only a same-set "conversion" is possible; anything else is an
    error, never an approximation.
    """
    if from_set == to_set:
        return total
    if not gases:
        raise GwpError(
            f"a total without a gas breakdown cannot be re-expressed from {from_set} to "
            f"{to_set}: declare the kg of each gas"
        )
    return co2e(gases, to_set)
