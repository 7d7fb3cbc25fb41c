"""A label's claims and their compact QR-friendly URL; pure, with one error type.

A label URL is a GS1 Digital Link URI on the exchange's own host::

    HTTPS://<ORIGIN>/01/<GTIN-14>[/10/<lot>]?L=<digits>

Everything but ``?L=`` stays inside the QR alphanumeric set (upper case, digits,
`` $%*+-./:``) and ``<digits>`` is a decimal numeral, QR's densest mode (3.3 bits a digit),
so a label fits a version 8 symbol at error correction M. The digits carry a small binary
record, 7 bytes to each group of 17 digits (a last group of k bytes takes as many digits as
``2**(8k) - 1`` has)::

    byte  0      format version (1)
    1..4         label number            (unsigned, big-endian)
    5..8         certificate number      (unsigned, big-endian)
    9..10        issue date              (days since 2020-01-01)
    11..12       validity                (days from the issue date to the expiry date)
    13           unit code (high nibble) and grade (low nibble, 0 = not graded)
    14..19       first 6 bytes of the issuer's key id (RFC 7638 thumbprint)
    20..-65      value: exponent (signed byte) then zig-zag varint mantissa
    -64..        Ed25519 signature

The signature covers the RFC 8785 form of the claims (:func:`claims_document`) under the
context ``footprint-exchange:label:v1``, with the issuer's full key id and the exchange's
origin in them, so neither can be swapped. A label is valid only in its canonical form:
:func:`decode` re-encodes what it read and refuses any other spelling, so every change of a
character either breaks the signature or the form.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

from exchange import signing
from exchange.labels import gs1

FORMAT_VERSION: Final = 1
EPOCH: Final = dt.date(2020, 1, 1)
QUERY_KEY: Final = "L"
KID_PREFIX_BYTES: Final = 6
SIGNIFICANT_DIGITS: Final = 4
_FIXED: Final = 20
# The longest scanned text a verifier takes apart, whichever way it arrives (the labels the
# exchange prints are under 500 characters): refusing a longer one first keeps a verifier,
# and what it remembers of the labels it saw, from holding bodies of megabytes.
MAX_TEXT: Final = 2000
_GROUP_BYTES: Final = 7
# Decimal digits of a group of k bytes: the length of 2**(8k) - 1.
_DIGITS_FOR: Final = {k: len(str(2 ** (8 * k) - 1)) for k in range(1, _GROUP_BYTES + 1)}
# Per group length in digits: its byte count and the first number too large for them.
_GROUP_OF_DIGITS: Final = {digits: (k, 2 ** (8 * k)) for k, digits in _DIGITS_FOR.items()}

# PACT v3 declared units, in the order of the specification; the code is the index + 1.
UNITS: Final = (
    "liter",
    "kilogram",
    "cubic meter",
    "kilowatt hour",
    "megajoule",
    "ton kilometer",
    "square meter",
    "piece",
    "hour",
    "megabit second",
)
MAX_GRADE: Final = 9


class LabelFormatError(ValueError):
    """Text that is not a label URL in its canonical form."""


@dataclasses.dataclass(frozen=True, slots=True)
class Claims:
    """What a label states. ``value`` is kg CO2e per one ``unit`` (PACT's declared unit)."""

    origin: str
    gtin: str
    lot: str | None
    label: int
    certificate: int
    value: Decimal
    unit: str
    grade: int | None
    issued: dt.date
    expires: dt.date
    kid: str


def round_value(value: Decimal) -> Decimal:
    """A footprint as printed on a label: 4 significant digits, trailing zeros dropped."""
    if not value.is_finite():
        raise LabelFormatError("a label value is a finite number")
    if value.is_zero():
        return Decimal(0)
    exponent = value.adjusted() - SIGNIFICANT_DIGITS + 1
    rounded = value.quantize(
        Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN, context=Context(prec=60)
    )
    return rounded.normalize(Context(prec=60))


def _mantissa_exponent(value: Decimal) -> tuple[int, int]:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    mantissa = 0
    for digit in digits:  # a label value has a few digits: cheaper than int(str(...))
        mantissa = mantissa * 10 + digit
    if mantissa == 0:
        return 0, 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    return (-mantissa if sign else mantissa), exponent


def value_text(mantissa: int, exponent: int) -> str:
    """The decimal string of mantissa * 10**exponent, plain notation (the page does the same)."""
    sign = "-" if mantissa < 0 else ""
    digits = str(abs(mantissa))
    if exponent >= 0:
        return sign + digits + "0" * exponent if mantissa else "0"
    digits = digits.rjust(-exponent + 1, "0")
    return f"{sign}{digits[:exponent]}.{digits[exponent:]}"


def claims_document(claims: Claims) -> dict[str, Any]:
    """The JSON object a label's signature covers."""
    mantissa, exponent = _mantissa_exponent(claims.value)
    return {
        "certificate": claims.certificate,
        "expires": claims.expires.isoformat(),
        "grade": claims.grade,
        "gtin": claims.gtin,
        "issued": claims.issued.isoformat(),
        "kid": claims.kid,
        "label": claims.label,
        "lot": claims.lot,
        "origin": claims.origin,
        "unit": claims.unit,
        "value": value_text(mantissa, exponent),
    }


def signed_message(claims: Claims) -> bytes:
    return signing.signed_message(context=signing.LABEL_CONTEXT, payload=claims_document(claims))


def kid_prefix(kid: str) -> bytes:
    return signing.b64url_decode(kid)[:KID_PREFIX_BYTES]


def _zigzag(number: int) -> bytes:
    encoded = number * 2 if number >= 0 else -number * 2 - 1
    out = bytearray()
    while True:
        byte = encoded & 0x7F
        encoded >>= 7
        if encoded:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _unzigzag(data: bytes) -> int:
    encoded = 0
    for position, byte in enumerate(data):
        encoded |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            if position != len(data) - 1:
                raise LabelFormatError("bytes after the value")
            return encoded // 2 if encoded % 2 == 0 else -(encoded + 1) // 2
    raise LabelFormatError("the value is cut short")


def _check(claims: Claims, mantissa: int, exponent: int) -> None:
    problems = []
    if claims.unit not in UNITS:
        problems.append(f"unit {claims.unit!r} is not a PACT declared unit")
    if claims.grade is not None and not 1 <= claims.grade <= MAX_GRADE:
        problems.append(f"a grade is from 1 to {MAX_GRADE}")
    for name in ("label", "certificate"):
        if not 0 < getattr(claims, name) < 2**32:
            problems.append(f"the {name} number must fit 32 bits")
    days = (claims.issued - EPOCH).days
    validity = (claims.expires - claims.issued).days
    if not 0 <= days < 2**16 or not 0 <= validity < 2**16:
        problems.append("the dates are out of range")
    if not -100 <= exponent <= 100 or abs(mantissa) >= 10**SIGNIFICANT_DIGITS:
        problems.append("the value must be rounded with round_value")
    if claims.origin != claims.origin.lower() or "/" in claims.origin or not claims.origin:
        problems.append("the origin is a lower-case host[:port]")
    if problems:
        raise LabelFormatError("; ".join(problems))


def _payload(claims: Claims, signature: bytes, prefix: bytes | None = None) -> bytes:
    mantissa, exponent = _mantissa_exponent(claims.value)
    _check(claims, mantissa, exponent)
    return (
        bytes([FORMAT_VERSION])
        + claims.label.to_bytes(4, "big")
        + claims.certificate.to_bytes(4, "big")
        + (claims.issued - EPOCH).days.to_bytes(2, "big")
        + (claims.expires - claims.issued).days.to_bytes(2, "big")
        + bytes([(UNITS.index(claims.unit) + 1) << 4 | (claims.grade or 0)])
        + (kid_prefix(claims.kid) if prefix is None else prefix)
        + exponent.to_bytes(1, "big", signed=True)
        + _zigzag(mantissa)
        + signature
    )


def to_digits(data: bytes) -> str:
    """Bytes as decimal digits, 7 bytes to each 17-digit group."""
    return "".join(
        str(int.from_bytes(data[start : start + _GROUP_BYTES], "big")).zfill(
            _DIGITS_FOR[len(data[start : start + _GROUP_BYTES])]
        )
        for start in range(0, len(data), _GROUP_BYTES)
    )


def from_digits(text: str) -> bytes:
    """The inverse of :func:`to_digits`; other lengths and out-of-range groups are refused."""
    if not text.isascii() or not text.isdigit():
        raise LabelFormatError("the label data is decimal digits")
    full = _DIGITS_FOR[_GROUP_BYTES]
    out = bytearray()
    for start in range(0, len(text), full):
        group = text[start : start + full]
        size, limit = _GROUP_OF_DIGITS.get(len(group), (0, 0))
        if not size:
            raise LabelFormatError("the label data has a wrong length")
        number = int(group)
        if number >= limit:
            raise LabelFormatError("the label data is out of range")
        out += number.to_bytes(size, "big")
    return bytes(out)


def encode(claims: Claims, signature: str) -> str:
    """The label URL of signed claims (``signature`` base64url, as :mod:`exchange.signing`)."""
    raw_signature = signing.b64url_decode(signature)
    if len(raw_signature) != signing.SIGNATURE_BYTES:
        raise LabelFormatError("an Ed25519 signature has 64 bytes")
    path = gs1.digital_link_path(claims.gtin, claims.lot)
    digits = to_digits(_payload(claims, raw_signature))
    return f"HTTPS://{claims.origin.upper()}{path}?{QUERY_KEY}={digits}"


@dataclasses.dataclass(frozen=True, slots=True)
class Scanned:
    """A label URL taken apart; the kid is still only its prefix until a trust list names it."""

    origin: str
    gtin: str
    lot: str | None
    label: int
    certificate: int
    value: Decimal
    unit: str
    grade: int | None
    issued: dt.date
    expires: dt.date
    kid_prefix: bytes
    signature: str
    signature_bytes: bytes

    @property
    def kid_hint(self) -> str:
        """The key-id prefix as the start of a kid (6 bytes are exactly 8 base64url letters)."""
        return signing.b64url_encode(self.kid_prefix)

    def claims(self, kid: str) -> Claims:
        return Claims(
            origin=self.origin,
            gtin=self.gtin,
            lot=self.lot,
            label=self.label,
            certificate=self.certificate,
            value=self.value,
            unit=self.unit,
            grade=self.grade,
            issued=self.issued,
            expires=self.expires,
            kid=kid,
        )


def decode(text: str) -> Scanned:
    """Take a scanned label URL apart; anything but the canonical form is refused."""
    if len(text) > MAX_TEXT:
        raise LabelFormatError(f"longer than any label ({MAX_TEXT} characters)")
    url = text.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise LabelFormatError("not a URL") from exc
    if parts.scheme.lower() != "https" or not parts.netloc or parts.fragment:
        raise LabelFormatError("a label is an https URL")
    if not parts.query.startswith(f"{QUERY_KEY}=") or "&" in parts.query:
        raise LabelFormatError(f"a label URL ends in ?{QUERY_KEY}=<digits>")
    try:
        gtin, lot = gs1.parse_digital_link_path(parts.path)
    except gs1.GS1Error as exc:
        raise LabelFormatError(str(exc)) from exc
    data = from_digits(parts.query[len(QUERY_KEY) + 1 :])
    if len(data) < _FIXED + 2 + signing.SIGNATURE_BYTES:
        raise LabelFormatError("the label data is too short")
    if data[0] != FORMAT_VERSION:
        raise LabelFormatError(f"unknown label format {data[0]}")
    unit_code, grade = data[13] >> 4, data[13] & 0x0F
    if not 1 <= unit_code <= len(UNITS):
        raise LabelFormatError("unknown unit")
    issued = EPOCH + dt.timedelta(days=int.from_bytes(data[9:11], "big"))
    exponent = int.from_bytes(data[_FIXED : _FIXED + 1], "big", signed=True)
    mantissa = _unzigzag(data[_FIXED + 1 : -signing.SIGNATURE_BYTES])
    try:
        value = Decimal(value_text(mantissa, exponent))
    except InvalidOperation as exc:  # pragma: no cover - value_text always gives a numeral
        raise LabelFormatError("bad value") from exc
    signature = bytes(data[-signing.SIGNATURE_BYTES :])
    scanned = Scanned(
        origin=parts.netloc.lower(),
        gtin=gtin,
        lot=lot,
        label=int.from_bytes(data[1:5], "big"),
        certificate=int.from_bytes(data[5:9], "big"),
        value=value,
        unit=UNITS[unit_code - 1],
        grade=grade or None,
        issued=issued,
        expires=issued + dt.timedelta(days=int.from_bytes(data[11:13], "big")),
        kid_prefix=bytes(data[14:_FIXED]),
        signature=signing.b64url_encode(signature),
        signature_bytes=signature,
    )
    # Only the canonical spelling passes: upper-case scheme and host, nothing after the
    # digits, and bytes that re-encode to themselves (the path was checked as it was read).
    if url != f"HTTPS://{parts.netloc.upper()}{parts.path}?{parts.query}":
        raise LabelFormatError("the label is not in its canonical form")
    try:
        again = _payload(scanned.claims(""), signature, scanned.kid_prefix)
    except (LabelFormatError, gs1.GS1Error) as exc:
        raise LabelFormatError(str(exc)) from exc
    if again != data:
        raise LabelFormatError("the label is not in its canonical form")
    return scanned
