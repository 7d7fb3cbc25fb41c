"""Unified social credit codes (统一社会信用代码, GB 32100-2015) and their check character."""

from __future__ import annotations

from typing import Final

# GB 32100-2015 code alphabet: digits and upper-case letters without I, O, S, V, Z.
ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH: Final = 18
_WEIGHTS: Final = tuple(pow(3, position, 31) for position in range(LENGTH - 1))


class InvalidUSCC(ValueError):
    """The text is not a well-formed unified social credit code."""


def check_character(body: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(body) != LENGTH - 1 or any(char not in ALPHABET for char in body):
        raise InvalidUSCC("the first 17 characters must come from the GB 32100 alphabet")
    total = sum(ALPHABET.index(char) * weight for char, weight in zip(body, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalise_uscc(text: str) -> str:
    """The code in upper case, or :class:`InvalidUSCC` naming what is wrong with it."""
    code = text.strip().upper()
    if len(code) != LENGTH:
        raise InvalidUSCC(f"a unified social credit code has 18 characters, not {len(code)}")
    bad = sorted({char for char in code if char not in ALPHABET})
    if bad:
        raise InvalidUSCC(f"characters not allowed in a unified social credit code: {''.join(bad)}")
    expected = check_character(code[:-1])
    if code[-1] != expected:
        raise InvalidUSCC(f"check character is {code[-1]!r} but should be {expected!r}")
    return code
