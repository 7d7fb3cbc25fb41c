"""Canonical JSON and Ed25519 signatures: the bytes every signature of the exchange covers.

A signed message is an ASCII context line, a newline, then the RFC 8785 (JCS) canonical
form of the payload, so a signature made for one kind of object can never be replayed as
another. Key ids are RFC 7638 JWK thumbprints of RFC 8037 ``OKP``/``Ed25519`` keys.
Everything here is pure; :class:`SigningError` is the one failure it raises.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Collection, Sequence
from typing import Any, Final, Self

import nacl.bindings
import nacl.exceptions
import nacl.signing
import rfc8785

FOOTPRINT_CONTEXT: Final = "footprint-exchange:footprint:v1"
CERTIFICATE_CONTEXT: Final = "footprint-exchange:certificate:v1"
LABEL_CONTEXT: Final = "footprint-exchange:label:v1"
RECOGNITION_CONTEXT: Final = "footprint-exchange:recognition:v1"
TRUST_LIST_CONTEXT: Final = "footprint-exchange:trust-list:v1"
RECEIPT_CONTEXT: Final = "footprint-exchange:receipt:v1"
VERIFICATION_CONTEXT: Final = "footprint-exchange:verification:v1"
AGGREGATION_ATTESTATION_CONTEXT: Final = "footprint-exchange:aggregation-attestation:v1"

ALGORITHM: Final = "Ed25519"
PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64


class SigningError(Exception):
    """A value cannot be canonicalised, a key is malformed, or a signature does not verify."""


class JSONRefused(SigningError, ValueError):
    """A document that is not I-JSON (RFC 7493), the only JSON that RFC 8785 signs: not
    UTF-8, not JSON, a member name twice in one object, a number no double can hold, or
    nested beyond the parser's depth. ``message`` says which, ``details`` where."""

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, Any]] = details or []


def _member_name(name: str) -> str:
    """A member name for an error message: JSON-quoted, cut short if long."""
    quoted = json.dumps(name)
    return quoted if len(quoted) <= 80 else quoted[:76] + '..."'


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last of two equal names, another verifier may keep the first: the
    # signature would cover a different object for each of them.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _value in pairs:
            if name in seen:
                raise JSONRefused(
                    f"the member name {_member_name(name)} appears twice in one object",
                    details=[{"member": name, "message": "duplicate member name"}],
                )
            seen.add(name)
    return document


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would read as infinity
        raise JSONRefused(
            f"the number {text[:40]} is beyond the range of a double",
            details=[{"message": "number out of range"}],
        )
    return value


def _no_constant(name: str) -> Any:
    raise JSONRefused(
        f"{name} is not JSON", details=[{"message": "NaN and Infinity are not JSON numbers"}]
    )


