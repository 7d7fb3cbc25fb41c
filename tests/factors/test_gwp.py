"""GWP100 tables and exact re-expression between IPCC sets, with hand-computed answers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.factors.gwp import GWP100, GwpError, GwpSet, co2e, gas_name, reexpress_total

D = Decimal


@pytest.mark.parametrize(
    ("gas", "ar5", "ar6"),
    [
        ("CH4-fossil", "30", "29.8"),
        ("CH4-non-fossil", "28", "27.0"),
        ("N2O", "265", "273"),
        ("SF6", "23500", "25200"),
        ("HFC-134a", "1300", "1530"),
        ("HFC-32", "677", "771"),
    ],
)
def test_the_design_values_are_the_tables_values(gas: str, ar5: str, ar6: str) -> None:
    assert GWP100[GwpSet.AR5][gas] == D(ar5)
    assert GWP100[GwpSet.AR6][gas] == D(ar6)


def test_every_set_covers_the_same_gases_including_nf3_hfcs_and_pfcs() -> None:
    names = set(GWP100[GwpSet.AR6])
    assert names == set(GWP100[GwpSet.AR5]) == set(GWP100[GwpSet.AR4])
    assert {"NF3", "HFC-23", "HFC-125", "HFC-143a", "PFC-14", "PFC-116"} <= names


def test_a_breakdown_is_re_expressed_exactly() -> None:
    gases = {"CH4-fossil": D("2"), "N2O": D("0.5")}
    # AR6: 2 x 29.8 + 0.5 x 273 = 59.6 + 136.5; AR5: 2 x 30 + 0.5 x 265; AR4: 2 x 25 + 0.5 x 298
    assert co2e(gases, GwpSet.AR6) == D("196.1")
    assert co2e(gases, GwpSet.AR5) == D("192.5")
    assert co2e(gases, GwpSet.AR4) == D("199")
    assert reexpress_total(D("196.1"), GwpSet.AR6, GwpSet.AR5, gases) == D("192.5")


def test_refrigerants_and_sf6_known_answers() -> None:
    # 0.01 kg HFC-134a + 0.2 kg HFC-32 + 0.001 kg SF6 + 1 kg CO2
    gases = {"HFC-134a": D("0.01"), "HFC-32": D("0.2"), "SF6": D("0.001"), "CO2": D("1")}
    assert co2e(gases, GwpSet.AR6) == D("15.3") + D("154.2") + D("25.2") + 1
    assert co2e(gases, GwpSet.AR6) == D("195.7")
    assert co2e(gases, GwpSet.AR5) == D("13") + D("135.4") + D("23.5") + 1


def test_twelve_place_masses_multiply_without_rounding() -> None:
    # 123456789012 x 273 = 33703703400276 and 0.123456789012 x 273 = 33.703703400276
    gases = {"N2O": D("123456789012.123456789012")}
    assert co2e(gases, GwpSet.AR6) == D("33703703400309.703703400276")
    # 40 significant digits, beyond the default 28-digit context: integer arithmetic says
    wide = D("12345678901234567890123456.123456789012")
    expected = D(f"{12345678901234567890123456123456789012 * 273}E-12")
    assert co2e({"N2O": wide}, GwpSet.AR6) == expected
    assert len(expected.as_tuple().digits) == 40


def test_a_total_without_breakdown_is_never_converted() -> None:
    with pytest.raises(GwpError, match="gas breakdown"):
        reexpress_total(D("10"), GwpSet.AR5, GwpSet.AR6, None)
    # The same set needs no breakdown: nothing is converted.
    assert reexpress_total(D("10"), GwpSet.AR5, GwpSet.AR5, None) == D("10")


def test_gas_names_and_ambiguous_methane() -> None:
    assert gas_name("cf4") == "PFC-14"
    assert gas_name("hfc-134A") == "HFC-134a"
    with pytest.raises(GwpError, match="CH4-fossil"):
        gas_name("CH4")
    with pytest.raises(GwpError, match="unknown gas"):
        gas_name("H2O")
