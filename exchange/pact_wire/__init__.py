"""The PACT v3 wire model: what travels, with no database and no Flask.

The ``ProductFootprint`` model (:mod:`.footprint`), the CloudEvents of ``/3/events``
(:mod:`.events`), the filter language lists and requests share (:mod:`.filters`) and how
this exchange names itself in PACT documents (:mod:`.host`). It sits below every area that
reads footprints (footprints, rules, factors, labels, ...) and below the PACT host that
serves them (:mod:`exchange.pact`: the ``/3/...`` endpoints, requests and events).
"""

from exchange.pact_wire.events import (
    EVENT_TYPES,
    PUBLISHED,
    REQUEST_CREATED,
    REQUEST_FULFILLED,
    REQUEST_REJECTED,
    CloudEvent,
    PublishedData,
    RequestCreatedData,
    RequestFulfilledData,
    RequestRejectedData,
    parse_event,
)
from exchange.pact_wire.footprint import (
    FOOTPRINT_INVALID,
    CarbonFootprint,
    DataModelExtension,
    DataQualityIndicators,
    EmissionFactorSource,
    ProductFootprint,
    ProductOrSectorSpecificRule,
    Verification,
    parse_date_time,
    parse_product_footprint,
    parse_wire,
)

__all__ = [
    "EVENT_TYPES",
    "FOOTPRINT_INVALID",
    "PUBLISHED",
    "REQUEST_CREATED",
    "REQUEST_FULFILLED",
    "REQUEST_REJECTED",
    "CarbonFootprint",
    "CloudEvent",
    "DataModelExtension",
    "DataQualityIndicators",
    "EmissionFactorSource",
    "ProductFootprint",
    "ProductOrSectorSpecificRule",
    "PublishedData",
    "RequestCreatedData",
    "RequestFulfilledData",
    "RequestRejectedData",
    "Verification",
    "parse_date_time",
    "parse_event",
    "parse_product_footprint",
    "parse_wire",
]
