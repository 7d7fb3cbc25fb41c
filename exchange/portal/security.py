"""Sign-in state, CSRF tokens and the security headers of every portal page.

A page's forms carry a per-session random token; every state-changing request to the
portal must send it back (form field ``csrf_token`` or header ``X-CSRF-Token``), compared
in constant time. Pages run no inline script or style, so the policy forbids both.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

from flask import Flask, abort, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.wrappers import Response

from exchange import signing
from exchange.keyring import ExchangeKey
from exchange.organisations.models import Role

CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; media-src 'self' blob: mediastream:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

P = ParamSpec("P")
R = TypeVar("R")


def session_secret(key: signing.KeyPair) -> bytes:
    """The key that signs session cookies, derived from the exchange key in the instance
    folder, so that every worker and machine sharing that key accepts the same sessions."""
    return hashlib.sha256(b"footprint-exchange:portal-session:v1\n" + key.private_key).digest()


class KeyringSessions(SecureCookieSessionInterface):
    """Session cookies signed with the current exchange key's secret, as each request finds
    it: after ``exchange keys rotate`` every worker signs with the new one at once, and
    cookies signed before still open (with the retired keys' secrets) until they expire."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if app.config.get("SECRET_KEY"):  # set by the operator: Flask's own rules
            return super().get_signing_serializer(app)
        key: ExchangeKey = app.extensions["exchange.keyring"].current()
        # itsdangerous signs with the last secret and accepts any of them.
        secrets_newest_last = [session_secret(item) for item in reversed(key.all_keys())]
        return URLSafeTimedSerializer(
            secrets_newest_last,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )


def csrf_token() -> str:
    """This session's token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def check_csrf() -> None:
    """Refuse (403) a state-changing request whose token is missing or wrong."""
    if request.method in _SAFE_METHODS:
        return
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), sent.encode()):
        abort(403, description="csrf")


def add_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if g.get("portal_user") is None:
            abort(401)
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Only people of an organisation holding one of ``roles`` may open the page."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if g.get("portal_user") is None:
                abort(401)
            if not g.portal_principal.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate
