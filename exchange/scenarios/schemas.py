"""Wire formats of the scenarios: query parameters in, JSON documents and CSV tables out.

The views and the CLI share these, so a list read over HTTP and one printed by
``exchange scenarios`` are the same document.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from exchange import quantities
from exchange.db import ROW_ID_MAX, iso_or_none
from exchange.footprints.models import FootprintRecord
from exchange.labels import services as labels
from exchange.labels.models import Grade, GradingScheme
from exchange.scenarios.services import (
    KG_CO2E,
    DisclosureReport,
    Figure,
    ProcurementList,
    ProcurementQuery,
    Reduction,
    ReductionQuery,
    ReportRecord,
    field_error,
    log_reference,
)

MAX_TEXT: Final = 300
FORMATS: Final = ("json", "csv", "html")


# --- parameters ------------------------------------------------------------------------------


def _text(args: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    value = args.get(name)
    if value is None or not value.strip():
        if required:
            raise field_error(name, "required")
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise field_error(name, f"at most {MAX_TEXT} characters")
    return value


def _whole(args: Mapping[str, str], name: str, *, low: int, high: int) -> int | None:
    value = _text(args, name)
    if value is None:
        return None
    # ASCII digits only: str.isdigit also takes "²", which int() then refuses.
    if not (value.isascii() and value.isdecimal()) or not low <= int(value) <= high:
        raise field_error(name, f"a whole number from {low} to {high}")
    return int(value)


def parse_moment(value: str, name: str) -> dt.datetime:
    """A date (the state at the end of that day, UTC) or a date-time with its offset."""
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise field_error(name, "a date (YYYY-MM-DD) or a date-time with an offset") from exc
    if moment.tzinfo is None:
        raise field_error(name, "a date-time needs its UTC offset (e.g. Z or +08:00)")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        raise field_error(name, "out of range: years 1 to 9999 in UTC") from exc


def output_format(args: Mapping[str, str], allowed: Sequence[str] = FORMATS) -> str:
    value = args.get("format", "json")
    if value not in allowed:
        raise field_error("format", f"one of {', '.join(allowed)}")
    return value


def procurement_query(args: Mapping[str, str]) -> ProcurementQuery:
    category = _text(args, "category", required=True)
    assert category is not None
    grade = _whole(args, "grade", low=1, high=9)
    if grade is None:
        raise field_error("grade", "required: the worst grade accepted (1 is best)")
    as_of = _text(args, "asOf")
    region = _text(args, "region")
    if region is not None and len(region) > 64:
        raise field_error("region", "at most 64 characters")
    return ProcurementQuery(
        category=category,
        grade=grade,
        rule=_text(args, "rule"),
        region=region,
        as_of=None if as_of is None else parse_moment(as_of, "asOf"),
    )


def include_deprecated(args: Mapping[str, str]) -> bool:
    value = args.get("includeDeprecated", "false")
    if value not in ("true", "false"):
        raise field_error("includeDeprecated", "true or false")
    return value == "true"


def reduction_query(args: Mapping[str, str]) -> ReductionQuery:
    quantity_text = _text(args, "quantity")
    quantity: Decimal | None = None
    if quantity_text is not None:
        try:
            quantity = quantities.parse(quantity_text)
        except ValueError as exc:
            raise field_error("quantity", str(exc)) from exc
    record = _text(args, "record")
    if record is not None and len(record) > 36:
        raise field_error("record", "a footprint record id (36 characters at most)")
    return ReductionQuery(
        record=record,
        certificate=_whole(args, "certificate", low=1, high=ROW_ID_MAX),
        category=_text(args, "category"),
        quantity=quantity,
        quantity_unit=_text(args, "quantityUnit"),
        scheme_version=_whole(args, "schemeVersion", low=1, high=2**31 - 1),
    )


# --- shared pieces ---------------------------------------------------------------------------


def _number(value: Decimal | None) -> str | None:
    return None if value is None else quantities.text(Decimal(value))


def _figure(figure: Figure | None, unit: str) -> dict[str, Any] | None:
    if figure is None:
        return None
    return {"value": figure.text, "unit": unit, "exact": figure.exact}


def scheme_json(scheme: GradingScheme) -> dict[str, Any]:
    return {
        "id": scheme.id,
        "category": scheme.category,
        "version": scheme.version,
        "method": scheme.method.value,
        "unit": scheme.unit,
        "parameters": json.loads(scheme.parameters_json),
    }


def _grade_json(grade: Grade | None) -> dict[str, Any] | None:
    if grade is None:
        return None
    return {
        "grade": grade.grade,
        "schemeVersion": grade.scheme.version,
        "schemeId": grade.scheme.id,
        "gradedAt": iso_or_none(grade.graded_at),
    }


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            Decimal(text)
        except ArithmeticError:
            return "'" + text
    return text


def to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


# --- green procurement -----------------------------------------------------------------------

PROCUREMENT_COLUMNS: Final = (
    "rank",
    "product_name",
    "gtin",
    "supplier_id",
    "supplier_name",
    "footprint_kgco2e_per_unit",
    "declared_unit",
    "grade",
    "scheme_version",
    "certificate_number",
    "certificate_status",
    "certificate_issued_at",
    "certificate_valid_until",
    "certification_body",
    "record_id",
    "regions",
)


def procurement_json(found: ProcurementList) -> dict[str, Any]:
    query = found.query
    items = []
    for rank, item in enumerate(found.items, start=1):
        certificate = item.certificate
        items.append(
            {
                "rank": rank,
                "product": {"name": certificate.product_name, "gtin": certificate.gtin},
                "supplier": {"id": certificate.owner_id, "name": certificate.company_name},
                "footprint": {
                    "value": _number(certificate.value),
                    "unit": KG_CO2E,
                    "declaredUnit": certificate.unit,
                    "per": f"1 {certificate.unit}",
                },
                "grade": item.grade.grade,
                "scheme": {"id": item.grade.scheme.id, "version": item.grade.scheme.version},
                "certificate": {
                    "number": certificate.id,
                    "id": certificate.uid,
                    "status": "active",
                    "issuedAt": iso_or_none(certificate.issued_at),
                    "validUntil": iso_or_none(certificate.valid_until),
                    "body": {"id": certificate.body_id, "name": item.body_name},
                    "logIndex": certificate.log_index,
                },
                "record": {"id": certificate.record_id, "status": item.record_status.value},
                "regions": [region.upper() for region in item.regions],
            }
        )
    return {
        "scenario": "green-procurement",
        "filters": {
            "category": query.category,
            "grade": query.grade,
            "rule": query.rule,
            "region": query.region,
            "asOf": iso_or_none(found.as_of),
        },
        "scheme": scheme_json(found.scheme),
        "rule": None
        if found.rule is None
        else {"code": found.rule.code, "title": found.rule.title},
        "count": len(items),
        "data": items,
    }


def procurement_rows(found: ProcurementList) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for item in procurement_json(found)["data"]:
        rows.append(
            {
                "rank": item["rank"],
                "product_name": item["product"]["name"],
                "gtin": item["product"]["gtin"],
                "supplier_id": item["supplier"]["id"],
                "supplier_name": item["supplier"]["name"],
                "footprint_kgco2e_per_unit": item["footprint"]["value"],
                "declared_unit": item["footprint"]["declaredUnit"],
                "grade": item["grade"],
                "scheme_version": item["scheme"]["version"],
                "certificate_number": item["certificate"]["number"],
                "certificate_status": item["certificate"]["status"],
                "certificate_issued_at": item["certificate"]["issuedAt"],
                "certificate_valid_until": item["certificate"]["validUntil"],
                "certification_body": item["certificate"]["body"]["name"],
                "record_id": item["record"]["id"],
                "regions": " ".join(item["regions"]),
            }
        )
    return rows


# --- disclosure report -----------------------------------------------------------------------

DISCLOSURE_COLUMNS: Final = (
    "kind",
    "record_id",
    "record_status",
    "disclosure",
    "product_name",
    "product_ids",
    "declared_unit",
    "declared_unit_amount",
    "pcf_kgco2e_per_declared_amount",
    "footprint_kgco2e_per_unit",
    "derived",
    "coverage",
    "primary_data_share",
    "record_log_index",
    "certificate_number",
    "certificate_status",
    "category",
    "grade",
    "scheme_version",
    "certificate_valid_until",
    "certificate_log_index",
)


def _record_json(
    item: ReportRecord, leaves: Mapping[int, str], size: int, certified: Sequence[int]
) -> dict[str, Any]:
    record: FootprintRecord = item.record
    pcf = item.footprint.get("pcf", {})
    return {
        "id": record.id,
        "status": record.status.value,
        "disclosure": record.disclosure.value,
        "productName": item.footprint.get("productNameCompany"),
        "productIds": item.footprint.get("productIds", []),
        "classifications": item.footprint.get("productClassifications") or [],
        "declaredUnit": pcf.get("declaredUnitOfMeasurement"),
        "declaredUnitAmount": pcf.get("declaredUnitAmount"),
        "pcf": pcf.get("pcfIncludingBiogenicUptake"),
        "valuePerUnit": {
            "value": _number(item.value_per_unit),
            "unit": KG_CO2E,
            "per": f"1 {item.unit}",
        },
        "primaryDataShare": pcf.get("primaryDataShare"),
        "validFrom": iso_or_none(record.valid_from),
        "validUntil": iso_or_none(record.valid_until),
        "signed": record.signed,
        "signatureKid": record.signature_kid,
        "derived": item.derived is not None,
        "certificates": list(certified),
        "log": log_reference(record.log_index, leaves.get(record.log_index), size),
    }


def _certificate_json(
    entry: labels.RegistryEntry, leaves: Mapping[int, str], size: int
) -> dict[str, Any]:
    certificate = entry.certificate
    return {
        "number": certificate.id,
        "id": certificate.uid,
        "status": entry.status,
        "record": certificate.record_id,
        "product": {"name": certificate.product_name, "gtin": certificate.gtin},
        "category": certificate.category,
        "value": _number(certificate.value),
        "unit": KG_CO2E,
        "per": f"1 {certificate.unit}",
        "grade": _grade_json(entry.grade),
        "body": {"id": certificate.body_id, "name": entry.body_name},
        "issuedAt": iso_or_none(certificate.issued_at),
        "validUntil": iso_or_none(certificate.valid_until),
        "log": log_reference(certificate.log_index, leaves.get(certificate.log_index), size),
    }


def disclosure_json(
    report: DisclosureReport, leaves: Mapping[int, str], checkpoint: str | None
) -> dict[str, Any]:
    company = report.company
    size = report.log_size
    by_record: dict[str, list[int]] = {}
    for entry in report.certificates:
        by_record.setdefault(entry.certificate.record_id, []).append(entry.certificate.id)
    derived = [
        {
            "record": item.record.id,
            "product": item.derived.product_id,
            "productName": item.footprint.get("productNameCompany"),
            "valuePerUnit": {
                "value": _number(item.value_per_unit),
                "unit": KG_CO2E,
                "per": f"1 {item.unit}",
            },
            "coverage": _number(item.derived.coverage),
            "primaryDataShare": _number(item.derived.primary_data_share),
            "resultDigest": item.derived.result_digest,
            "matchedResult": item.derived.matched_result,
        }
        for item in report.records
        if item.derived is not None
    ]
    grades: dict[str, int] = {}
    for entry in report.certificates:
        if entry.status == "active" and entry.grade is not None:
            key = str(entry.grade.grade)
            grades[key] = grades.get(key, 0) + 1
    return {
        "scenario": "disclosure-report",
        "company": {
            "id": company.id,
            "name": company.name,
            "country": company.country,
            "uscc": company.uscc,
            "companyIds": sorted(item.urn for item in company.company_ids),
        },
        "scope": report.scope,
        "generatedAt": iso_or_none(report.generated_at),
        "log": {"treeSize": size, "checkpoint": checkpoint},
        "summary": {
            "records": len(report.records),
            "truncated": report.truncated,
            "certificates": len(report.certificates),
            "activeCertificates": sum(1 for e in report.certificates if e.status == "active"),
            "derivedFootprints": len(derived),
            "activeGrades": dict(sorted(grades.items())),
        },
        "footprints": [
            _record_json(item, leaves, size, by_record.get(item.record.id, []))
            for item in report.records
        ],
        "certificates": [_certificate_json(entry, leaves, size) for entry in report.certificates],
        "derivedFootprints": derived,
    }


def disclosure_rows(document: Mapping[str, Any]) -> list[dict[str, object]]:
    """One row per record and certificate of it; certificates of records the report does
    not list (the registry shows them to everyone) follow, one row each."""
    certificates = {item["number"]: item for item in document["certificates"]}
    derived = {item["record"]: item for item in document["derivedFootprints"]}
    rows: list[dict[str, object]] = []

    def certificate_cells(number: int | None) -> dict[str, object]:
        if number is None:
            return {}
        item = certificates[number]
        grade = item["grade"] or {}
        return {
            "certificate_number": item["number"],
            "certificate_status": item["status"],
            "category": item["category"],
            "grade": grade.get("grade"),
            "scheme_version": grade.get("schemeVersion"),
            "certificate_valid_until": item["validUntil"],
            "certificate_log_index": item["log"]["logIndex"],
        }

    listed: set[int] = set()
    for record in document["footprints"]:
        figures = derived.get(record["id"], {})
        base: dict[str, object] = {
            "kind": "footprint",
            "record_id": record["id"],
            "record_status": record["status"],
            "disclosure": record["disclosure"],
            "product_name": record["productName"],
            "product_ids": " ".join(record["productIds"]),
            "declared_unit": record["declaredUnit"],
            "declared_unit_amount": record["declaredUnitAmount"],
            "pcf_kgco2e_per_declared_amount": record["pcf"],
            "footprint_kgco2e_per_unit": record["valuePerUnit"]["value"],
            "derived": record["derived"],
            "coverage": figures.get("coverage"),
            "primary_data_share": figures.get("primaryDataShare", record["primaryDataShare"]),
            "record_log_index": record["log"]["logIndex"],
        }
        numbers: list[int | None] = list(record["certificates"]) or [None]
        for number in numbers:
            rows.append({**base, **certificate_cells(number)})
            if number is not None:
                listed.add(number)
    for number, item in certificates.items():
        if number not in listed:
            rows.append(
                {
                    "kind": "certificate",
                    "record_id": item["record"],
                    "product_name": item["product"]["name"],
                    "product_ids": f"urn:gtin:{item['product']['gtin']}",
                    "footprint_kgco2e_per_unit": item["value"],
                    **certificate_cells(number),
                }
            )
    return rows


# --- carbon inclusion ------------------------------------------------------------------------

REDUCTION_COLUMNS: Final = (
    "basis",
    "record_id",
    "certificate_number",
    "certificate_status",
    "product_name",
    "company_name",
    "category",
    "scheme_id",
    "scheme_version",
    "benchmark_kgco2e_per_unit",
    "unit",
    "footprint_kgco2e_per_unit",
    "reduction_kgco2e_per_unit",
    "quantity",
    "quantity_unit",
    "quantity_in_unit",
    "total_reduction_kgco2e",
    "exact",
    "outcome",
)


def reduction_json(found: Reduction) -> dict[str, Any]:
    basis = found.basis
    per = f"{KG_CO2E} per 1 {found.scheme.unit}"
    quantity = None
    if found.quantity is not None:
        quantity = {
            "value": quantities.text(found.quantity),
            "unit": found.quantity_unit,
            "inSchemeUnit": _figure(found.quantity_in_scheme_unit, found.scheme.unit),
        }
    return {
        "scenario": "carbon-inclusion",
        "basis": {
            "kind": "certificate" if basis.certificate is not None else "record",
            "record": basis.record_id,
            "certificate": None if basis.certificate is None else basis.certificate.id,
            "certificateStatus": basis.certificate_status,
            "product": basis.product_name,
            "company": basis.company_name,
            "pcf": quantities.text(basis.pcf),
            "declaredUnitAmount": quantities.text(basis.declared_amount),
            "declaredUnit": basis.declared_unit,
            "logIndex": basis.log_index,
        },
        "category": found.category,
        "benchmark": {
            "value": quantities.text(found.benchmark),
            "unit": per,
            "scheme": scheme_json(found.scheme),
        },
        "footprintPerUnit": _figure(found.footprint_per_unit, per),
        "reductionPerUnit": _figure(found.reduction_per_unit, per),
        "quantity": quantity,
        "totalReduction": _figure(found.total, KG_CO2E),
        "outcome": found.outcome,
    }


def reduction_rows(document: Mapping[str, Any]) -> list[dict[str, object]]:
    basis = document["basis"]
    quantity = document["quantity"] or {}
    total = document["totalReduction"] or {}
    figures = [document["footprintPerUnit"], document["reductionPerUnit"]]
    if quantity:
        figures += [quantity["inSchemeUnit"], total]
    return [
        {
            "basis": basis["kind"],
            "record_id": basis["record"],
            "certificate_number": basis["certificate"],
            "certificate_status": basis["certificateStatus"],
            "product_name": basis["product"],
            "company_name": basis["company"],
            "category": document["category"],
            "scheme_id": document["benchmark"]["scheme"]["id"],
            "scheme_version": document["benchmark"]["scheme"]["version"],
            "benchmark_kgco2e_per_unit": document["benchmark"]["value"],
            "unit": document["benchmark"]["scheme"]["unit"],
            "footprint_kgco2e_per_unit": document["footprintPerUnit"]["value"],
            "reduction_kgco2e_per_unit": document["reductionPerUnit"]["value"],
            "quantity": quantity.get("value"),
            "quantity_unit": quantity.get("unit"),
            "quantity_in_unit": (quantity.get("inSchemeUnit") or {}).get("value"),
            "total_reduction_kgco2e": total.get("value"),
            "exact": all(figure["exact"] for figure in figures),
            "outcome": document["outcome"],
        }
    ]
