"""The compact label encoding: a known answer, field by field, and round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange import signing
from exchange.labels import claims as c
from exchange.labels import qr

KEY = signing.KeyPair.from_private_key(bytes(range(32)))
CLAIMS = c.Claims(
    origin="footprint-exchange.hainan.example",
    gtin="09506000134352",
    lot="LOT2026A",
    label=17,
    certificate=5,
    value=Decimal("-9.22"),
    unit="kilogram",
    grade=2,
    issued=dt.date(2026, 11, 26),
    expires=dt.date(2028, 11, 25),
    kid=KEY.kid,
)
KNOWN_URL = (
    "HTTPS://FOOTPRINT-EXCHANGE.HAINAN.EXAMPLE/01/09506000134352/10/LOT2026A?L="
    "00281474977824768000055398536873305981531677930188650400268190099956319540049990232080"
    "182654036144674625841742216216115016366732534182262060133956080960051613796650860928278"
    "659966630505623947625505043469402097166"
)


def test_known_answer() -> None:
    assert KEY.kid == "1IG2tMH7J2wbJZnOf8LJzQitKf7LMvoAElsuDMVM54Y"
    message = c.signed_message(CLAIMS)
    assert message == (
        b"footprint-exchange:label:v1\n"
        b'{"certificate":5,"expires":"2028-11-25","grade":2,"gtin":"09506000134352",'
        b'"issued":"2026-11-26","kid":"1IG2tMH7J2wbJZnOf8LJzQitKf7LMvoAElsuDMVM54Y",'
        b'"label":17,"lot":"LOT2026A","origin":"footprint-exchange.hainan.example",'
        b'"unit":"kilogram","value":"-9.22"}'
    )
    signature = signing.sign_bytes(message=message, private_key=KEY.private_key)
    assert c.encode(CLAIMS, signature) == KNOWN_URL


def test_known_answer_field_by_field() -> None:
    """Decode the digits by hand: groups of 17 digits are 7 big-endian bytes."""
    digits = KNOWN_URL.split("?L=")[1]
    assert len(digits) == 212  # 12 groups of 17, and 8 digits for the last 3 bytes
    data = b"".join(int(digits[i : i + 17]).to_bytes(7, "big") for i in range(0, 204, 17)) + int(
        digits[204:]
    ).to_bytes(3, "big")
    assert data[0] == 1  # format
    assert int.from_bytes(data[1:5], "big") == 17  # label
    assert int.from_bytes(data[5:9], "big") == 5  # certificate
    assert dt.date(2020, 1, 1) + dt.timedelta(days=int.from_bytes(data[9:11], "big")) == (
        dt.date(2026, 11, 26)
    )
    assert (
        int.from_bytes(data[11:13], "big") == (dt.date(2028, 11, 25) - dt.date(2026, 11, 26)).days
    )
    assert data[13] == (2 << 4) | 2  # kilogram is the second PACT unit; grade 2
    assert data[14:20] == signing.b64url_decode(KEY.kid)[:6]
    assert data[20] == 0xFE  # exponent -2
    assert data[21:-64] == bytes([0xB3, 0x0E])  # zig-zag(-922) = 1843 = 0x33 + 14 * 128, a varint
    scanned = c.decode(KNOWN_URL)
    assert scanned.claims(KEY.kid) == CLAIMS
    signing.verify_bytes(
        message=c.signed_message(CLAIMS), signature=scanned.signature, public_key=KEY.public_key
    )


def test_the_known_label_is_a_version_8_qr() -> None:
    assert qr.symbol(KNOWN_URL).version == 8


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("-9.22", "-9.22"),
        ("-18.44", "-18.44"),
        ("1234.5678", "1235"),
        ("0.000123456", "0.0001235"),
        ("120000", "120000"),
        ("0", "0"),
        ("2.00", "2"),
        ("-0.5", "-0.5"),
    ],
)
def test_values_are_printed_with_four_significant_digits(value: str, printed: str) -> None:
    rounded = c.round_value(Decimal(value))
    claims = dataclasses.replace(CLAIMS, value=rounded)
    assert c.claims_document(claims)["value"] == printed


@given(
    label=st.integers(1, 2**32 - 1),
    certificate=st.integers(1, 2**32 - 1),
    value=st.decimals(min_value=-(10**6), max_value=10**6, allow_nan=False, places=6),
    unit=st.sampled_from(c.UNITS),
    grade=st.none() | st.integers(1, 9),
    issued=st.dates(dt.date(2020, 1, 1), dt.date(2150, 1, 1)),
    days=st.integers(0, 3000),
    lot=st.none() | st.text(alphabet="ABCXYZ0129-._/%a", min_size=1, max_size=20),
)
def test_round_trip(
    label: int,
    certificate: int,
    value: Decimal,
    unit: str,
    grade: int | None,
    issued: dt.date,
    days: int,
    lot: str | None,
) -> None:
    claims = c.Claims(
        origin="fx.example:8443",
        gtin="09506000134352",
        lot=lot,
        label=label,
        certificate=certificate,
        value=c.round_value(value),
        unit=unit,
        grade=grade,
        issued=issued,
        expires=issued + dt.timedelta(days=days),
        kid=KEY.kid,
    )
    url = c.encode(claims, signing.b64url_encode(bytes(64)))
    scanned = c.decode(url)
    assert scanned.claims(KEY.kid) == claims
    assert Decimal(c.claims_document(claims)["value"]) == claims.value


def test_non_canonical_spellings_are_refused() -> None:
    for text in (
        KNOWN_URL.replace("HTTPS://FOOTPRINT", "https://footprint"),
        KNOWN_URL + "&x=1",
        KNOWN_URL + "#top",
        KNOWN_URL.replace("?L=", "?l="),
        KNOWN_URL.replace("HTTPS:", "HTTP:"),
        KNOWN_URL[:-1],
        KNOWN_URL + "0",
        "HTTPS://X/01/09506000134352?L=99999999999999999",
    ):
        with pytest.raises(c.LabelFormatError):
            c.decode(text)
