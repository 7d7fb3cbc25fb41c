"""Known answers and tampering for canonical JSON, key ids and signatures."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from exchange import signing

# RFC 8032 §7.1, test 1: secret key, public key, and signature of the empty message.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
    "d25bf5f0595bbe24655141438e7a100b"
)
# RFC 8037 §A.3: the thumbprint of the RFC 8032 test key.
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc8032_known_answer() -> None:
    assert signing.public_key_of(RFC8032_SECRET) == RFC8032_PUBLIC
    signature = signing.sign_bytes(message=b"", private_key=RFC8032_SECRET)
    assert signing.b64url_decode(signature) == RFC8032_SIGNATURE
    signing.verify_bytes(message=b"", signature=signature, public_key=RFC8032_PUBLIC)


def test_rfc8037_thumbprint_is_the_kid() -> None:
    assert signing.key_id(RFC8032_PUBLIC) == RFC8037_THUMBPRINT
    assert signing.public_jwk(RFC8032_PUBLIC) == {
        "crv": "Ed25519",
        "kty": "OKP",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    }


def test_signed_message_is_context_line_and_canonical_bytes() -> None:
    payload = {"b": "2", "a": [1, True, None], "é": "ü"}
    message = signing.signed_message(context=signing.FOOTPRINT_CONTEXT, payload=payload)
    assert (
        message
        == b'footprint-exchange:footprint:v1\n{"a":[1,true,null],"b":"2","\xc3\xa9":"\xc3\xbc"}'
    )


def test_rfc8785_known_answer_for_numbers() -> None:
    # RFC 8785 §3.2.2.3 sample values.
    value = json.loads(
        '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001]}'
    )
    assert signing.canonical_json(value) == (
        b'{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}'
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


def as_doubles(value: Any) -> Any:
    """Integers past 2**53 that RFC 8785 writes as they are, as the doubles they are."""
    if isinstance(value, dict):
        return {key: as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_doubles(item) for item in value]
    if (
        type(value) is int
        and abs(value) >= 2**53
        and rfc8785.dumps(float(value)) == str(value).encode()
    ):
        return float(value)
    return value


@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(as_doubles(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(signing.SigningError):
            signing.canonical_json(value)
        return
    assert signing.canonical_json(value) == expected


@given(st.dictionaries(st.text(), st.text(), max_size=6))
def test_key_order_follows_utf16_code_units(value: dict[str, str]) -> None:
    assert signing.canonical_json(value) == rfc8785.dumps(value)


def test_key_order_outside_the_basic_plane() -> None:
    # U+1F600 sorts before U+FB01 in UTF-16 (surrogate 0xD83D < 0xFB01) but after it by code point.
    value = {"\ufb01": 1, "\U0001f600": 2}
    assert signing.canonical_json(value) == rfc8785.dumps(value)
    assert signing.canonical_json(value).startswith('{"\U0001f600"'.encode())


def test_large_integers_are_taken_only_as_the_doubles_they_name() -> None:
    # The canonical form of the double 2**60 is a numeral that json.loads reads as an int.
    assert signing.canonical_json(float(2**60)) == b"1152921504606847000"
    assert signing.canonical_json(1152921504606847000) == b"1152921504606847000"
    assert signing.canonical_json(json.loads(signing.canonical_json(1.1668970130755854e16))) == (
        b"11668970130755854"
    )
    # Neither is written as a double is: signing them would sign another numeral.
    for number in (2**53 + 1, 2**60):
        with pytest.raises(signing.SigningError):
            signing.canonical_json(number)


def test_lone_surrogate_cannot_be_canonicalised() -> None:
    with pytest.raises(signing.SigningError):
        signing.canonical_json({"a": "\ud800"})


def _signed() -> tuple[bytes, dict[str, object], str]:
    private_key = signing.generate_private_key()
    payload: dict[str, object] = {"id": "x", "pcf": {"value": "1.5"}}
    signature = signing.sign(
        context=signing.FOOTPRINT_CONTEXT, payload=payload, private_key=private_key
    )
    return signing.public_key_of(private_key), payload, signature


def test_signature_verifies_and_key_order_does_not_matter() -> None:
    public_key, _, signature = _signed()
    reordered = {"pcf": {"value": "1.5"}, "id": "x"}
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=reordered,
        signature=signature,
        public_key=public_key,
    )


def test_tampered_payload_is_refused() -> None:
    public_key, payload, signature = _signed()
    with pytest.raises(signing.SigningError):
        signing.verify(
            context=signing.FOOTPRINT_CONTEXT,
            payload={**payload, "id": "y"},
            signature=signature,
            public_key=public_key,
        )


def test_signature_cannot_be_replayed_under_another_context() -> None:
    public_key, payload, signature = _signed()
    with pytest.raises(signing.SigningError):
        signing.verify(
            context=signing.CERTIFICATE_CONTEXT,
            payload=payload,
            signature=signature,
            public_key=public_key,
        )


@pytest.mark.parametrize("bit", [0, 7, 100, 511])
def test_any_flipped_signature_bit_is_refused(bit: int) -> None:
    public_key, payload, signature = _signed()
    raw = bytearray(signing.b64url_decode(signature))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(signing.SigningError):
        signing.verify(
            context=signing.FOOTPRINT_CONTEXT,
            payload=payload,
            signature=signing.b64url_encode(bytes(raw)),
            public_key=public_key,
        )


@pytest.mark.parametrize("text", ["", "a", "AAA=", "A+/A", "AAB"])
def test_non_canonical_base64url_is_refused(text: str) -> None:
    if text == "":
        assert signing.b64url_decode(text) == b""
        return
    with pytest.raises(signing.SigningError):
        signing.b64url_decode(text)


def test_private_jwk_is_refused() -> None:
    jwk = {**signing.public_jwk(RFC8032_PUBLIC), "d": "secret"}
    with pytest.raises(signing.SigningError, match="private"):
        signing.public_key_from_jwk(jwk)


# The eight points of small order, each as its canonical encoding (checked by decompressing
# each and adding it to itself: orders 1, 2, 4, 4 and four of 8). No private key makes them.
SMALL_ORDER_POINTS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]
# Encodings that name no point at all: y = p (non-canonical), y = 2 (no x), the identity's
# y with the sign bit set (x = 0 has no negative).
NOT_POINTS = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0200000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
]


@pytest.mark.parametrize("encoding", SMALL_ORDER_POINTS + NOT_POINTS)
def test_a_small_order_or_invalid_public_key_is_refused(encoding: str) -> None:
    raw = bytes.fromhex(encoding)
    with pytest.raises(signing.SigningError, match="prime-order subgroup"):
        signing.checked_public_key(raw)
    with pytest.raises(signing.SigningError, match="prime-order subgroup"):
        signing.public_key_from_jwk(signing.public_jwk(raw))


def test_a_real_public_key_is_taken() -> None:
    assert signing.checked_public_key(RFC8032_PUBLIC) == RFC8032_PUBLIC
    for _ in range(20):
        key = signing.KeyPair.generate()
        assert signing.public_key_from_jwk(key.public_jwk()) == key.public_key


@pytest.mark.parametrize(
    ("document", "member"),
    [
        ('{"a": 1, "a": 2}', "a"),
        ('{"footprint": {}, "signature": {}, "footprint": {"id": "x"}}', "footprint"),
        ('{"footprint": {"pcf": {"x": 1}, "id": "a", "pcf": {"x": 2}}}', "pcf"),
        ('[{"b": [{"k\\u00e9": 1, "k\u00e9": 2}]}]', "k\u00e9"),
    ],
)
def test_a_member_name_twice_in_one_object_is_refused_naming_it(document: str, member: str) -> None:
    """RFC 8785 signs I-JSON, which forbids duplicate names: Python keeps the last, another
    verifier may keep the first, and one signature would cover two objects."""
    with pytest.raises(signing.JSONRefused) as refused:
        signing.parse_json(document)
    assert json.dumps(member) in refused.value.message
    assert refused.value.details == [{"member": member, "message": "duplicate member name"}]
    # The same name in different objects is fine.
    assert signing.parse_json('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}')["b"][1] == {"a": 3}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'{"n": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"n": -' + b"1" * 4301 + b"}", "too many digits"),
        (b'{"n": 1e400}', "beyond the range of a double"),
        (b'{"n": -1E+999}', "beyond the range of a double"),
        (b'{"n": NaN}', "NaN is not JSON"),
        (b'{"n": Infinity}', "Infinity is not JSON"),
        (b"[-Infinity]", "-Infinity is not JSON"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        ('{"a": "é"}'.encode("latin-1"), "not UTF-8"),
        ('{"a": "b"}'.encode("utf-16"), "not UTF-8"),
        ('{"a": "b"}'.encode("utf-16-le"), "not valid JSON"),
        ('{"a": "b"}'.encode("utf-32"), "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a": }', "not valid JSON"),
    ],
)
def test_what_is_not_i_json_is_refused(document: bytes, message: str) -> None:
    with pytest.raises(signing.JSONRefused, match=message):
        signing.parse_json(document)


def test_i_json_parses_as_json_does() -> None:
    text = '{"a": [1, -2.5, 1e300, "\\u00e9", null, true], "b": {"c": "' + "9" * 4300 + '"}}'
    assert signing.parse_json(text) == json.loads(text)
    assert signing.parse_json(text.encode("utf-8")) == json.loads(text)
    assert signing.parse_json(b'{"n": ' + b"9" * 4300 + b"}") == {"n": int("9" * 4300)}
