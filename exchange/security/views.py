"""The app-wide hooks of abuse resistance: rate limits before a request, security headers
after it, and the client address both the limits and the sign-in lockout count by."""

from __future__ import annotations

import ipaddress
from typing import Final

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from exchange.errors import TooManyRequests
from exchange.security import services
from exchange.security.services import Limiter, Lockout, Rate

# Endpoints that take a secret: guessing client secrets costs a request each. Wrong secrets
# are also counted per client id, by the endpoint itself (token_secret_refused).
TOKEN_ENDPOINTS: Final = frozenset({"organisations.token"})
# Endpoints that verify what the exchange signed: public, and each costs a signature check
# or a proof built from the log.
VERIFY_ENDPOINTS: Final = frozenset(
    {
        "labels.verify",
        "labels.label_status",
        "labels.label_log",
        "labels.landing",
        "labels.landing_lot",
        "portal.verify_submit",
        "mutual_recognition.verification",
        "log.inclusion",
        "log.consistency",
        # each submission costs signature checks, a proof and a cosignature
        "witness.add_checkpoint",
    }
)
# Pages that name no policy of their own get this one: nothing inline, nothing foreign.
DEFAULT_PAGE_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS: Final = "max-age=31536000"


def limiter() -> Limiter:
    found: Limiter = current_app.extensions["exchange.limiter"]
    return found


def lockout() -> Lockout:
    return Lockout(
        per_account=current_app.config["LOGIN_LOCKOUT_ACCOUNT"],
        per_address=current_app.config["LOGIN_LOCKOUT_ADDRESS"],
    )


def client_address() -> str:
    """The client's IP address: the peer's, or, when the peer is a trusted proxy (the
    addresses of EXCHANGE_FORWARDED_ALLOW_IPS), the last address it put in
    X-Forwarded-For. A client cannot choose its address by sending the header itself."""
    peer = request.remote_addr or "unknown"
    trusted: frozenset[str] = current_app.config["TRUSTED_PROXIES"]
    if "*" not in trusted and peer not in trusted:
        return peer
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
    for candidate in reversed(forwarded):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return peer


def token_secret_refused(client_id: str) -> None:
    """The token endpoint calls this after a wrong secret: counted against the client id
    (see services.token_secret_refused for why only wrong ones), a 429 past the limit."""
    if not current_app.config["RATE_LIMITS"]:
        return
    services.token_secret_refused(
        limiter(),
        current_app.config["RATE_LIMIT_TOKEN_CLIENT"],
        client_id=client_id[:200],
        address=client_address(),
    )


def enforce_limits() -> None:
    """Before a request to a limited endpoint: count it, refuse it (429) over the limit."""
    endpoint = request.endpoint
    if not current_app.config["RATE_LIMITS"] or endpoint is None:
        return
    check: tuple[str, Rate] | None = None
    if endpoint in TOKEN_ENDPOINTS:
        check = ("token-address", current_app.config["RATE_LIMIT_TOKEN"])
    elif endpoint in VERIFY_ENDPOINTS:
        check = ("verify-address", current_app.config["RATE_LIMIT_VERIFY"])
    if check is None:
        return
    name, rate = check
    # With Redis unreachable this raises ServiceUnavailable (503): see RedisCounter.
    decision = limiter().hit(name, client_address(), rate)
    if not decision.allowed:
        raise TooManyRequests(
            "too many requests; slow down and retry later", retry_after=decision.retry_after
        )


def _has_credentials() -> bool:
    cookie: str = current_app.config["SESSION_COOKIE_NAME"]
    return request.authorization is not None or cookie in request.cookies


def add_headers(response: Response) -> Response:
    """What every answer carries; an area's own policy (set before this runs) is kept."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", DEFAULT_PAGE_POLICY)
        headers.setdefault("Referrer-Policy", "same-origin")
        policy = headers["Content-Security-Policy"]
        headers.setdefault(
            "X-Frame-Options", "DENY" if "frame-ancestors 'none'" in policy else "SAMEORIGIN"
        )
    elif (
        response.mimetype == "application/json"
        and "Cache-Control" not in headers
        and _has_credentials()
    ):
        # An answer to a caller who proved who it is may hold that caller's private data.
        headers["Cache-Control"] = "no-store"
    return response


def refuse_oversized_streams() -> None:
    """A chunked body (no Content-Length) over MAX_CONTENT_LENGTH is refused (413).

    Werkzeug stops reading such a stream at the limit without a word, so a view would see
    the body cut short (and call it malformed, or worse, take a prefix that parses). Read
    it here up to the limit, kept for the view; anything past the limit is an error.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None or request.content_length is not None:
        return
    if "wsgi.input_terminated" not in request.environ:
        return
    if len(request.get_data(cache=True, parse_form_data=False)) >= limit:
        request.stream.read(1)  # raises RequestEntityTooLarge when more follows


def register(app: Flask) -> None:
    app.before_request(refuse_oversized_streams)
    app.before_request(enforce_limits)
    app.after_request(add_headers)
