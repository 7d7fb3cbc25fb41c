"""Wire formats of sites, their output and their roll-ups."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from exchange import quantities
from exchange.db import iso_or_none
from exchange.organisations.schemas import UTCDatetime
from exchange.sites import services
from exchange.sites.models import Site, SiteKind, SiteProduction

DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


class SiteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: SiteKind
    name: str = Field(min_length=1, max_length=300)
    region: str = Field(min_length=2, max_length=16)
    location: str = Field(default="", max_length=300)
    park_id: str | None = Field(default=None, alias="parkId", max_length=36)

    def to_new(self) -> services.NewSite:
        return services.NewSite(
            kind=self.kind,
            name=self.name,
            region=self.region,
            location=self.location,
            park_id=self.park_id,
        )


class ProductionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record_id: str = Field(alias="recordId", min_length=1, max_length=36)
    period_start: UTCDatetime = Field(alias="periodStart")
    period_end: UTCDatetime = Field(alias="periodEnd")
    # A string, like every PACT decimal: a JSON number would pass through a binary float.
    quantity: str = Field(pattern=DECIMAL_PATTERN, max_length=40)

    def to_new(self) -> services.NewProduction:
        return services.NewProduction(
            record_id=self.record_id,
            period_start=self.period_start,
            period_end=self.period_end,
            quantity=Decimal(self.quantity),
        )


def site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "kind": site.kind.value,
        "name": site.name,
        "owner": site.owner_id,
        "parkId": site.park_id,
        "region": site.region,
        "location": site.location,
        "createdAt": site.created_at.isoformat(),
    }


def production_json(production: SiteProduction) -> dict[str, Any]:
    return {
        "id": production.id,
        "siteId": production.site_id,
        "recordId": production.record_id,
        "periodStart": production.period_start.isoformat(),
        "periodEnd": production.period_end.isoformat(),
        "quantity": quantities.rounded_text(production.quantity),
    }


def _group_json(group: services.UnitGroup) -> dict[str, Any]:
    ordered = sorted(group.grades.items(), key=lambda item: (item[0] is None, item[0] or 0))
    return {
        "unit": group.unit,
        "quantity": quantities.rounded_text(group.quantity),
        "emissions": quantities.rounded_text(group.emissions),
        "footprintPerUnit": quantities.rounded_text(group.footprint_per_unit),
        "records": group.records,
        "certifiedQuantity": quantities.rounded_text(group.certified_quantity),
        "certifiedShare": quantities.rounded_text(group.certified_share),
        "grades": [
            {"grade": grade, "quantity": quantities.rounded_text(quantity), "outputs": count}
            for grade, (quantity, count) in ordered
        ],
    }


def rollup_json(rollup: services.Rollup) -> dict[str, Any]:
    return {
        "units": [_group_json(group) for group in rollup.groups],
        "withheld": rollup.withheld,
        "outputs": [
            {
                **production_json(output.production),
                "unit": output.unit,
                "footprintPerUnit": quantities.rounded_text(output.per_unit),
                "emissions": quantities.rounded_text(output.emissions),
                "certificate": output.certificate_id,
                "grade": output.grade,
            }
            for output in rollup.outputs
        ],
    }


def site_rollup_json(
    site: Site,
    whole: services.Rollup,
    factories: list[services.Rollup],
    *,
    now: dt.datetime,
    period_from: dt.datetime | None,
    period_to: dt.datetime | None,
) -> dict[str, Any]:
    document = {
        "site": site_json(site),
        "asOf": now.isoformat(),
        "period": {
            "from": iso_or_none(period_from),
            "to": iso_or_none(period_to),
        },
        **rollup_json(whole),
    }
    if site.kind is SiteKind.PARK:
        document["factories"] = [
            {"site": site_json(part.sites[0]), **rollup_json(part)} for part in factories
        ]
    return document
