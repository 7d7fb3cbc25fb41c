"""Footprint records: submission and import, reading and listing, sharing and disclosure."""

from exchange.db import LogAppender
from exchange.footprints.services.reading import (
    Page,
    encode_cursor,
    get_record,
    get_record_or_deny,
    key_statuses_at_receipt,
    list_records,
    matching_records,
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
    LOG_KIND,
    NewRecord,
    Outcome,
    RecordsAccepted,
    entry_bytes,
    import_unsigned,
    log_sources,
    signature_of,
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
    "LOG_KIND",
    "LogAppender",
    "NewRecord",
    "Outcome",
    "Page",
    "RecordsAccepted",
    "encode_cursor",
    "entry_bytes",
    "get_record",
    "get_record_or_deny",
    "grant_record",
    "import_unsigned",
    "is_withheld",
    "key_statuses_at_receipt",
    "list_records",
    "log_sources",
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
