"""Wire formats of data flows: one flow as the owner sees it, the regulator's summary."""

from __future__ import annotations

import datetime as dt
from typing import Any

from exchange.db import iso_or_none
from exchange.errors import BadRequest
from exchange.flows.models import DataFlow, FlowKind
from exchange.flows.services import Summary


def flow_json(flow: DataFlow) -> dict[str, Any]:
    return {
        "id": flow.id,
        "kind": flow.kind.value,
        "recordId": flow.record_id,
        "recipient": flow.recipient_id,
        "partner": flow.partner_id,
        "country": flow.country,
        "grant": {
            "kind": flow.grant.value,
            "shareId": flow.share_id,
            "agreementId": flow.agreement_id,
        },
        "reference": flow.reference,
        "occurredAt": flow.occurred_at.isoformat(),
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "period": summary.period,
        "from": iso_or_none(summary.since),
        "to": iso_or_none(summary.until),
        "byPair": summary.by_pair,
        "byCountry": summary.by_country,
    }


def parse_time(name: str, text: str | None) -> dt.datetime | None:
    """An ISO 8601 time with a zone (``Z`` too), as UTC; None when absent."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            f"{name} is an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z",
            details=[{"field": name, "message": "a time with a zone"}],
        )
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        raise BadRequest(
            f"{name} is out of range: years 1 to 9999 in UTC",
            details=[{"field": name, "message": "out of range"}],
        ) from exc


def parse_kinds(values: list[str]) -> frozenset[FlowKind]:
    kinds: set[FlowKind] = set()
    for value in values:
        for part in value.split(","):
            try:
                kinds.add(FlowKind(part.strip()))
            except ValueError as exc:
                allowed = ", ".join(kind.value for kind in FlowKind)
                raise BadRequest(
                    f"kind is one of {allowed}", details=[{"field": "kind", "message": allowed}]
                ) from exc
    return frozenset(kinds)
