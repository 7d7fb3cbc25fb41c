"""GS1 check digits and Digital Link paths, against published examples."""

from __future__ import annotations

import pytest

from exchange.labels import gs1


@pytest.mark.parametrize(
    ("key", "check"),
    [
        ("950600013435", 2),  # GS1's example GTIN-13 9506000134352
        ("400638133393", 1),  # EAN-13 4006381333931
        ("03600029145", 2),  # UPC-A 036000291452
        ("9638507", 4),  # EAN-8 96385074
        ("1950600013435", 9),  # GTIN-14 with indicator digit 1: 19506000134359
    ],
)
def test_check_digits(key: str, check: int) -> None:
    assert gs1.check_digit(key) == check


def test_gtins_are_normalised_to_14_digits() -> None:
    assert gs1.normalise_gtin("9506000134352") == "09506000134352"
    assert gs1.normalise_gtin("urn:gtin:036000291452") == "00036000291452"
    assert gs1.normalise_gtin("96385074") == "00000096385074"
    for bad in (
        "9506000134353",
        "950600013435",
        "95060001343520",
        "abcdefghijklm",
        "٩٥٠٦٠٠٠١٣٤٣٥٢",
    ):
        with pytest.raises(gs1.GS1Error):
            gs1.normalise_gtin(bad)


def test_digital_link_paths() -> None:
    assert gs1.digital_link_path("9506000134352") == "/01/09506000134352"
    assert gs1.digital_link_path("9506000134352", "AB-12") == "/01/09506000134352/10/AB-12"
    assert gs1.digital_link_path("9506000134352", "a/b&c") == "/01/09506000134352/10/a%2Fb%26c"
    assert gs1.parse_digital_link_path("/01/09506000134352/10/a%2Fb%26c") == (
        "09506000134352",
        "a/b&c",
    )
    assert gs1.parse_digital_link_path("/01/09506000134352") == ("09506000134352", None)
    for bad in (
        "/01/9506000134352",  # 13 digits: the URI form is GTIN-14
        "/01/09506000134353",
        "/01/09506000134352/21/X",
        "/01/09506000134352/10/a%2fb",  # lower-case hex is not the canonical form
        "/01/09506000134352/10/",
        "/02/09506000134352",
    ):
        with pytest.raises(gs1.GS1Error):
            gs1.parse_digital_link_path(bad)
    with pytest.raises(gs1.GS1Error):
        gs1.check_lot("x" * 21)
    with pytest.raises(gs1.GS1Error):
        gs1.check_lot("lot#1")  # '#' is not in CSET 82
