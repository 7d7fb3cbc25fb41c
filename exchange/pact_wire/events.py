"""The CloudEvents 1.0 (structured JSON) events of PACT v3 ``/3/events`` and their data.

An event is validated in two steps, so that each error names its field: the CloudEvents
attributes first, then ``data`` against the model of its ``type``. Unknown attributes and
unknown data members are accepted (CloudEvents extensions; later PACT minor versions).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Final, Literal

from annotated_types import MaxLen, MinLen
from pydantic import BaseModel, ConfigDict

from exchange.errors import ValidationFailed
from exchange.pact_wire.footprint import (
    NonEmptyString,
    PactDateTime,
    PactModel,
    PactUuid,
    Urn,
    parse_product_footprint,
    parse_wire,
)

_PREFIX: Final = "org.wbcsd.pact.ProductFootprint."
REQUEST_CREATED: Final = _PREFIX + "RequestCreatedEvent.3"
REQUEST_FULFILLED: Final = _PREFIX + "RequestFulfilledEvent.3"
REQUEST_REJECTED: Final = _PREFIX + "RequestRejectedEvent.3"
PUBLISHED: Final = _PREFIX + "PublishedEvent.3"
EVENT_INVALID: Final = "not a valid PACT v3 event"
# Footprints (or ids) one event may carry: the bound of a batch submission.
MAX_EVENT_ITEMS: Final = 10_000


class CloudEvent(BaseModel):
    """The CloudEvents attributes PACT requires; ``data`` is checked by type afterwards."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    type: NonEmptyString
    specversion: Literal["1.0"]
    id: NonEmptyString
    source: NonEmptyString
    time: PactDateTime
    data: dict[str, Any]


class RequestCreatedData(PactModel):
    """The criteria of a footprint request: the same filters as ListFootprints."""

    product_id: list[Urn] | None = None
    company_id: list[Urn] | None = None
    geography: list[NonEmptyString] | None = None
    classification: list[Urn] | None = None
    valid_on: PactDateTime | None = None
    valid_after: PactDateTime | None = None
    valid_before: PactDateTime | None = None
    status: Literal["Active", "Deprecated"] | None = None
    comment: str | None = None


class PactError(PactModel):
    code: Literal[
        "BadRequest", "AccessDenied", "TokenExpired", "NotFound", "InternalError", "NotImplemented"
    ]
    message: str


class RequestRejectedData(PactModel):
    request_event_id: NonEmptyString
    error: PactError


class PublishedData(PactModel):
    pf_ids: Annotated[list[PactUuid], MinLen(1), MaxLen(MAX_EVENT_ITEMS)]


class _FulfilledShape(PactModel):
    request_event_id: NonEmptyString
    pfs: Annotated[list[dict[str, Any]], MinLen(1), MaxLen(MAX_EVENT_ITEMS)]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestFulfilledData:
    """``requestEventId`` and the footprints, each validated as a PACT ProductFootprint."""

    request_event_id: str
    pfs: list[dict[str, Any]]


EventData = RequestCreatedData | RequestFulfilledData | RequestRejectedData | PublishedData
_DATA_MODELS: Final[dict[str, type[PactModel]]] = {
    REQUEST_CREATED: RequestCreatedData,
    REQUEST_REJECTED: RequestRejectedData,
    PUBLISHED: PublishedData,
}
EVENT_TYPES: Final = frozenset({REQUEST_CREATED, REQUEST_FULFILLED, REQUEST_REJECTED, PUBLISHED})


def parse_event(value: object) -> tuple[CloudEvent, EventData]:
    """Validate a structured-mode CloudEvent of one of the four PACT v3 event types."""
    event = parse_wire(CloudEvent, value, message=EVENT_INVALID)
    if event.type not in EVENT_TYPES:
        raise ValidationFailed(
            EVENT_INVALID,
            details=[
                {"field": "type", "message": f"unknown event type; one of {sorted(EVENT_TYPES)}"}
            ],
        )
    if event.type == REQUEST_FULFILLED:
        shape = parse_wire(_FulfilledShape, event.data, message=EVENT_INVALID, prefix="data")
        details: list[dict[str, Any]] = []
        for index, footprint in enumerate(shape.pfs):
            try:
                parse_product_footprint(footprint)
            except ValidationFailed as exc:
                details += [
                    {**item, "field": f"data.pfs.{index}.{item['field']}".rstrip(".")}
                    for item in exc.details
                ]
        if details:
            raise ValidationFailed(EVENT_INVALID, details=details)
        return event, RequestFulfilledData(shape.request_event_id, shape.pfs)
    data = parse_wire(_DATA_MODELS[event.type], event.data, message=EVENT_INVALID, prefix="data")
    assert isinstance(data, RequestCreatedData | RequestRejectedData | PublishedData)
    return event, data
