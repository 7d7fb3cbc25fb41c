"""Wire formats of data flows: one flow as the owner sees it, the regulator's summary."""

from __future__ import annotations

from typing import Any

from exchange.db import iso_or_none
from exchange.errors import BadRequest
from exchange.footprints.flows.models import DataFlow, FlowKind
from exchange.footprints.flows.services import Summary


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
