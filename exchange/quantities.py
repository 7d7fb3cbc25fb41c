"""Exact quantities: the 12 decimal places the exchange keeps, and the one text of a decimal.

Every figure the exchange stores is a :class:`~decimal.Decimal` with at most :data:`PLACES`
fractional digits (NUMERIC(38, 12) on PostgreSQL, the same text on SQLite); a computed
figure that has more is rounded half-even to that many, never through binary floating
point. Every figure the exchange writes (API answers, exports, signed log entries and
documents) is written one way: fixed point, never exponent notation, no trailing zeros, no
"-0". Signed documents and the log's audit, which rebuilds entries from the tables, depend
on that text staying the same byte for byte, so it is made here and nowhere else.

The results never depend on the ambient :mod:`decimal` context (its precision, rounding
or traps): a caller inside ``localcontext(prec=80)`` gets the same text as any other.
NaN and the infinities are no quantity and are refused with :class:`ValueError`.

Pure: no database, no Flask.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal, InvalidOperation
from typing import Final

PLACES: Final = 12
"""Fractional digits kept: of every stored figure, and of a computed one once rounded."""

INTEGER_DIGITS: Final = 26
"""Integer digits a stored figure may have: NUMERIC(38, 12) holds 38 digits, 12 of them
fractional."""

QUANTUM: Final = Decimal(1).scaleb(-PLACES)
"""``1E-12``, the step of a stored figure."""

# Products and sums of 12-place values of up to 26 integer digits fit in 50 digits; a larger
# value is rounded in a context made wide enough for it (see _context).
_PRECISION: Final = 50
_CONTEXT: Final = decimal.Context(prec=_PRECISION, rounding=decimal.ROUND_HALF_EVEN)


def _finite(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"a quantity is a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{value} is not a quantity: only finite decimals are")
    return value


def _context(value: Decimal) -> decimal.Context:
    """A context whose precision holds ``value`` with :data:`PLACES` fractional digits."""
    needed = value.adjusted() + PLACES + 2
    if needed <= _PRECISION:
        return _CONTEXT
    return decimal.Context(prec=needed, rounding=decimal.ROUND_HALF_EVEN)


def rounded(value: Decimal) -> Decimal:
    """``value`` rounded half-even to :data:`PLACES` fractional digits (exponent ``-12``).

    ``rounded(Decimal("0.1234567890125")) == Decimal("0.123456789012")``; a negative value
    that rounds to zero keeps its sign (``-0E-12``), which :func:`text` writes as "0".
    """
    return _finite(value).quantize(QUANTUM, context=_context(value))


def fits(value: Decimal) -> bool:
    """Whether ``value`` has at most :data:`PLACES` fractional digits (nothing to round)."""
    return _finite(value) == rounded(value)


def places(value: Decimal) -> int:
    """How many fractional digits ``value`` is written with (``1.50`` has 2, ``1E+2`` 0)."""
    exponent = _finite(value).as_tuple().exponent
    assert isinstance(exponent, int)  # finite: an int, not "n", "N" or "F"
    return max(0, -exponent)


def stripped(value: Decimal) -> Decimal:
    """The same number without trailing zeros, exactly (``Decimal.normalize`` rounds to the
    context's precision, 28 digits by default): ``1.500`` -> ``1.5``, ``100`` -> ``1E+2``,
    ``-0.00`` -> ``-0``."""
    sign, digits, exponent = _finite(value).as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return Decimal((sign, (0,), 0))
    kept = len(digits)
    while digits[kept - 1] == 0:
        kept -= 1
    return Decimal((sign, digits[:kept], exponent + len(digits) - kept))


def text(value: Decimal) -> str:
    """The exchange's text of an exact decimal: every digit it has, fixed point.

    ``0.556800000000`` -> ``"0.5568"``, ``1E+2`` -> ``"100"``, ``-0.0`` -> ``"0"``,
    ``1E-15`` -> ``"0.000000000000001"`` (nothing is rounded: see :func:`rounded_text`).
    """
    # format(..., "f") writes every digit of the coefficient whatever the context's precision.
    written = format(_finite(value), "f")
    if "." in written:
        written = written.rstrip("0").rstrip(".")
    return "0" if written in ("-0", "") else written


def rounded_text(value: Decimal) -> str:
    """:func:`text` of :func:`rounded`: the text of a figure as the database keeps it.

    ``0.1234567890125`` -> ``"0.123456789012"``; ``-1E-13`` -> ``"0"``.
    """
    return text(rounded(value))


def parse(text: object) -> Decimal:
    """An exact decimal from a JSON string (or a CSV cell); numbers and junk are refused, and
    so is a figure the database could not keep (more than :data:`PLACES` fractional or
    :data:`INTEGER_DIGITS` integer digits): :class:`ValueError` saying which."""
    if not isinstance(text, str):
        raise ValueError('a decimal is written as a string, e.g. "0.5306"')
    stripped = text.strip()
    if not re.fullmatch(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?", stripped):
        raise ValueError(f"{text!r} is not a decimal number such as 0.5306")
    try:
        value = Decimal(stripped)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{text!r} is not a decimal number") from exc
    if places(value) > PLACES:
        raise ValueError(f"at most {PLACES} decimal places are kept")
    if value.adjusted() >= INTEGER_DIGITS:
        raise ValueError("too large")
    return value
