"""The PACT v3 OpenAPI document's own JSON Schemas as a test oracle.

``jsonschema`` (Draft 2020-12, format checking on) with three documented adjustments so
that it says what JSON Schema says rather than what this Python installation happens to
do; ``tests/pact/test_schemas.py`` explains and pins each one.
"""

from __future__ import annotations

import calendar
import copy
import functools
import ipaddress
import re
import string
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import yaml
from jsonschema import (  # type: ignore[import-untyped]
    Draft202012Validator,
    FormatChecker,
    ValidationError,
    validators,
)
from jsonschema.protocols import Validator  # type: ignore[import-untyped]

from tests.conftest import PACT_DIR

_MISGROUPED = {
    "PositiveNonZeroDecimal": (
        r"^[+]?(\d*[1-9]\d*)(\.\d+)?|(0+\.\d*[1-9]\d*)$",
        r"^[+]?((\d*[1-9]\d*)(\.\d+)?|(0+\.\d*[1-9]\d*))$",
    ),
    "NegativeOrZeroDecimal": (
        r"^(-\d+(\.\d+)?)|0+(\.0+)?$",
        r"^((-\d+(\.\d+)?)|0+(\.0+)?)$",
    ),
}


@functools.cache
def components() -> dict[str, Any]:
    with (PACT_DIR / "openapi-v3.yaml").open(encoding="utf-8") as handle:
        components: dict[str, Any] = yaml.safe_load(handle)["components"]
    return components


def _ecma_pattern(
    validator: Validator, pattern: str, instance: object, schema: object
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    assert isinstance(instance, str)
    python = re.sub(r"(?<!\\)\$", r"\\Z", pattern)  # ECMA-262 "$": only the very end
    if re.search(python, instance, re.ASCII) is None:  # ECMA-262 "\d": only [0-9]
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_RFC3339 = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z",
    re.ASCII | re.IGNORECASE,
)


def _is_date_time(instance: object) -> bool:
    """What jsonschema does with rfc3339-validator installed (it also refuses second 60)."""
    if not isinstance(instance, str):
        return True
    match = _RFC3339.match(instance)
    if match is None:
        return False
    year, month, day = (int(group) for group in match.groups())
    # Narrow exclusion: RFC 3339 allows year 0000, which no datetime (hence the model) holds.
    return year > 0 and 1 <= day <= calendar.monthrange(year, month)[1]


_URI_PARTS = re.compile(r"^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?", re.DOTALL)
_UNRESERVED_SUB = r"A-Za-z0-9\-._~!$&'()*+,;="


def _chars(text: str, extra: str) -> bool:
    return re.fullmatch(rf"(?:[{_UNRESERVED_SUB}{extra}]|%[0-9A-Fa-f]{{2}})*", text) is not None


def _is_uri(instance: object) -> bool:
    """RFC 3986 ``URI`` (absolute, with scheme), checked part by part after Appendix B."""
    if not isinstance(instance, str):
        return True
    parts = _URI_PARTS.match(instance)
    assert parts is not None
    scheme, authority, path, query, fragment = parts.group(2, 4, 5, 7, 9)
    if scheme is None or re.fullmatch(r"[A-Za-z][A-Za-z0-9+\-.]*", scheme) is None:
        return False
    if not _chars(path, ":@/") or any(
        part is not None and not _chars(part, ":@/?") for part in (query, fragment)
    ):
        return False
    if authority is None:
        return True
    userinfo, _, hostport = authority.rpartition("@")
    if not _chars(userinfo, ":"):
        return False
    if hostport.startswith("["):
        literal, _, port = hostport[1:].partition("]")
        if re.fullmatch(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED_SUB}:]+", literal) is None:
            try:
                ipaddress.IPv6Address(literal)
            except ValueError:
                return False
            if "%" in literal:
                return False
        return port == "" or re.fullmatch(r":[0-9]*", port) is not None
    host, _, port = hostport.partition(":")
    return _chars(host, "") and re.fullmatch(r"[0-9]*", port) is not None


def _is_uuid(instance: object) -> bool:
    """jsonschema's check (``uuid.UUID`` and dashes at 8, 13, 18, 23), hex digits only."""
    if not isinstance(instance, str):
        return True
    if len(instance) != 36 or not set(instance) <= set(string.hexdigits + "-"):
        return False
    UUID(instance)
    return all(instance[position] == "-" for position in (8, 13, 18, 23))


def format_checker() -> FormatChecker:
    checker = FormatChecker(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("uuid", raises=ValueError)(_is_uuid)
    checker.checks("date-time")(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


Oracle = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def schema(component: str = "ProductFootprint", *, literal: bool = False) -> dict[str, Any]:
    document = copy.deepcopy(components())
    for name, (original, regrouped) in _MISGROUPED.items():
        assert document["schemas"][name]["pattern"] == original
        if not literal:
            document["schemas"][name]["pattern"] = regrouped
    return {"components": document, "$ref": f"#/components/schemas/{component}"}


@functools.cache
def validator(component: str = "ProductFootprint") -> Validator:
    return Oracle(schema(component), format_checker=format_checker())


def openapi_errors(doc: Any, component: str = "ProductFootprint") -> list[str]:
    """Every error of ``doc`` against a schema of the OpenAPI document, as readable lines."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(component).iter_errors(doc)
    ]
