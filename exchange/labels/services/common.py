"""What every part of the labels services shares: scopes, periods and role checks."""

from __future__ import annotations

import datetime as dt
from typing import Final

from exchange.organisations.models import Role
from exchange.organisations.principals import Principal

SCOPE: Final = "labels:write"

CERTIFICATE_YEARS: Final = 2
CLOCK_SKEW: Final = dt.timedelta(minutes=10)
ISSUE_WINDOW: Final = dt.timedelta(days=1)


def require_role(principal: Principal, role: Role, what: str) -> None:
    principal.require_scope(SCOPE)
    principal.require_role(role, f"only a {role.value} may {what}")