def parse_json(document: str | bytes) -> Any:
    """Parse ``document`` as I-JSON (RFC 7493), which is what RFC 8785 canonicalises, or
    raise :class:`JSONRefused`: the one parser of signed material and request bodies.

    Bytes must be UTF-8 (RFC 8259 §8.1) without a byte order mark: ``json.loads`` would
    also guess UTF-16 or UTF-32. A member name twice in one object is refused, as are
    NaN, Infinity and numbers beyond a double (``json`` reads 1e400 as infinity). An
    integer beyond Python's digit limit, which ``json`` reports as a bare ValueError, is
    refused with the others.
    """
    if isinstance(document, bytes | bytearray):
        if document.startswith(b"\xef\xbb\xbf"):
            raise JSONRefused("the document starts with a byte order mark: send UTF-8 without")
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRefused(
                "the document is not UTF-8",
                details=[{"offset": exc.start, "message": "invalid UTF-8"}],
            ) from exc
    else:
        text = document
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except JSONRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JSONRefused(
            "the document is not valid JSON",
            details=[{"line": exc.lineno, "column": exc.colno, "message": exc.msg}],
        ) from exc
    except ValueError as exc:  # int() past sys.get_int_max_str_digits()
        raise JSONRefused(
            "a number in the document has too many digits",
            details=[{"message": str(exc).split(";")[0]}],
        ) from exc
    except RecursionError as exc:
        raise JSONRefused("the JSON document is nested too deeply") from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly: other alphabets, padding and stray bits are refused."""
    if not isinstance(text, str) or len(text) % 4 == 1:
        raise SigningError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SigningError("not base64url") from exc
    if b64url_encode(data) != text:
        raise SigningError("not canonical base64url")
    return data


_EXACT_INTEGER_LIMIT: Final = 2**53


def _needs_full_canonicaliser(value: Any) -> bool:
    """Whether ``value`` holds something on which ``json.dumps`` and RFC 8785 differ.

    They agree on strings, booleans, null and integers below 2**53, and on key order as
    long as no key holds a character outside the Basic Multilingual Plane (RFC 8785 sorts
    by UTF-16 code units, Python by code points). Floats need ECMAScript number formatting.
    An explicit stack instead of recursion: this runs on every signed object.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return True
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is int:
            if not -_EXACT_INTEGER_LIMIT < item < _EXACT_INTEGER_LIMIT:
                return True
        else:
            return True
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a parsed JSON value.

    PACT footprints carry their decimals as strings, so the common case is served by the
    C-accelerated ``json`` encoder, which produces identical bytes for such values.
    """
    try:
        if not _needs_full_canonicaliser(value):
            return json.dumps(
                value, ensure_ascii=False, sort_keys=True, separators=(",", ":")
            ).encode("utf-8")
        return rfc8785.dumps(_as_doubles(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise SigningError(f"cannot canonicalise: {exc}") from exc


def _as_doubles(value: Any) -> Any:
    """``value`` with each integer beyond 2**53 that names a double exactly as RFC 8785
    writes that double (``11668970130755854``) turned into the double.

    JSON numbers are IEEE doubles to RFC 8785, and it writes an integral double below 1e21
    without exponent, so the canonical form of ``1.1668970130755854e16`` reads back, through
    ``json.loads``, as an integer that rfc8785 refuses: a record stored canonical and parsed
    again could not be verified. Other large integers would lose digits, and stay refused.
    """
    kind = type(value)
    if kind is dict:
        return {key: _as_doubles(item) for key, item in value.items()}
    if kind is list:
        return [_as_doubles(item) for item in value]
    if kind is int and not -_EXACT_INTEGER_LIMIT < value < _EXACT_INTEGER_LIMIT:
        try:
            double = float(value)
        except OverflowError:
            return value
        if rfc8785.dumps(double) == str(value).encode("ascii"):
            return double
    return value


def signed_message(*, context: str, payload: Any) -> bytes:
    """The exact bytes that are signed: ``<context>\\n<JCS(payload)>``."""
    if not context.isascii() or "\n" in context:
        raise SigningError("context must be one ASCII line")
    return context.encode("ascii") + b"\n" + canonical_json(payload)


def public_jwk(public_key: bytes) -> dict[str, str]:
    """The RFC 8037 JWK of an Ed25519 public key, members in thumbprint order."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise SigningError("an Ed25519 public key has 32 bytes")
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public_key)}


def key_id(public_key: bytes) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url, no padding) of the key's JWK."""
    thumbprint_input = json.dumps(public_jwk(public_key), separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(thumbprint_input.encode("ascii")).digest())


