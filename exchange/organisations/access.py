"""The caller of an API request: its bearer token read into a :class:`Principal`, once.

Every endpoint's authentication is declared in :mod:`exchange.authentication`, and this
module enforces it:

- before every view, :func:`authenticate_caller` (installed by ``create_app``) reads the
  endpoint's declaration: a ``REQUIRED`` endpoint without a valid bearer token is answered
  401 before its view runs; an ``OPTIONAL`` one authenticates a token if one was sent (a
  bad one is a 401) and is anonymous otherwise; ``NONE`` reads no token at all;
- a view reads its caller with :func:`require_principal` (which also checks the token's
  scope) or :func:`optional_principal`; each raises a ``RuntimeError`` when the endpoint is
  not declared ``REQUIRED`` or ``OPTIONAL`` respectively, so a view can never read a caller
  the table (and so the OpenAPI document) does not announce.

What the caller's roles allow is asked of the principal itself
(:meth:`~exchange.organisations.principals.Principal.require_role`), by views and services
alike.
"""

from __future__ import annotations

from flask import g, request

from exchange import authentication, web
from exchange.authentication import Authentication
from exchange.errors import Unauthenticated
from exchange.organisations.principals import Principal
from exchange.organisations.services import authenticate


def authenticate_caller() -> None:
    """Before every view: authenticate the caller as the endpoint declares
    (:mod:`exchange.authentication`); a ``REQUIRED`` endpoint without a valid token is a 401
    whatever its view does."""
    declared = authentication.of(request.endpoint)
    if declared in (Authentication.REQUIRED, Authentication.OPTIONAL):
        _caller(declared)


def optional_principal() -> Principal | None:
    """The caller if a bearer token was sent (a bad one is an error), else anonymous.

    Only for an endpoint declared ``OPTIONAL`` in :mod:`exchange.authentication`."""
    return _caller(_declared(Authentication.OPTIONAL, "optional_principal"))


def require_principal(scope: str) -> Principal:
    """The caller, whose token must hold ``scope``.

    Only for an endpoint declared ``REQUIRED`` in :mod:`exchange.authentication`."""
    principal = _caller(_declared(Authentication.REQUIRED, "require_principal"))
    assert principal is not None  # _caller refuses a REQUIRED call without a token
    principal.require_scope(scope)
    return principal


def _declared(wanted: Authentication, reader: str) -> Authentication:
    declared = authentication.of(request.endpoint)
    if declared is not wanted:
        raise RuntimeError(
            f"{request.endpoint} calls {reader} but exchange.authentication declares it "
            f"{declared.value}, not {wanted.value}"
        )
    return declared


def _caller(declared: Authentication) -> Principal | None:
    """The request's caller, authenticated once (kept in ``g.principal``, which the
    request's log lines also read); None for an anonymous call."""
    if "principal" in g:
        return g.principal  # type: ignore[no-any-return]
    token = web.bearer_token()
    if token is None:
        if declared is Authentication.REQUIRED:
            raise Unauthenticated("this endpoint needs Authorization: Bearer <access token>")
        g.principal = None
    else:
        g.principal = authenticate(web.session(), token)
    return g.principal  # type: ignore[no-any-return]
