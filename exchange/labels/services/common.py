"""What every part of the labels services shares: scopes, log kinds, periods and role checks."""

from __future__ import annotations

import datetime as dt
from typing import Final

from exchange.errors import (
    ValidationFailed,
)
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal

SCOPE: Final = "labels:write"
ACCREDITATION_LOG_KIND: Final = "accreditation"
CERTIFICATE_LOG_KIND: Final = "certificate"
CERTIFICATE_STATUS_LOG_KIND: Final = "certificate-status"
SCHEME_LOG_KIND: Final = "grading-scheme"
LABEL_LOG_KIND: Final = "label"

CERTIFICATE_YEARS: Final = 2
CLOCK_SKEW: Final = dt.timedelta(minutes=10)
ISSUE_WINDOW: Final = dt.timedelta(days=1)


def require_role(principal: Principal, role: Role, what: str) -> None:
    principal.require_scope(SCOPE)
    principal.require_role(role, f"only a {role.value} may {what}")


def given_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            "give a reason", details=[{"field": "reason", "message": "required"}]
        )
    return text
