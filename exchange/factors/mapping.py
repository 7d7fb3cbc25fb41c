"""Importing a published dataset in its own file layout through a mapping file.

National datasets (the grid-factor announcements, a ministry's default tables, another
programme's export) change every year and never use the exchange's column names. A mapping
file, TOML or JSON, says how to read one such layout, so that the regulator loads next
year's edition without code (docs/factor-exchange-format.md, "Importing a published
dataset")::

    format = "csv"            # or "json" (an array of objects)
    encoding = "utf-8-sig"    # what the publisher saves in, e.g. "gbk"
    header_row = 1            # the line that holds the column names
    [columns]                 # the file's column -> exchange field(s)
    "地区" = "region"
    [units]                   # the published unit -> exchange unit (and a multiplier)
    "tCO2/MWh" = { unit = "kWh", multiply = "1" }
    [regions]                 # the published area -> exchange region code
    "海南" = "CN-HI"
    [constants]               # fields the file does not carry
    source = "..."
    [templates]               # fields built from others: {field} or {column}, |lower,
    code = "cn.electricity.{region|slug}.{year}"   # |upper or |<lookup table>
    [lookups.slug]
    "CN-HI" = "hainan"

Each row of the file becomes one exchange-format row, which then goes through the ordinary
import (:func:`exchange.factors.services.import_rows`): the same checks, the same per-row
report, the same log entries. A problem with the mapping itself or with the file's header
(a column the file does not have) refuses the whole file before anything is stored; a row
whose unit or region the mapping does not know is reported with its own errors and the
good rows are stored, as in any import.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import tomllib
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any, Final

from sqlalchemy.orm import Session

from exchange import quantities
from exchange.errors import ValidationFailed
from exchange.factors import schemas, services, units

# The mappings shipped with the exchange, usable by name (`--mapping mee-grid-announcement`).
SHIPPED_DIRECTORY: Final = "mappings"
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Every field an import needs; a mapping must give each one (a column, a constant or a
# template), or no row could ever pass.
REQUIRED: Final = (
    "code",
    "kind",
    "name",
    "category",
    "value",
    "unit",
    "region",
    "year",
    "gwpSet",
    "scope",
    "source",
    "licence",
)
_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "format",
        "encoding",
        "delimiter",
        "header_row",
        "records",
        "columns",
        "units",
        "regions",
        "constants",
        "templates",
        "lookups",
    }
)
_BUILT_IN: Final = {"lower": str.lower, "upper": str.upper}
# {{ and }} are literal braces; {name} or {name|modifier} is a placeholder.
_PLACEHOLDER: Final = re.compile(r"\{\{|\}\}|\{([^{}|]+)(?:\|([^{}|]+))?\}")


@dataclasses.dataclass(frozen=True, slots=True)
class UnitRule:
    """A published unit: the exchange unit it is, and what to multiply the value by."""

    unit: str
    multiply: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Mapping:
    """A parsed, checked mapping file."""

    file_format: str = "csv"
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    header_row: int = 1
    records: str | None = None
    columns: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    units: dict[str, UnitRule] | None = None
    regions: dict[str, str] | None = None
    constants: dict[str, str] = dataclasses.field(default_factory=dict)
    templates: dict[str, str] = dataclasses.field(default_factory=dict)
    lookups: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def given(self) -> set[str]:
        """The exchange fields a row gets from a column or a constant."""
        return {f for fields in self.columns.values() for f in fields} | set(self.constants)


def _refuse(problems: list[dict[str, str]]) -> None:
    if problems:
        first = problems[0]
        where = f"{first['field']}: " if first["field"] else ""
        raise ValidationFailed(
            f"the mapping is not valid: {where}{first['message']}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            details=problems,
        )


def _text_table(
    document: MappingType[str, Any], key: str, problems: list[dict[str, str]]
) -> dict[str, Any]:
    table = document.get(key, {})
    if not isinstance(table, dict):
        problems.append({"field": key, "message": "a table of names to values"})
        return {}
    return table


def _scalar(value: object) -> str | None:
    """A constant as the text a CSV cell would hold; decimals are written as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value)
    return None


def _text_encoding(name: object) -> bool:
    """A codec that decodes bytes to text (base64, zlib and the like do not)."""
    if not isinstance(name, str):
        return False
    try:
        b"a".decode(name, errors="replace")
    except LookupError:
        return False
    return True


