"""The factor exchange format: one flat record per factor version, as JSON or as a CSV row.

The same field names serve the API, JSON files and CSV headers (docs/factor-exchange-format.md).
Decimals travel as strings and are parsed exactly; in CSV the gas breakdown is written
``CO2=0.5306;N2O=0.000002``. :func:`parse_factor` reports every bad field at once as
``{"field": ..., "message": ...}``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from exchange import quantities, signing
from exchange.errors import ValidationFailed
from exchange.factors import gwp, units
from exchange.factors.models import Factor, FactorKind, FactorReview, FactorScope

CODE_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")

# Column order of CSV files; the JSON format uses the same names.
FIELDS: Final = (
    "code",
    "version",
    "kind",
    "name",
    "category",
    "value",
    "unit",
    "region",
    "year",
    "gwpSet",
    "gases",
    "scope",
    "source",
    "licence",
    "uncertainty",
    "evidence",
)
EXPORT_FIELDS: Final = ("id", *FIELDS, "status", "declaredBy", "footprintRecordId", "createdAt")
_LENGTHS: Final = {"name": 300, "category": 64, "region": 64, "source": 1000, "licence": 300}


@dataclasses.dataclass(frozen=True, slots=True)
class FactorInput:
    """A validated factor version as given, before it has a status or an id."""

    code: str
    version: int | None
    kind: FactorKind
    name: str
    category: str
    value: Decimal
    unit: str
    region: str
    year: int
    gwp_set: gwp.GwpSet
    gases: dict[str, Decimal] | None
    scope: FactorScope
    source: str
    licence: str
    uncertainty: Decimal | None
    evidence: str | None


def gases_text(gases: Mapping[str, Decimal]) -> str:
    return ";".join(f"{gas}={quantities.text(mass)}" for gas, mass in gases.items())


def _parse_gases(value: object) -> dict[str, Decimal]:
    if isinstance(value, str):
        pairs: list[tuple[str, object]] = []
        for part in value.split(";"):
            if not part.strip():
                continue
            gas, sep, mass = part.partition("=")
            if not sep:
                raise ValueError(f"write gases as GAS=kg;GAS=kg, not {part!r}")
            pairs.append((gas, mass))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ValueError("an object of gas names to kg of the gas per unit")
    gases: dict[str, Decimal] = {}
    for raw_gas, raw_mass in pairs:
        name = gwp.gas_name(str(raw_gas))
        if name in gases:
            raise ValueError(f"{name} is given twice")
        amount = quantities.parse(raw_mass)
        if amount < 0:
            raise ValueError(f"{name}: a gas amount is not negative")
        gases[name] = amount
    if not gases:
        raise ValueError("give at least one gas, or leave the breakdown out")
    return dict(sorted(gases.items()))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_factor(data: object) -> FactorInput:
    """A factor version from exchange-format data; every bad field is reported together."""
    if not isinstance(data, Mapping):
        raise ValidationFailed("a factor is a JSON object", details=[])
    errors: list[dict[str, str]] = []
    parsed: dict[str, Any] = {}

    def text(name: str, *, required: bool = True) -> str | None:
        value = data.get(name)
        if _blank(value):
            if required:
                errors.append({"field": name, "message": "required"})
            return None
        if not isinstance(value, str):
            errors.append({"field": name, "message": "must be a string"})
            return None
        limit = _LENGTHS.get(name)
        if limit is not None and len(value.strip()) > limit:
            errors.append({"field": name, "message": f"at most {limit} characters"})
            return None
        return value.strip()

    def field(name: str, convert: Any, *, required: bool = True) -> None:
        value = data.get(name)
        if _blank(value):
            if required:
                errors.append({"field": name, "message": "required"})
            parsed[name] = None
            return
        try:
            parsed[name] = convert(value)
        except (ValueError, units.UnitError, gwp.GwpError) as exc:
            errors.append({"field": name, "message": str(exc)})
            parsed[name] = None

    code = text("code")
    if code is not None and not CODE_PATTERN.match(code):
        errors.append(
            {"field": "code", "message": "letters, digits and . _ : / - only, at most 100"}
        )
    field("version", _parse_int(1, 10**6), required=False)
    field("kind", lambda v: FactorKind(str(v).strip()), required=True)
    field("value", quantities.parse)
    field("unit", lambda v: units.unit(str(v)).symbol)
    field("year", _parse_int(1900, 2200))
    field("gwpSet", lambda v: gwp.gwp_set(str(v)))
    field("gases", _parse_gases, required=False)
    field("scope", lambda v: FactorScope(str(v).strip()))
    field("uncertainty", quantities.parse, required=False)
    name = text("name")
    category = text("category")
    region = text("region")
    source = text("source")
    licence = text("licence")
    evidence = text("evidence", required=False)

    if parsed.get("uncertainty") is not None and parsed["uncertainty"] < 0:
        errors.append({"field": "uncertainty", "message": "a percentage, not negative"})
    gases, value, gwp_set = parsed.get("gases"), parsed.get("value"), parsed.get("gwpSet")
    if gases and value is not None and gwp_set is not None:
        total = gwp.co2e(gases, gwp_set)
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if total.quantize(Decimal(1).scaleb(exponent)) != value:
            errors.append(
                {
                    "field": "value",
                    "message": f"the gas breakdown gives {quantities.text(total)} kg CO2e in "
                    f"{gwp_set}, not {quantities.text(value)}",
                }
            )
    if errors:
        raise ValidationFailed("the factor is not valid", details=errors)
    assert code and name and category and region and source and licence
    return FactorInput(
        code=code,
        version=parsed["version"],
        kind=parsed["kind"],
        name=name,
        category=category.lower(),
        value=parsed["value"],
        unit=parsed["unit"],
        region=region,
        year=parsed["year"],
        gwp_set=parsed["gwpSet"],
        gases=gases,
        scope=parsed["scope"],
        source=source,
        licence=licence,
        uncertainty=parsed["uncertainty"],
        evidence=evidence,
    )


def _parse_int(low: int, high: int) -> Any:
    def convert(value: object) -> int:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        else:
            raise ValueError("must be a whole number")
        if not low <= number <= high:
            raise ValueError(f"must be from {low} to {high}")
        return number

    return convert


def content(item: FactorInput | Factor) -> dict[str, Any]:
    """The content a version's digest covers: everything but its number, status and id."""
    gases = item.gases if isinstance(item, FactorInput) else stored_gases(item)
    return {
        "code": item.code,
        "kind": item.kind.value,
        "name": item.name,
        "category": item.category,
        "value": quantities.text(item.value),
        "unit": item.unit,
        "region": item.region,
        "year": item.year,
        "gwpSet": item.gwp_set.value,
        "gases": {gas: quantities.text(mass) for gas, mass in gases.items()} if gases else None,
        "scope": item.scope.value,
        "source": item.source,
        "licence": item.licence,
        "uncertainty": quantities.text(item.uncertainty) if item.uncertainty is not None else None,
        "evidence": item.evidence,
    }


