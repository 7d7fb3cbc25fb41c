"""GB 32100-2015 check characters of unified social credit codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.organisations.uscc import ALPHABET, InvalidUSCC, check_character, normalise_uscc

# Codes published by the companies themselves on their business licences.
PUBLISHED = ["91350100M000100Y43", "91110000802100433B", "91310000775785552L", "914403001922038216"]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert normalise_uscc(code.lower()) == code


@pytest.mark.parametrize("code", PUBLISHED)
def test_a_changed_character_is_caught(code: str) -> None:
    for position in range(17):
        replacement = ALPHABET[(ALPHABET.index(code[position]) + 1) % len(ALPHABET)]
        with pytest.raises(InvalidUSCC):
            normalise_uscc(code[:position] + replacement + code[position + 1 :])


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17))
def test_check_character_makes_any_body_valid(body: str) -> None:
    assert normalise_uscc(body + check_character(body)) == body + check_character(body)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("9135010", "18 characters"),
        ("91350100M000100I43", "not allowed"),
        ("91350100M000100Y44", "check"),
    ],
)
def test_errors_say_what_is_wrong(code: str, message: str) -> None:
    with pytest.raises(InvalidUSCC, match=message):
        normalise_uscc(code)
