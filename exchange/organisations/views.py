"""HTTP API of the organisations area: OAuth2 tokens, the organisation directory, signing keys."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from exchange import web
from exchange.errors import AccessDenied, Unauthenticated
from exchange.organisations import access, services
from exchange.organisations.models import Organisation
from exchange.organisations.schemas import KeyRegistration, KeyRevocation, organisation_json, parse
from exchange.security import views as security

bp = Blueprint("organisations", __name__)


def _oauth_error(error: str, description: str, status: int) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="footprint-exchange"'
    return response


@bp.post("/auth/token")
def token() -> Response:
    """OAuth2 client credentials grant (RFC 6749 §4.4) with HTTP Basic client authentication."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "send application/x-www-form-urlencoded", 400)
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials is supported", 400)
    authorization = request.authorization
    if authorization is not None and authorization.type == "basic" and authorization.username:
        client_id, client_secret = authorization.username, authorization.password or ""
    elif request.form.get("client_id") and authorization is None:
        # RFC 6749 §2.3.1 allows the credentials in the body too (client_secret_post).
        client_id = request.form["client_id"]
        client_secret = request.form.get("client_secret", "")
    else:
        return _oauth_error("invalid_client", "authenticate with HTTP Basic", 401)
    scope = request.form.get("scope")
    session = web.session()
    try:
        issued = services.issue_token(
            session,
            client_id=client_id,
            client_secret=client_secret,
            requested_scopes=scope.split() if scope else None,
            lifetime=dt.timedelta(seconds=current_app.config["TOKEN_LIFETIME_SECONDS"]),
        )
    except Unauthenticated:
        # Past the limit of wrong secrets for this client id: TooManyRequests (429).
        security.token_secret_refused(client_id)
        return _oauth_error("invalid_client", "unknown client or wrong secret", 401)
    except AccessDenied as exc:
        return _oauth_error("invalid_scope", exc.message, 400)
    session.commit()
    response = jsonify(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": " ".join(sorted(issued.scopes)),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/v1/organisations")
def list_organisations() -> Response:
    """The public directory, so a supplier can find the customer it shares with."""
    query = sa.select(Organisation).order_by(Organisation.name).limit(web.page_limit())
    if uscc := request.args.get("uscc"):
        query = query.where(Organisation.uscc == uscc.strip().upper())
    if name := request.args.get("q"):
        query = query.where(Organisation.name.icontains(name, autoescape=True))
    organisations = web.session().scalars(query)
    return jsonify({"data": [organisation_json(o) for o in organisations]})


@bp.get("/api/v1/organisations/<id:organisation_id>")
def get_organisation(organisation_id: str) -> Response:
    organisation = services.get_organisation(web.session(), organisation_id)
    return jsonify(organisation_json(organisation))


@bp.get("/api/v1/organisations/<id:organisation_id>/jwks.json")
def organisation_jwks(organisation_id: str) -> Response:
    """Every key the organisation ever registered, with windows and revocations."""
    session = web.session()
    services.get_organisation(session, organisation_id)
    keys = services.keys_of(session, organisation_id)
    return jsonify({"keys": [services.key_as_jwk(key) for key in keys]})


@bp.post("/api/v1/keys")
def register_key() -> Response:
    principal = access.require_principal("keys:write")
    body = parse(KeyRegistration, web.json_body())
    session = web.session()
    key = services.register_key(
        session,
        organisation_id=principal.organisation_id,
        public_jwk=body.jwk,
        not_before=body.not_before,
        not_after=body.not_after,
    )
    session.commit()
    response = jsonify(services.key_as_jwk(key))
    response.status_code = 201
    return response


@bp.post("/api/v1/keys/<kid:kid>/revoke")
def revoke_key(kid: str) -> Response:
    principal = access.require_principal("keys:write")
    body = parse(KeyRevocation, web.json_body())
    session = web.session()
    key = services.revoke_key(
        session,
        organisation_id=principal.organisation_id,
        kid=kid,
        reason=body.reason,
        revoked_at=body.revoked_at,
    )
    session.commit()
    return jsonify(services.key_as_jwk(key))
