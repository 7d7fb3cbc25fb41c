"""Properties of canonical JSON (RFC 8785) and of signatures, for any input hypothesis finds."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import signing

# Values as they arrive from the wire: what json.loads can produce (no NaN or infinities,
# text without lone surrogates), exactly representable integers.
wire_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]))
)
wire_values = st.recursive(
    wire_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"])), children, max_size=5)
    ),
    max_leaves=25,
)
KEY = signing.KeyPair.from_private_key(bytes(range(32)))


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON values: numbers are doubles (1 and 1.0 are one JSON number)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return float(left) == float(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    return type(left) is type(right) and left == right


def utf16_key(text: str) -> bytes:
    return text.encode("utf-16-be")


@settings(max_examples=150)
@given(wire_values)
def test_canonical_form_round_trips_and_is_idempotent(value: Any) -> None:
    canonical = signing.canonical_json(value)
    parsed = json.loads(canonical)
    assert same_json(parsed, value)
    # The canonical form of the canonical form is itself: a verifier that re-parses gets the
    # very bytes that were signed.
    assert signing.canonical_json(parsed) == canonical
    # No insignificant whitespace, and UTF-8 text as it is (no \u escapes of printable text).
    assert canonical.decode("utf-8") == canonical.decode("utf-8").strip()


@settings(max_examples=150)
@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs"])), st.integers(0, 9), max_size=8
    )
)
def test_members_are_sorted_by_utf16_code_units(value: dict[str, int]) -> None:
    keys = list(json.loads(signing.canonical_json(value), object_pairs_hook=lambda pairs: pairs))
    names = [name for name, _ in keys]
    assert names == sorted(value, key=utf16_key)


@settings(max_examples=200)
@given(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_integers_are_written_plainly_as_integers_or_integral_floats(number: int) -> None:
    assert signing.canonical_json(number) == str(number).encode()
    # An integral float is the same JSON number: no ".0", no exponent below 1e21.
    assert signing.canonical_json(float(number)) == str(int(float(number))).encode()


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_take_the_shortest_ecmascript_form(number: float) -> None:
    text = signing.canonical_json(number).decode()
    assert float(text) == number
    assert text == "0" if number == 0 else not text.startswith(("+", "."))
    assert "E" not in text and not text.endswith(".0") and " " not in text
    mantissa = text.split("e")[0]
    if "." in mantissa:
        assert not mantissa.endswith("0")
    if "e" in text:
        # ECMAScript switches to exponents only outside [1e-6, 1e21).
        assert not 1e-6 <= abs(number) < 1e21
        assert text.split("e")[1][0] in "+-"
    else:
        assert abs(number) < 1e21
    # Shortest: no form with fewer significant digits reads back as the same float.
    digits = len(mantissa.replace("-", "").replace(".", "").strip("0")) or 1
    if digits > 1:
        assert float(f"{number:.{digits - 2}e}") != number or math.isclose(number, 0)


@settings(max_examples=60)
@given(wire_values, st.sampled_from([signing.FOOTPRINT_CONTEXT, signing.LABEL_CONTEXT]))
def test_any_payload_signs_and_verifies(payload: Any, context: str) -> None:
    signature = signing.sign(context=context, payload=payload, private_key=KEY.private_key)
    signing.verify(context=context, payload=payload, signature=signature, public_key=KEY.public_key)
    # Through the wire: parsed again, the payload still verifies.
    again = json.loads(json.dumps(payload))
    signing.verify(context=context, payload=again, signature=signature, public_key=KEY.public_key)


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(changed)


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0), st.sampled_from("msk"))
def test_any_single_bit_change_fails_with_the_one_error(
    message: bytes, bit: int, part: str
) -> None:
    signature = signing.sign_bytes(message=message, private_key=KEY.private_key)
    raw = signing.b64url_decode(signature)
    tampered_message = flip(message, bit) if part == "m" else message
    tampered_signature = signing.b64url_encode(flip(raw, bit)) if part == "s" else signature
    tampered_key = flip(KEY.public_key, bit) if part == "k" else KEY.public_key
    # A flipped public key may not even be a point of the curve: still the one error.
    with pytest.raises(signing.SigningError):
        signing.verify_bytes(
            message=tampered_message, signature=tampered_signature, public_key=tampered_key
        )


GOOD_SIGNATURE = signing.sign_bytes(message=b"m", private_key=KEY.private_key)


@settings(max_examples=200)
@given(st.text(max_size=100).filter(lambda text: text != GOOD_SIGNATURE))
def test_malformed_signatures_fail_with_the_one_error(signature: str) -> None:
    with pytest.raises(signing.SigningError):
        signing.verify_bytes(message=b"m", signature=signature, public_key=KEY.public_key)


@settings(max_examples=200)
@given(st.binary(max_size=40).filter(lambda key: key != KEY.public_key))
def test_malformed_keys_fail_with_the_one_error(public_key: bytes) -> None:
    with pytest.raises(signing.SigningError):
        signing.verify_bytes(message=b"m", signature=GOOD_SIGNATURE, public_key=public_key)