def _holds_nul(value: object) -> bool:
    """Whether a parsed document holds a NUL anywhere: PostgreSQL text cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def parse_mapping(text: str, *, syntax: str | None = None) -> Mapping:
    """A mapping from TOML or JSON text (``syntax`` "toml" | "json"; by default JSON when
    the text starts with ``{``). Every problem is reported at once."""
    syntax = syntax or ("json" if text.lstrip().startswith("{") else "toml")
    try:
        document = json.loads(text) if syntax == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed(f"the mapping is not valid {syntax.upper()}: {exc}") from exc
    if not isinstance(document, dict):
        raise ValidationFailed("a mapping is a table (TOML) or an object (JSON)")
    problems: list[dict[str, str]] = []
    for key in sorted(set(document) - _KEYS):
        problems.append(
            {"field": key, "message": f"unknown key; known: {', '.join(sorted(_KEYS))}"}
        )

    file_format = document.get("format", "csv")
    if file_format not in ("csv", "json"):
        problems.append({"field": "format", "message": "csv or json"})
    encoding = document.get("encoding", "utf-8-sig")
    if not _text_encoding(encoding):
        problems.append({"field": "encoding", "message": f"unknown text encoding {encoding!r}"})
    if _holds_nul(document):
        problems.append({"field": "", "message": "a text holds a NUL character"})
    delimiter = document.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        problems.append({"field": "delimiter", "message": "one character"})
    header_row = document.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        problems.append(
            {"field": "header_row", "message": "the line number of the header, 1 or more"}
        )
    records = document.get("records")
    if records is not None and not isinstance(records, str):
        problems.append(
            {"field": "records", "message": "the name of the JSON member holding the rows"}
        )

    columns: dict[str, tuple[str, ...]] = {}
    for column, target in _text_table(document, "columns", problems).items():
        targets = (target,) if isinstance(target, str) else target
        if not isinstance(targets, list | tuple) or not targets:
            problems.append(
                {"field": f"columns.{column}", "message": "a field name, or a list of them"}
            )
            continue
        for field in targets:
            if field not in schemas.FIELDS:
                problems.append(
                    {
                        "field": f"columns.{column}",
                        "message": f"unknown field {field!r}; fields: {', '.join(schemas.FIELDS)}",
                    }
                )
        columns[str(column).strip()] = tuple(str(field) for field in targets)

    unit_rules: dict[str, UnitRule] | None = None
    if "units" in document:
        unit_rules = {}
        for published, rule in _text_table(document, "units", problems).items():
            where = f"units.{published}"
            if isinstance(rule, str):
                rule = {"unit": rule}
            if not isinstance(rule, dict) or set(rule) - {"unit", "multiply"} or "unit" not in rule:
                problems.append(
                    {"field": where, "message": 'a unit, or { unit = "...", multiply = "..." }'}
                )
                continue
            try:
                symbol = units.unit(str(rule["unit"])).symbol
            except units.UnitError as exc:
                problems.append({"field": where, "message": str(exc)})
                continue
            multiply = None
            if "multiply" in rule:
                try:
                    multiply = quantities.parse(rule["multiply"])
                except ValueError as exc:
                    problems.append({"field": f"{where}.multiply", "message": str(exc)})
                    continue
                if multiply <= 0:
                    problems.append({"field": f"{where}.multiply", "message": "a positive number"})
                    continue
            unit_rules[str(published)] = UnitRule(symbol, multiply)

    regions: dict[str, str] | None = None
    if "regions" in document:
        regions = {}
        for published, code in _text_table(document, "regions", problems).items():
            if not isinstance(code, str) or not code.strip():
                problems.append(
                    {"field": f"regions.{published}", "message": "a region code such as CN-HI"}
                )
                continue
            regions[str(published)] = code.strip()

    constants: dict[str, str] = {}
    for field, value in _text_table(document, "constants", problems).items():
        if field not in schemas.FIELDS:
            problems.append({"field": f"constants.{field}", "message": f"unknown field {field!r}"})
            continue
        text_value = _scalar(value)
        if text_value is None:
            problems.append(
                {
                    "field": f"constants.{field}",
                    "message": 'a string or a whole number (write decimals as "0.5306")',
                }
            )
            continue
        constants[field] = text_value

    lookups: dict[str, dict[str, str]] = {}
    for table_name, table in _text_table(document, "lookups", problems).items():
        if table_name in _BUILT_IN or not isinstance(table, dict):
            problems.append(
                {
                    "field": f"lookups.{table_name}",
                    "message": "a table of values (lower and upper are built in)",
                }
            )
            continue
        lookups[table_name] = {str(k): str(v) for k, v in table.items()}

    templates: dict[str, str] = {}
    for field, template in _text_table(document, "templates", problems).items():
        where = f"templates.{field}"
        if field not in schemas.FIELDS or not isinstance(template, str):
            problems.append(
                {"field": where, "message": "a field name and a text with {placeholders}"}
            )
            continue
        for match in _PLACEHOLDER.finditer(template):
            modifier = match.group(2)
            if modifier is not None and modifier.strip() not in set(_BUILT_IN) | set(lookups):
                problems.append(
                    {
                        "field": where,
                        "message": f"unknown modifier {modifier!r}: "
                        "lower, upper or a [lookups] table",
                    }
                )
        templates[field] = template

    mapping = Mapping(
        file_format=str(file_format),
        encoding=str(encoding),
        delimiter=str(delimiter),
        header_row=header_row if isinstance(header_row, int) else 1,
        records=records if isinstance(records, str) else None,
        columns=columns,
        units=unit_rules,
        regions=regions,
        constants=constants,
        templates=templates,
        lookups=lookups,
    )
    given = mapping.given()
    for field in sorted(given & set(templates)):
        problems.append(
            {
                "field": f"templates.{field}",
                "message": "the field is also given by a column or a constant",
            }
        )
    targets = [f for fields in columns.values() for f in fields]
    for field in sorted(
        {f for f in targets if targets.count(f) > 1} | (set(targets) & set(constants))
    ):
        problems.append(
            {"field": field, "message": "given twice (two columns, or a column and a constant)"}
        )
    for field in REQUIRED:
        if field not in given | set(templates):
            problems.append(
                {
                    "field": field,
                    "message": "not given: map a column to it, "
                    "or set it in [constants] or [templates]",
                }
            )
    _refuse(problems)
    return mapping


def shipped_names() -> list[str]:
    """The names of the mappings shipped with the exchange."""
    folder = resources.files("exchange.factors") / "data" / SHIPPED_DIRECTORY
    return sorted(
        item.name[: -len(".toml")] for item in folder.iterdir() if item.name.endswith(".toml")
    )


def shipped(name: str) -> Mapping:
    """A mapping shipped with the exchange, by name."""
    if not NAME_PATTERN.match(name) or name not in shipped_names():
        raise ValidationFailed(
            f"no shipped mapping {name!r}; shipped: {', '.join(shipped_names()) or 'none'}",
            details=[{"field": "mapping", "message": "unknown name"}],
        )
    folder = resources.files("exchange.factors") / "data" / SHIPPED_DIRECTORY
    return parse_mapping((folder / f"{name}.toml").read_text("utf-8"), syntax="toml")


# --- reading the published file ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """The published file's header and its rows, each with the row number a person sees."""

    header: tuple[str, ...]
    rows: list[tuple[int, dict[str, str]]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_source(data: bytes | str, mapping: Mapping) -> Source:
    """The rows of a published file as text cells keyed by its own column names."""
    if isinstance(data, bytes):
        try:
            text = data.decode(mapping.encoding)
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"the file is not {mapping.encoding} (byte {exc.start}); "
                "set the mapping's encoding",
                details=[{"field": "encoding", "message": str(exc.reason)}],
            ) from exc
    else:
        text = data
    if "\x00" in text:
        # PostgreSQL text cannot hold a NUL; refused here rather than as a database error.
        raise ValidationFailed("the file holds a NUL character")
    if mapping.file_format == "json":
        try:
            document = json.loads(text, parse_float=Decimal)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValidationFailed(f"the file is not valid JSON: {exc}") from exc
        if _holds_nul(document):
            raise ValidationFailed("the file holds a NUL character")
        if mapping.records is not None and isinstance(document, dict):
            document = document.get(mapping.records)
        if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
            raise ValidationFailed(
                "the JSON file is not an array of objects"
                + (f" under {mapping.records!r}" if mapping.records else "")
            )
        header: list[str] = []
        for record in document:
            header.extend(key for key in record if key not in header)
        rows = [
            (number, {str(k): _cell(v) for k, v in record.items()})
            for number, record in enumerate(document, start=1)
        ]
        return Source(tuple(header), rows)
    # newline="": the csv module reads line ends itself, quoted line breaks included.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    try:
        lines = [(reader.line_num, cells) for cells in reader]
    except csv.Error as exc:
        raise ValidationFailed(f"the CSV cannot be read: {exc}") from exc
    heading = [cells for number, cells in lines if number == mapping.header_row]
    if not heading:
        raise ValidationFailed(
            f"the file has no line {mapping.header_row} to read the column names from",
            details=[{"field": "header_row", "message": "beyond the end of the file"}],
        )
    names = tuple(name.strip() for name in heading[0])
    rows = []
    for number, cells in lines:
        if number <= mapping.header_row or not any(cell.strip() for cell in cells):
            continue
        rows.append(
            (number, {name: cells[i] if i < len(cells) else "" for i, name in enumerate(names)})
        )
    return Source(names, rows)


# --- applying the mapping ----------------------------------------------------------------------


def _check_header(mapping: Mapping, header: Sequence[str]) -> None:
    """A column the mapping names but the file lacks refuses the whole file: the mapping
    was written for another layout, and every row would be wrong."""
    problems: list[dict[str, str]] = []
    for column in mapping.columns:
        if column not in header:
            problems.append(
                {"field": f"columns.{column}", "message": f"the file has no column {column!r}"}
            )
        elif list(header).count(column) > 1:
            problems.append(
                {"field": f"columns.{column}", "message": "the file has this column twice"}
            )
    known = set(header) | mapping.given()
    for field, template in mapping.templates.items():
        for match in _PLACEHOLDER.finditer(template):
            name = match.group(1)
            if name is not None and name.strip() not in known:
                problems.append(
                    {
                        "field": f"templates.{field}",
                        "message": f"{{{name}}} is neither a field the mapping gives "
                        "nor a column of the file",
                    }
                )
    if problems:
        columns = ", ".join(repr(name) for name in header)
        raise ValidationFailed(
            f"the file does not fit the mapping: {problems[0]['message']} (its columns: {columns})",
            details=problems,
        )


def _fill(
    template: str, field: str, values: dict[str, str], cells: dict[str, str], mapping: Mapping
) -> tuple[str, list[dict[str, str]]]:
    errors: list[dict[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        name = match.group(1).strip()
        value = values[name] if name in values else cells.get(name, "")
        modifier = (match.group(2) or "").strip()
        if not modifier:
            return value
        if modifier in _BUILT_IN:
            return _BUILT_IN[modifier](value)
        table = mapping.lookups[modifier]
        if value not in table:
            errors.append(
                {
                    "field": field,
                    "message": f"{value!r} ({{{name}}}) is not in "
                    f"the mapping's [lookups.{modifier}]",
                }
            )
            return ""
        return table[value]

    return _PLACEHOLDER.sub(replace, template), errors


def _source_value(text: str) -> Decimal:
    """A published number: plain, or in the exponent form spreadsheets write (1.321E-2)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value


def map_row(mapping: Mapping, cells: dict[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """One published row as an exchange-format row, and the errors of applying the mapping."""
    errors: list[dict[str, str]] = []
    values: dict[str, str] = dict(mapping.constants)
    origin: dict[str, str] = {field: "the mapping's [constants]" for field in mapping.constants}
    for column, fields in mapping.columns.items():
        for field in fields:
            values[field] = cells.get(column, "").strip()
            origin[field] = f"column {column!r}"

    multiply: Decimal | None = None
    if mapping.units is not None and values.get("unit"):
        rule = mapping.units.get(values["unit"])
        if rule is None:
            errors.append(
                {
                    "field": "unit",
                    "message": f"unit {values['unit']!r} ({origin['unit']}) is not in the "
                    f"mapping's [units]; known: {', '.join(mapping.units) or 'none'}",
                }
            )
        else:
            values["unit"], multiply = rule.unit, rule.multiply
    if mapping.regions is not None and values.get("region"):
        code = mapping.regions.get(values["region"])
        if code is None:
            errors.append(
                {
                    "field": "region",
                    "message": f"region {values['region']!r} ({origin['region']}) is not in the "
                    f"mapping's [regions]",
                }
            )
        else:
            values["region"] = code
    if values.get("value"):
        try:
            value = _source_value(values["value"])
        except ValueError as exc:
            errors.append({"field": "value", "message": f"{exc} ({origin['value']})"})
        else:
            if multiply is not None:
                value *= multiply
            # Plain notation keeps the places the publisher wrote (0.5306 stays 0.5306).
            values["value"] = format(value, "f")
    if errors:
        return values, errors
    for field, template in mapping.templates.items():
        values[field], problems = _fill(template, field, values, cells, mapping)
        errors.extend(problems)
    return values, errors


def import_mapped(
    session: Session,
    data: bytes | str,
    mapping: Mapping,
    **options: Any,
) -> services.ImportReport:
    """Import a published file through ``mapping``; the report numbers rows as the file does.

    Rows the mapping cannot translate are rejected with their reasons; the others go
    through :func:`services.import_rows` unchanged, with its checks and its report.
    """
    source = read_source(data, mapping)
    _check_header(mapping, source.header)
    mapped: list[tuple[int, dict[str, str]]] = []
    refused: list[services.RowOutcome] = []
    for number, cells in source.rows:
        row, errors = map_row(mapping, cells)
        if errors:
            refused.append(
                services.RowOutcome(
                    row=number, status="rejected", code=row.get("code") or None, errors=errors
                )
            )
        else:
            mapped.append((number, row))
    report = services.import_rows(session, [row for _, row in mapped], **options)
    for outcome, (number, _) in zip(report.rows, mapped, strict=True):
        outcome.row = number
    return services.ImportReport(rows=sorted(report.rows + refused, key=lambda o: o.row))
