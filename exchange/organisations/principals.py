"""Who a call acts for, and what its organisation's roles allow: the one place roles are checked.

A :class:`Principal` is an organisation acting through one client (an API client, a portal
user, an operator's command) with the scopes that client holds. Every area asks it the same
two questions:

- :meth:`Principal.require_scope` / :meth:`Principal.require_role`: may the caller do this?
  Each refuses with ``AccessDenied`` (403) in words the area gives, so that each endpoint
  keeps its own message;
- :meth:`Principal.has_role`: what may the caller see (a regulator sees more)?

The API's request side (reading the bearer token into a principal) is
:mod:`exchange.organisations.access`; the portal's pages gate on the same
:meth:`Principal.has_role` (:func:`exchange.portal.security.roles_required`). Pure: no Flask,
no database session (services take a principal and stay free of both).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from exchange.errors import AccessDenied
from exchange.organisations.models import Organisation, Role


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: an API client of one organisation, with its granted scopes."""

    organisation_id: str
    client_id: str
    scopes: frozenset[str]
    roles: frozenset[Role]

    @classmethod
    def acting_for(
        cls, organisation: Organisation, *, client_id: str, scopes: Iterable[str]
    ) -> Principal:
        """``organisation`` acting through ``client_id``: its roles are the organisation's."""
        return cls(
            organisation_id=organisation.id,
            client_id=client_id,
            scopes=frozenset(scopes),
            roles=frozenset(item.role for item in organisation.roles),
        )

    def has_role(self, *roles: Role) -> bool:
        """Whether the organisation holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise AccessDenied(f"this token lacks the scope {scope!r}")

    def require_role(self, role: Role, refusal: str) -> None:
        """Refuse (``AccessDenied`` saying ``refusal``) unless the organisation holds ``role``."""
        if not self.has_role(role):
            raise AccessDenied(refusal)
