"""The disclosure report of one company, for ESG and green-finance use.

What the company published or had certified: its footprint records (with the figures per
declared unit), its certificates and their grades (with the scheme version), the footprints
it derived from its supply chain (with coverage and primary-data share, as the signed
provenance states them), and where each record and certificate sits in the transparency
log, so a bank or an auditor can prove it was registered and never rewritten.

Who reads what: the company itself and the regulator get the full report - every record
:func:`exchange.footprints.services.visible_to` lets them read; anyone else (anonymous
included) gets the public part - the records published to everyone, and the certificates,
which the public registry shows anyway. The report only ever narrows the visibility rule,
never widens it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange.aggregation.models import DerivedRecord
from exchange.db import utcnow
from exchange.footprints import services as footprints
from exchange.footprints.models import Disclosure, FootprintRecord, RecordStatus
from exchange.labels import services as labels
from exchange.labels.models import Certificate
from exchange.organisations.models import Organisation, Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import get_organisation

READ_SCOPE: Final = "footprints:read"
# A report lists at most this many records, newest first (it says when it stopped short).
MAX_RECORDS: Final = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class DerivedFigures:
    """What the signed provenance of a derived footprint states about its data."""

    product_id: str
    result_digest: str
    matched_result: bool
    coverage: Decimal | None
    primary_data_share: Decimal | None


@dataclasses.dataclass(frozen=True, slots=True)
class ReportRecord:
    record: FootprintRecord
    footprint: dict[str, Any]
    value_per_unit: Decimal
    unit: str
    derived: DerivedFigures | None


@dataclasses.dataclass(frozen=True, slots=True)
class DisclosureReport:
    company: Organisation
    full: bool
    generated_at: dt.datetime
    # Everything listed was in the log below this size (the checkpoint the report cites).
    log_size: int
    records: list[ReportRecord]
    truncated: bool
    certificates: list[labels.RegistryEntry]

    @property
    def scope(self) -> str:
        return "full" if self.full else "public"


def sees_in_full(viewer: Principal | None, company_id: str) -> bool:
    """The company itself and the regulator read the full report."""
    return viewer is not None and (
        viewer.organisation_id == company_id or viewer.has_role(Role.REGULATOR)
    )


def _readable(viewer: Principal | None, full: bool) -> sa.ColumnElement[bool]:
    """Records of the report: what the viewer may see (THE visibility rule), and for
    anyone but the company and the regulator only what is published to everyone."""
    public = FootprintRecord.disclosure == Disclosure.PUBLIC
    if viewer is None:
        return public
    visible = footprints.visible_to(
        viewer.organisation_id, regulator=viewer.has_role(Role.REGULATOR)
    )
    return visible if full else sa.and_(visible, public)


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _derived_figures(link: DerivedRecord, footprint: dict[str, Any]) -> DerivedFigures:
    """Coverage and primary-data share from the record's own signed provenance extension,
    so the report states what the company signed, not what a later recomputation says."""
    quality: dict[str, Any] = {}
    for extension in footprint.get("extensions") or ():
        data = extension.get("data") if isinstance(extension, dict) else None
        if isinstance(data, dict) and data.get("productId") == link.product_id:
            # Confidential provenance states the roll-ups itself; a record signed before it,
            # inside its (cleartext) result.
            result = data.get("result")
            if isinstance(data.get("quality"), dict):
                quality = data["quality"]
            elif isinstance(result, dict) and isinstance(result.get("quality"), dict):
                quality = result["quality"]
    share = quality.get("primaryDataShare", footprint.get("pcf", {}).get("primaryDataShare"))
    return DerivedFigures(
        product_id=link.product_id,
        result_digest=link.result_digest,
        matched_result=link.matched_result,
        coverage=_decimal(quality.get("coverage")),
        primary_data_share=_decimal(share),
    )


def disclosure_report(
    session: Session,
    viewer: Principal | None,
    company_id: str,
    *,
    log_size: int,
    include_deprecated: bool = False,
    now: dt.datetime | None = None,
) -> DisclosureReport:
    """The report on ``company_id`` as ``viewer`` (None: anonymous) may read it, listing
    only what the log held below ``log_size`` (the size of the checkpoint it cites)."""
    if viewer is not None:
        viewer.require_scope(READ_SCOPE)
    company = get_organisation(session, company_id)
    full = sees_in_full(viewer, company.id)
    statement = (
        sa.select(FootprintRecord)
        .where(
            FootprintRecord.owner_id == company.id,
            FootprintRecord.log_index < log_size,
            _readable(viewer, full),
        )
        .order_by(FootprintRecord.received_at.desc(), FootprintRecord.id.desc())
        .limit(MAX_RECORDS + 1)
    )
    if not include_deprecated:
        statement = statement.where(FootprintRecord.status == RecordStatus.ACTIVE)
    found = list(session.scalars(statement))
    truncated = len(found) > MAX_RECORDS
    found = found[:MAX_RECORDS]
    links = {
        link.record_id: link
        for link in session.scalars(
            sa.select(DerivedRecord)
            .join(FootprintRecord, FootprintRecord.id == DerivedRecord.record_id)
            .where(FootprintRecord.owner_id == company.id)
        )
    }
    records = []
    for record in found:
        footprint = json.loads(record.footprint_json)
        value, unit = labels.value_per_unit(record.footprint_json)
        link = links.get(record.id)
        records.append(
            ReportRecord(
                record=record,
                footprint=footprint,
                value_per_unit=value,
                unit=unit,
                derived=None if link is None else _derived_figures(link, footprint),
            )
        )
    now = now or utcnow()
    certificate_ids = list(
        session.scalars(
            sa.select(Certificate.id)
            .where(Certificate.owner_id == company.id, Certificate.log_index < log_size)
            .order_by(Certificate.id)
        )
    )
    certificates = [labels.registry_entry(session, number, now) for number in certificate_ids]
    return DisclosureReport(
        company=company,
        full=full,
        generated_at=now,
        log_size=log_size,
        records=records,
        truncated=truncated,
        certificates=certificates,
    )