def stored_gases(factor: Factor) -> dict[str, Decimal] | None:
    if factor.gases_json is None:
        return None
    return {gas: Decimal(mass) for gas, mass in json.loads(factor.gases_json).items()}


def gases_json(gases: Mapping[str, Decimal] | None) -> str | None:
    if not gases:
        return None
    return json.dumps(
        {gas: quantities.text(mass) for gas, mass in sorted(gases.items())}, separators=(",", ":")
    )


def factor_json(factor: Factor, reviews: Iterable[FactorReview] = ()) -> dict[str, Any]:
    """A stored version in the exchange format, with its status and, if given, its decisions."""
    body = {
        "id": factor.id,
        **content(factor),
        "version": factor.version,
        "unitLabel": f"kg CO2e/{factor.unit}",
        "status": factor.status.value,
        "declaredBy": factor.declared_by_id,
        "footprintRecordId": factor.footprint_record_id,
        "createdAt": factor.created_at.isoformat(),
    }
    review_list = [
        {
            "decision": review.decision.value,
            "comment": review.comment,
            "reviewer": review.reviewer_id,
            "decidedAt": review.decided_at.isoformat(),
            "logIndex": review.log_index,
        }
        for review in reviews
    ]
    if review_list:
        body["reviews"] = review_list
    return body


def factors_csv(factors: Iterable[Factor]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for factor in factors:
        row = factor_json(factor)
        row["gases"] = gases_text(stored_gases(factor) or {})
        writer.writerow(
            {name: "" if row.get(name) is None else row[name] for name in EXPORT_FIELDS}
        )
    return out.getvalue()


def read_rows(text: str, file_format: str) -> list[object]:
    """The rows of an exchange file: a JSON array (or ``{"factors": [...]}``), or CSV."""
    if file_format == "json":
        try:
            document = signing.parse_json(text)
        except signing.JSONRefused as exc:  # too many digits too: not a bare ValueError (500)
            raise ValidationFailed(
                f"the file is refused: {exc.message}", details=exc.details
            ) from exc
        if isinstance(document, dict) and isinstance(document.get("factors"), list):
            document = document["factors"]
        if not isinstance(document, list):
            raise ValidationFailed('a JSON factor file is an array, or {"factors": [...]}')
        return list(document)
    if file_format == "csv":
        # newline="": the csv module reads line ends itself, a lone CR included.
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            missing = [
                name
                for name in ("code", "kind", "value", "unit", "year", "gwpSet")
                if name not in (reader.fieldnames or ())
            ]
            if missing:
                raise ValidationFailed(
                    f"the CSV header lacks {', '.join(missing)}",
                    details=[{"field": name, "message": "missing column"} for name in missing],
                )
            # Export-only columns (id, status, ...) are ignored, so an export imports back.
            return [{key: value for key, value in row.items() if key in FIELDS} for row in reader]
        except csv.Error as exc:
            raise ValidationFailed(f"the CSV cannot be read: {exc}") from exc
    raise ValidationFailed(f"unknown file format {file_format!r}: csv or json")
