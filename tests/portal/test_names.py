"""Codes read as names, and figures rounded as on the printed label."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.labels.claims import round_value
from exchange.portal import names


def test_categories_by_name_in_both_languages_never_the_urn() -> None:
    drink = "urn:pact:productclassification:un-cpc:2449"
    assert names.category_name(drink, "en") == "Other non-alcoholic beverages"
    assert names.category_name(drink, "zh") == "其他无酒精饮料"
    assert names.category_name("urn:pact:productclassification:hainan:tea", "zh") == "茶叶"
    # Not in the tables: still readable, never the URN.
    assert names.category_name("urn:pact:productclassification:un-cpc:0111", "en") == "UN CPC 0111"
    assert (
        names.category_name("urn:pact:productclassification:hainan:dragon-fruit", "zh")
        == "Dragon fruit"
    )
    assert names.category_name("urn:example:widgets", "en") == "Widgets"


def test_regions_by_name_any_case() -> None:
    assert names.region_name("CN-HI", "en") == "Hainan"
    assert names.region_name("cn-hi", "zh") == "海南"
    assert names.region_name("cn", "zh") == "中国"
    assert names.region_name("xx-yy", "en") == "XX-YY"
    assert names.region_name("Europe", "en") == "Europe"
    assert names.product_code("urn:gtin:09506000134352") == "GTIN 09506000134352"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0.29696969697", "0.297"),  # the registry once showed all eleven digits
        ("12.5", "12.5"),
        ("123456", "123500"),  # four significant digits, and no exponent
        ("-18.44", "-18.44"),
        ("0", "0"),
        ("0.000012345", "0.00001234"),  # half to even, as the label
    ],
)
def test_figures_are_what_the_label_prints(value: str, shown: str) -> None:
    assert names.figure(Decimal(value)) == shown
    # The same number the label's own rounding gives, only written without an exponent.
    assert Decimal(names.figure(Decimal(value))) == round_value(Decimal(value))
