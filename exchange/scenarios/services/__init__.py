"""The application scenarios as services: each takes a Session, raises domain errors."""

from exchange.scenarios.services.common import Figure, field_error, leaf_hashes, log_reference
from exchange.scenarios.services.disclosure import (
    DisclosureReport,
    ReportRecord,
    disclosure_report,
    sees_in_full,
)
from exchange.scenarios.services.procurement import (
    ProcurementItem,
    ProcurementList,
    ProcurementQuery,
    procurement_list,
)
from exchange.scenarios.services.reductions import (
    KG_CO2E,
    Reduction,
    ReductionQuery,
    reduction,
)

__all__ = [
    "KG_CO2E",
    "DisclosureReport",
    "Figure",
    "ProcurementItem",
    "ProcurementList",
    "ProcurementQuery",
    "Reduction",
    "ReductionQuery",
    "ReportRecord",
    "disclosure_report",
    "field_error",
    "leaf_hashes",
    "log_reference",
    "procurement_list",
    "reduction",
    "sees_in_full",
]
