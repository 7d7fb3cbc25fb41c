"""Accreditation, certificates, the registry, grading, labels, verification and the trust list.

Every function takes the caller's session and leaves committing to it; what is logged goes
into the transparency log in the same transaction as the row that holds it. One module per
part; this package re-exports them all, so callers write ``services.certify``.
"""

from __future__ import annotations

from exchange.db import LogAppender
from exchange.labels.services.accreditation import (
    accreditation_entry,
    accreditation_history,
    accreditation_log_sources,
    accreditation_status,
    accredited_bodies,
    set_accreditation,
)
from exchange.labels.services.certificates import (
    CERTIFICATE_ACTIONS,
    PER_UNIT_QUANTUM,
    RegistryEntry,
    add_years,
    certificate_entry,
    certificate_event_entry,
    certificate_history,
    certificate_log_sources,
    certificate_status_log_sources,
    certify,
    change_certificate,
    effective_status,
    effective_status_at,
    footprint_digest,
    get_certificate,
    registry,
    registry_entry,
    value_per_unit,
)
from exchange.labels.services.common import (
    ACCREDITATION_LOG_KIND,
    CERTIFICATE_LOG_KIND,
    CERTIFICATE_STATUS_LOG_KIND,
    CERTIFICATE_YEARS,
    CLOCK_SKEW,
    ISSUE_WINDOW,
    LABEL_LOG_KIND,
    SCHEME_LOG_KIND,
    SCOPE,
)
from exchange.labels.services.grading import (
    current_grade,
    current_scheme,
    grade_certificate,
    grade_history,
    population_values,
    publish_scheme,
    regrade,
    scheme_entry,
    scheme_log_sources,
    scheme_parameters,
    schemes,
)
from exchange.labels.services.issuing import (
    LabelStatus,
    get_label,
    issue_label,
    label_claims_of,
    label_entry,
    label_log_sources,
    label_status,
    verify_text,
)
from exchange.labels.services.keys import (
    ensure_issuer_key,
    revoke_issuer_key,
    trusted_keys,
)
from exchange.labels.services.trust import (
    sign_trust_list,
    trust_list,
    trust_list_content,
)
from exchange.labels.services.trust import (
    validity_of as trust_list_validity,
)

__all__ = [
    "ACCREDITATION_LOG_KIND",
    "CERTIFICATE_ACTIONS",
    "CERTIFICATE_LOG_KIND",
    "CERTIFICATE_STATUS_LOG_KIND",
    "CERTIFICATE_YEARS",
    "CLOCK_SKEW",
    "ISSUE_WINDOW",
    "LABEL_LOG_KIND",
    "PER_UNIT_QUANTUM",
    "SCHEME_LOG_KIND",
    "SCOPE",
    "LabelStatus",
    "LogAppender",
    "RegistryEntry",
    "accreditation_entry",
    "accreditation_history",
    "accreditation_log_sources",
    "accreditation_status",
    "accredited_bodies",
    "add_years",
    "certificate_entry",
    "certificate_event_entry",
    "certificate_history",
    "certificate_log_sources",
    "certificate_status_log_sources",
    "certify",
    "change_certificate",
    "current_grade",
    "current_scheme",
    "effective_status",
    "effective_status_at",
    "ensure_issuer_key",
    "footprint_digest",
    "get_certificate",
    "get_label",
    "grade_certificate",
    "grade_history",
    "issue_label",
    "label_claims_of",
    "label_entry",
    "label_log_sources",
    "label_status",
    "population_values",
    "publish_scheme",
    "registry",
    "registry_entry",
    "regrade",
    "revoke_issuer_key",
    "scheme_entry",
    "scheme_log_sources",
    "scheme_parameters",
    "schemes",
    "set_accreditation",
    "sign_trust_list",
    "trust_list",
    "trust_list_content",
    "trust_list_validity",
    "trusted_keys",
    "value_per_unit",
    "verify_text",
]
