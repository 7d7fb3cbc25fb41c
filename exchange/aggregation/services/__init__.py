"""Products, bills of materials, computation, explanation, staleness and derived footprints.

Reading and writing are shaped for whole graphs: the lines, sources and stored child
results of the products being computed are read with Core selects (no per-row ORM),
the pure :mod:`exchange.aggregation.engine` computes them, and results are written with
executemany statements. A recomputation of stale products touches only those products;
their other children are read as stored.

Derived footprints carry confidential provenance (:mod:`.provenance`): commitments to
their input lines, opened only to those who may see each input, and the exchange's
attestation; records signed before it are handled by :mod:`.cleartext`.

Access: a chain-owner defines and computes only its own products; supplier records are
the ones shared with it (or public); another chain-owner's product is usable when its
owner shared that product (a product share of its URN) and then appears as an opaque
input - figures and quality only, never its lines or its suppliers.
"""

from exchange.aggregation.services.common import (
    PACT_UNITS,
    PROVENANCE_EXTENSION_PATH,
    PROVENANCE_EXTENSION_PREFIX,
    READ_SCOPE,
    WRITE_SCOPE,
    derived_records_of,
    own_product,
    pact_unit,
    product_json,
    visible_record_ids,
)
from exchange.aggregation.services.documents import (
    cleartext_provenance_schema,
    derived_draft,
    digest_of,
    explain,
    export_rows,
    provenance_schema,
    provenance_schema_url,
    request_missing,
    result_document,
)
from exchange.aggregation.services.loading import canonical_unit, factor_source, record_values
from exchange.aggregation.services.products import (
    define_product,
    lines_of,
    list_products,
    replace_bom,
    result_of,
    usable_product,
)
from exchange.aggregation.services.provenance import (
    attest_accepted,
    bundle_part,
)
from exchange.aggregation.services.provenance import view as provenance_view
from exchange.aggregation.services.provenance import view_of_record as derived_provenance
from exchange.aggregation.services.recomputation import (
    Recomputation,
    compute_product,
    recompute,
    recompute_stale,
)
from exchange.aggregation.services.staleness import (
    OTHER_COMPONENT_CHANGED,
    mark_inputs_stale,
    mark_products_stale,
    notices,
    records_accepted,
    stale_products,
)

__all__ = [
    "OTHER_COMPONENT_CHANGED",
    "PACT_UNITS",
    "PROVENANCE_EXTENSION_PATH",
    "PROVENANCE_EXTENSION_PREFIX",
    "READ_SCOPE",
    "WRITE_SCOPE",
    "Recomputation",
    "attest_accepted",
    "bundle_part",
    "canonical_unit",
    "cleartext_provenance_schema",
    "compute_product",
    "define_product",
    "derived_draft",
    "derived_provenance",
    "derived_records_of",
    "digest_of",
    "explain",
    "export_rows",
    "factor_source",
    "lines_of",
    "list_products",
    "mark_inputs_stale",
    "mark_products_stale",
    "notices",
    "own_product",
    "pact_unit",
    "product_json",
    "provenance_schema",
    "provenance_schema_url",
    "provenance_view",
    "recompute",
    "recompute_stale",
    "record_values",
    "records_accepted",
    "replace_bom",
    "request_missing",
    "result_document",
    "result_of",
    "stale_products",
    "usable_product",
    "visible_record_ids",
]
