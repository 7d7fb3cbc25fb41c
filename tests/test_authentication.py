"""The one declaration of how each endpoint authenticates its caller."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from exchange import authentication
from exchange.apidoc.spec import documented_rules
from exchange.authentication import Authentication


def test_every_declared_endpoint_is_an_api_route(app: Flask) -> None:
    declared = authentication.REQUIRED | authentication.OPTIONAL
    declared |= authentication.CLIENT_CREDENTIALS
    assert not authentication.REQUIRED & authentication.OPTIONAL
    api = {rule.endpoint for rule in documented_rules(app)}
    assert declared - api == set(), "these names are no API endpoint"


def test_an_endpoint_not_named_is_anonymous() -> None:
    assert authentication.of("portal.home") is Authentication.NONE
    assert authentication.of(None) is Authentication.NONE
    assert authentication.of("footprints.submit") is Authentication.REQUIRED
    assert authentication.of("footprints.get_footprint") is Authentication.OPTIONAL


def test_a_required_caller_is_refused_before_the_view_reads_anything(
    client: FlaskClient,
) -> None:
    # The view would answer 415 for a body that is not JSON; the declaration answers first.
    refused = client.post("/api/v1/footprints", data="x", content_type="text/plain")
    assert refused.status_code == 401
    assert refused.json is not None and "Authorization: Bearer" in refused.json["message"]
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="footprint-exchange"'
    # An optional one takes an anonymous caller, but not a token that names nothing.
    assert client.get("/api/v1/footprints").status_code == 200
    bad = client.get("/api/v1/footprints", headers={"Authorization": "Bearer nothing"})
    assert bad.status_code == 401
