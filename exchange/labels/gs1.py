"""GS1 keys and Digital Link URIs: GTIN check digits, batch/lot values, URI paths. Pure."""

from __future__ import annotations

import re
from typing import Final

from exchange import limits

# GS1 General Specifications §7.11, "CSET 82": the characters a batch/lot (AI 10) may hold.
CSET82: Final = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
# Kept as they are in a Digital Link path; every other character is percent-encoded.
_UNRESERVED: Final = frozenset("-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
LOT_MAX_LENGTH: Final = limits.LOT
_PERCENT: Final = re.compile(r"%([0-9A-F]{2})")


class GS1Error(ValueError):
    """A GTIN, lot or Digital Link path that GS1's rules do not allow."""


def check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit of a key's leading digits (weights 3,1,3,… from the right)."""
    if not digits.isascii() or not digits.isdigit():
        raise GS1Error("a GS1 key holds digits only")
    # Slices instead of a per-digit loop: every scanned label's GTIN passes through here.
    total = 3 * sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2]))
    return (10 - total % 10) % 10


def normalise_gtin(text: str) -> str:
    """A GTIN-8, -12, -13 or -14 as the 14-digit form Digital Link uses; check digit verified."""
    value = text.strip()
    if value.lower().startswith("urn:gtin:"):
        value = value[len("urn:gtin:") :]
    if not value.isascii() or not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise GS1Error(f"{text!r} is not a GTIN: 8, 12, 13 or 14 digits")
    if check_digit(value[:-1]) != int(value[-1]):
        raise GS1Error(f"{text!r} has a wrong check digit (expected {check_digit(value[:-1])})")
    return value.zfill(14)


def check_lot(lot: str) -> str:
    """A batch/lot number (AI 10): 1 to 20 characters of CSET 82."""
    if not 1 <= len(lot) <= LOT_MAX_LENGTH:
        raise GS1Error(f"a lot has 1 to {LOT_MAX_LENGTH} characters")
    if not CSET82.issuperset(lot):
        bad = sorted(set(lot) - CSET82)
        raise GS1Error(f"a lot may not contain {''.join(bad)!r}")
    return lot


def encode_segment(value: str) -> str:
    """A path segment value, percent-encoded with upper-case hex outside the unreserved set."""
    return "".join(c if c in _UNRESERVED else f"%{ord(c):02X}" for c in value)


def decode_segment(segment: str) -> str:
    """The inverse of :func:`encode_segment`; only upper-case ``%XX`` escapes are accepted."""
    if _UNRESERVED.issuperset(segment):  # the usual lot: nothing escaped, nothing to escape
        return segment
    text = _PERCENT.sub(lambda match: chr(int(match.group(1), 16)), segment)
    if encode_segment(text) != segment:
        raise GS1Error("the path segment is not in canonical percent-encoding")
    return text


def digital_link_path(gtin: str, lot: str | None = None) -> str:
    """``/01/<GTIN-14>`` with ``/10/<lot>`` when a lot is given."""
    path = f"/01/{normalise_gtin(gtin)}"
    if lot is not None:
        path += f"/10/{encode_segment(check_lot(lot))}"
    return path


def parse_digital_link_path(path: str) -> tuple[str, str | None]:
    """The GTIN-14 and lot of a ``/01/<gtin>[/10/<lot>]`` path (canonical form only)."""
    parts = path.split("/")
    if len(parts) not in (3, 5) or parts[0] != "" or parts[1] != "01":
        raise GS1Error("a label path is /01/<GTIN-14> or /01/<GTIN-14>/10/<lot>")
    gtin = parts[2]
    if len(gtin) != 14 or normalise_gtin(gtin) != gtin:
        raise GS1Error("the GTIN in a Digital Link is 14 digits")
    if len(parts) == 3:
        return gtin, None
    if parts[3] != "10":
        raise GS1Error("only a batch/lot (10) may qualify the GTIN here")
    return gtin, check_lot(decode_segment(parts[4]))
