"""exchange.quantities: the 12 decimal places and the one text of a figure, by known answers,
and the same bytes as each helper it replaced wherever that helper gave an answer."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange import quantities
from exchange.quantities import fits, places, rounded, rounded_text, stripped, text

# --- known answers ---------------------------------------------------------------------------


def test_text_is_the_shortest_plain_form() -> None:
    # Moved from tests/factors/test_schemas.py with the helper (factors.schemas.decimal_text).
    assert text(Decimal("0.556800000000")) == "0.5568"
    assert text(Decimal("1E+2")) == "100"
    assert text(Decimal("0E-12")) == "0"
    assert text(Decimal("-9.220")) == "-9.22"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        # exponents: never scientific notation, whichever way the Decimal holds it
        ("1E+2", "100"),
        ("1.5E+3", "1500"),
        ("1E-7", "0.0000001"),
        ("-2.5E-3", "-0.0025"),
        ("12.5E0", "12.5"),
        # zero and negative zero, at any exponent
        ("0", "0"),
        ("-0", "0"),
        ("0E+5", "0"),
        ("-0E-12", "0"),
        ("0.000", "0"),
        ("-0.000000000000", "0"),
        # trailing zeros go, other zeros stay
        ("1.500", "1.5"),
        ("100.00", "100"),
        ("10", "10"),
        ("1000.0010", "1000.001"),
        ("-9.220", "-9.22"),
        # nothing is rounded, however many places or digits
        ("0.1234567890125", "0.1234567890125"),
        ("1E-30", "0.000000000000000000000000000001"),
        # 38 digits: Decimal.normalize() would round this to the context's 28
        ("12345678901234567890123456.123456789012", "12345678901234567890123456.123456789012"),
        ("1E+40", "1" + "0" * 40),
    ],
)
def test_text_known_answers(value: str, written: str) -> None:
    assert text(Decimal(value)) == written


@pytest.mark.parametrize(
    ("value", "written"),
    [
        # the 12-place boundary: kept at 12, rounded half-even at 13
        ("0.123456789012", "0.123456789012"),
        ("0.1234567890125", "0.123456789012"),
        ("0.1234567890135", "0.123456789014"),
        ("0.1234567890126", "0.123456789013"),
        ("-0.1234567890125", "-0.123456789012"),
        ("0.0000000000005", "0"),
        ("0.0000000000015", "0.000000000002"),
        ("0.000000000001", "0.000000000001"),
        # tiny: below half a step is zero, and never "-0"
        ("1E-13", "0"),
        ("-1E-13", "0"),
        ("-4.9E-13", "0"),
        ("-5.1E-13", "-0.000000000001"),
        # huge: beyond the 50 digits of the default rounding context, still exact
        ("1E+60", "1" + "0" * 60),
        ("123456789012345678901234567890123456789012345678901234567890.5", "1234567890" * 6 + ".5"),
        ("1E+2", "100"),
        ("2.50000000000000", "2.5"),
    ],
)
def test_rounded_text_known_answers(value: str, written: str) -> None:
    assert rounded_text(Decimal(value)) == written


def test_rounded_is_half_even_to_twelve_places() -> None:
    assert quantities.PLACES == 12
    assert Decimal("1E-12") == quantities.QUANTUM
    assert rounded(Decimal("0.1234567890125")) == Decimal("0.123456789012")
    assert rounded(Decimal("0.1234567890125")).as_tuple().exponent == -12
    assert rounded(Decimal("1E+2")).as_tuple().exponent == -12
    # A negative value rounding to zero keeps its sign, as the aggregation's figures do.
    assert str(rounded(Decimal("-1E-13"))) == "-0E-12"
    big = Decimal("9" * 45)
    assert rounded(big) == big


def test_fits_and_places_at_the_boundary() -> None:
    assert fits(Decimal("0.123456789012"))
    assert fits(Decimal("0.123456789012000"))  # more places, but only zeros
    assert not fits(Decimal("0.1234567890121"))
    assert fits(Decimal("1E+30"))
    assert places(Decimal("1.50")) == 2
    assert places(Decimal("1E+2")) == 0
    assert places(Decimal("1E-13")) == 13


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.500", "1.5"),
        ("100", "1E+2"),
        ("0.000", "0"),
        ("-0.00", "-0"),
        ("12345678901234567890123456.123456789010", "12345678901234567890123456.12345678901"),
    ],
)
def test_stripped_drops_trailing_zeros_exactly(value: str, expected: str) -> None:
    assert str(stripped(Decimal(value))) == expected
    assert stripped(Decimal(value)) == Decimal(value)


@pytest.mark.parametrize("value", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("function", [text, rounded_text, rounded, fits, places, stripped])
def test_nan_and_infinity_are_refused(value: str, function: object) -> None:
    assert callable(function)
    with pytest.raises(ValueError, match="not a quantity"):
        function(Decimal(value))


def test_a_float_is_no_quantity() -> None:
    with pytest.raises(TypeError, match="a quantity is a Decimal"):
        text(0.1)  # type: ignore[arg-type]


def test_the_ambient_context_changes_nothing() -> None:
    """A caller inside a narrow or a wide context (the sites' roll-ups run at 80 digits)
    gets the same text, and no trap of that context fires."""
    value = Decimal("12345678901234567890.1234567890125")
    expected = (text(value), rounded_text(value), str(stripped(value)))
    for precision in (3, 28, 80):
        with localcontext() as context:
            context.prec = precision
            context.rounding = decimal.ROUND_DOWN
            context.traps[decimal.Inexact] = True
            context.traps[decimal.Rounded] = True
            assert (text(value), rounded_text(value), str(stripped(value))) == expected


# --- the same bytes as the helpers this module replaced ----------------------------------------
# Each as it was written before (exchange.aggregation.engine.text, exchange.sites.services.text
# and exchange.trade.services.text; exchange.factors.schemas.decimal_text, which the portal's
# footprint form also repeated), run where it gave an answer: signed documents and the log's
# audit compare these bytes.

_ENGINE_CONTEXT = decimal.Context(prec=50, rounding=ROUND_HALF_EVEN)


def _old_engine_text(value: Decimal) -> str:
    rendered = format(value.quantize(Decimal(1).scaleb(-12), context=_ENGINE_CONTEXT), "f")
    if "." in rendered:
        rendered = rendered.rstrip("0").rstrip(".")
    return "0" if rendered in ("-0", "") else rendered


def _old_sites_and_trade_text(value: Decimal) -> str:
    rendered = format(value.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN), "f")
    if "." in rendered:
        rendered = rendered.rstrip("0").rstrip(".")
    return "0" if rendered in ("-0", "") else rendered


def _old_decimal_text(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


# Figures as the exchange meets them: up to 26 integer digits, at most 12 places (stored), and
# computed ones with more places (quotients); zeros and negative zeros among them.
_stored = st.decimals(
    min_value=Decimal("-1E+26") + 1,
    max_value=Decimal("1E+26") - 1,
    places=12,
    allow_nan=False,
    allow_infinity=False,
)
_computed = st.builds(
    lambda digits, exponent, negative: Decimal((int(negative), tuple(digits), exponent)),
    st.lists(st.integers(0, 9), min_size=1, max_size=40),
    st.integers(-40, 10),
    st.booleans(),
)
_figures = st.one_of(
    _stored,
    _computed,
    st.sampled_from([Decimal("-0E-12"), Decimal("0E+3"), Decimal("-1E-13"), Decimal("5E-13")]),
)


@given(_figures)
def test_rounded_text_is_the_engines_text(value: Decimal) -> None:
    try:
        old = _old_engine_text(value)
    except decimal.InvalidOperation:  # beyond its 50 digits: it failed, this one answers
        assert rounded_text(value) == text(value.quantize(Decimal("1E-12"), context=_wide(value)))
        return
    assert rounded_text(value) == old


@given(_figures)
def test_rounded_text_is_the_sites_and_trade_text(value: Decimal) -> None:
    try:
        old = _old_sites_and_trade_text(value)
    except decimal.InvalidOperation:  # beyond the default context's 28 digits: it failed
        return
    assert rounded_text(value) == old


@given(_figures)
def test_text_is_decimal_text_up_to_its_28_digits(value: Decimal) -> None:
    significant = len(value.as_tuple().digits)
    if significant <= 28:
        assert text(value) == _old_decimal_text(value)
    else:
        # The old helper rounded to the context's 28 digits here (a lossy text of a stored
        # figure); this one writes every digit.
        assert Decimal(text(value)) == value


def _wide(value: Decimal) -> decimal.Context:
    return decimal.Context(prec=max(value.adjusted(), 0) + 20, rounding=ROUND_HALF_EVEN)