def public_key_from_jwk(jwk: Any) -> bytes:
    """The raw public key of an ``OKP``/``Ed25519`` JWK; private members are refused."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SigningError('a key must be a JWK with "kty": "OKP" and "crv": "Ed25519"')
    if "d" in jwk:
        raise SigningError("a private key was sent: only the public key may leave its owner")
    return checked_public_key(b64url_decode(jwk.get("x", "")))


def checked_public_key(raw: bytes) -> bytes:
    """``raw`` if it is an Ed25519 public key worth trusting, else :class:`SigningError`.

    A key must be the canonical encoding of a point on the curve in its prime-order
    subgroup (libsodium's ``crypto_core_ed25519_is_valid_point``). The eight points of small
    order (the all-zero string, the identity ``01 00..00`` and the others) are refused: no
    private key makes them, and a signature under one can verify for more than one message,
    so a signer could later disown what it signed.
    """
    if len(raw) != PUBLIC_KEY_BYTES:
        raise SigningError("an Ed25519 public key has 32 bytes")
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
        raise SigningError(
            "not an Ed25519 public key: the value is not a point of the curve's prime-order "
            "subgroup (a small-order point such as all zeros or the identity, or no point at all)"
        )
    return raw


PublicKeys = bytes | Collection[bytes]
"""One pinned public key, or several (an exchange's current and retired keys)."""


def key_list(keys: PublicKeys) -> list[bytes]:
    """The keys of ``keys`` as a list, one key or many."""
    return [keys] if isinstance(keys, bytes) else list(keys)


def keys_by_kid(keys: PublicKeys) -> dict[str, bytes]:
    return {key_id(key): key for key in key_list(keys)}


def generate_private_key() -> bytes:
    """A new random 32-byte Ed25519 seed."""
    return bytes(nacl.signing.SigningKey.generate())


def public_key_of(private_key: bytes) -> bytes:
    return bytes(_signing_key(private_key).verify_key)


def sign_bytes(*, message: bytes, private_key: bytes) -> str:
    """Sign raw bytes; the base64url signature."""
    return b64url_encode(_signing_key(private_key).sign(message).signature)


def sign(*, context: str, payload: Any, private_key: bytes) -> str:
    """Sign ``payload`` under ``context``; the base64url signature."""
    return sign_bytes(
        message=signed_message(context=context, payload=payload), private_key=private_key
    )


def verify_bytes(*, message: bytes, signature: str, public_key: bytes) -> None:
    """Raise :class:`SigningError` unless ``signature`` is ``public_key``'s over ``message``."""
    if not signature_holds(*signature_check(message, signature, public_key)):
        raise SigningError(SIGNATURE_MISMATCH)


SIGNATURE_MISMATCH: Final = "signature does not match"

SignatureCheck = tuple[bytes, bytes, bytes]
"""``(message, raw signature, public key)``, well formed, for :func:`signature_holds`."""


def signature_check(message: bytes, signature: str, public_key: bytes) -> SignatureCheck:
    """What verifying ``signature`` takes, once its form is checked (:class:`SigningError`
    if it or the key is malformed); whether it holds is :func:`signature_holds`'s to say."""
    raw_signature = b64url_decode(signature)
    if len(raw_signature) != SIGNATURE_BYTES:
        raise SigningError("an Ed25519 signature has 64 bytes")
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise SigningError("an Ed25519 public key has 32 bytes")
    return message, raw_signature, public_key


def signature_holds(message: bytes, raw_signature: bytes, public_key: bytes) -> bool:
    """Whether a well-formed signature (see :func:`signature_check`) verifies."""
    try:
        nacl.signing.VerifyKey(public_key).verify(message, raw_signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def signatures_hold(checks: Sequence[SignatureCheck]) -> list[bool]:
    """:func:`signature_holds` of each check, in order (one task of a :class:`Verifier`)."""
    return [signature_holds(*check) for check in checks]


def verify(*, context: str, payload: Any, signature: str, public_key: bytes) -> None:
    """Raise :class:`SigningError` unless ``signature`` covers ``payload`` under ``context``."""
    verify_bytes(
        message=signed_message(context=context, payload=payload),
        signature=signature,
        public_key=public_key,
    )


def _signing_key(private_key: bytes) -> nacl.signing.SigningKey:
    if len(private_key) != 32:
        raise SigningError("an Ed25519 private key seed has 32 bytes")
    return _expanded_key(private_key)


@functools.lru_cache(maxsize=16)
def _expanded_key(seed: bytes) -> nacl.signing.SigningKey:
    # Expanding a seed into a key pair costs about as much as a signature: the few keys a
    # process signs with (the exchange's, a test's) are expanded once, not per receipt.
    return nacl.signing.SigningKey(seed)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 private key with its public half and kid."""

    private_key: bytes = dataclasses.field(repr=False)
    public_key: bytes
    kid: str

    @classmethod
    def from_private_key(cls, private_key: bytes) -> Self:
        public_key = public_key_of(private_key)
        return cls(private_key=private_key, public_key=public_key, kid=key_id(public_key))

    @classmethod
    def generate(cls) -> Self:
        return cls.from_private_key(generate_private_key())

    def public_jwk(self) -> dict[str, str]:
        return {**public_jwk(self.public_key), "kid": self.kid}

    def sign(self, *, context: str, payload: Any) -> str:
        return sign(context=context, payload=payload, private_key=self.private_key)
