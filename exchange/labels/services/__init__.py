"""Accreditation, certificates, the registry, grading, labels, verification and the trust list.

Every function takes the caller's session and leaves committing to it; what is logged goes
into the transparency log in the same transaction as the row that holds it. One module per
part; this package re-exports them all, so callers write ``services.certify``.
"""

from __future__ import annotations

from exchange.labels.services.accreditation import (
    accreditation_history,
    accreditation_status,
    accredited_bodies,
    set_accreditation,
)
from exchange.labels.services.certificates import (
    CERTIFICATE_ACTIONS,
    RegistryEntry,
    add_years,
    certificate_history,
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
    CERTIFICATE_YEARS,
    CLOCK_SKEW,
    ISSUE_WINDOW,
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
    scheme_parameters,
    schemes,
)
from exchange.labels.services.issuing import (
    IssuedLabel,
    LabelCheck,
    LabelStatus,
    check_label,
    differing_claims,
    get_label,
    issue_label,
    label_claims_of,
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
    "CERTIFICATE_ACTIONS",
    "CERTIFICATE_YEARS",
    "CLOCK_SKEW",
    "ISSUE_WINDOW",
    "PER_UNIT_QUANTUM",
    "SCOPE",
    "IssuedLabel",
    "LabelCheck",
    "LabelStatus",
    "RegistryEntry",
    "accreditation_history",
    "accreditation_status",
    "accredited_bodies",
    "add_years",
    "certificate_history",
    "certify",
    "change_certificate",
    "check_label",
    "current_grade",
    "current_scheme",
    "differing_claims",
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
    "label_status",
    "population_values",
    "publish_scheme",
    "registry",
    "registry_entry",
    "regrade",
    "revoke_issuer_key",
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
