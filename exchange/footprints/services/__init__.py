"""Footprint records: submission and import, reading and listing, sharing and disclosure."""

from exchange.footprints.models import entry_bytes, signature_of
from exchange.footprints.services.pages import (
    Page,
    encode_cursor,
    list_records,
    matching_records,
)
from exchange.footprints.services.reading import (
    get_record,
    get_record_or_deny,
    key_statuses_at_receipt,
    visible_to,
)
from exchange.footprints.services.sharing import (
    grant_record,
    own_record,
    set_disclosure,
    share,
    shares_of,
    terms_of_record,
    unshare,
)
from exchange.footprints.services.submission import (
    NewRecord,
    Outcome,
    RecordsAccepted,
    RecordsLogged,
    import_unsigned,
    store_recognised,
    submit,
)
from exchange.footprints.services.withheld import (
    is_withheld,
    served_footprints,
    served_to,
    withheld_forms,
)

__all__ = [
    "NewRecord",
    "Outcome",
    "Page",
    "RecordsAccepted",
    "RecordsLogged",
    "encode_cursor",
    "entry_bytes",
    "get_record",
    "get_record_or_deny",
    "grant_record",
    "import_unsigned",
    "is_withheld",
    "key_statuses_at_receipt",
    "list_records",
    "matching_records",
    "own_record",
    "served_footprints",
    "served_to",
    "set_disclosure",
    "share",
    "shares_of",
    "signature_of",
    "store_recognised",
    "submit",
    "terms_of_record",
    "unshare",
    "visible_to",
    "withheld_forms",
]
