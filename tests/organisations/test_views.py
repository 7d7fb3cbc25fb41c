"""Tokens, keys and the organisation directory over HTTP."""

from __future__ import annotations

import base64

from flask import Flask
from flask.testing import FlaskClient

from exchange.client.keys import LocalKey
from exchange.organisations.models import Role
from tests.factories import add_member, json_of


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_client_credentials_give_a_working_token(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    response = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(member.client_id, member.client_secret),
    )
    assert response.status_code == 200
    issued = json_of(response)
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 3600
    keys = client.get(f"/api/v1/organisations/{member.organisation_id}/jwks.json")
    assert [k["kid"] for k in json_of(keys)["keys"]] == [member.key.kid]
    listed = client.get(
        "/api/v1/footprints", headers={"Authorization": f"Bearer {issued['access_token']}"}
    )
    assert listed.status_code == 200


def test_bad_credentials_and_grants_are_refused(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    wrong = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(member.client_id, "wrong"),
    )
    assert (wrong.status_code, json_of(wrong)["error"]) == (401, "invalid_client")
    unknown = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic("fx-nobody", member.client_secret),
    )
    assert (unknown.status_code, json_of(unknown)["error"]) == (401, "invalid_client")
    grant = client.post(
        "/auth/token",
        data={"grant_type": "password"},
        headers=basic(member.client_id, member.client_secret),
    )
    assert (grant.status_code, json_of(grant)["error"]) == (400, "unsupported_grant_type")
    scope = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        headers=basic(member.client_id, member.client_secret),
    )
    assert (scope.status_code, json_of(scope)["error"]) == (400, "invalid_scope")


def test_a_token_only_carries_the_scopes_asked_for(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    token = json_of(
        client.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "scope": "footprints:read"},
            headers=basic(member.client_id, member.client_secret),
        )
    )["access_token"]
    response = client.post(
        "/api/v1/footprints", json=member.envelope(), headers={"Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, json_of(response)["code"]) == (403, "AccessDenied")


def test_keys_register_and_revoke(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    other = add_member(app, Role.SUPPLIER)
    new_key = LocalKey.generate()
    created = client.post(
        "/api/v1/keys", json={"jwk": new_key.public_jwk()}, headers=member.headers
    )
    assert created.status_code == 201 and json_of(created)["kid"] == new_key.kid
    # The same key cannot be claimed by another organisation.
    stolen = client.post("/api/v1/keys", json={"jwk": new_key.public_jwk()}, headers=other.headers)
    assert stolen.status_code == 409
    private = {**new_key.public_jwk(), "d": "c2VjcmV0"}
    assert (
        client.post("/api/v1/keys", json={"jwk": private}, headers=member.headers).status_code
        == 400
    )

    not_mine = client.post(
        f"/api/v1/keys/{new_key.kid}/revoke", json={"reason": "x"}, headers=other.headers
    )
    assert not_mine.status_code == 404
    revoked = client.post(
        f"/api/v1/keys/{new_key.kid}/revoke", json={"reason": "rotated"}, headers=member.headers
    )
    assert revoked.status_code == 200
    assert json_of(revoked)["revoked"]["reason"] == "rotated"
    twice = client.post(
        f"/api/v1/keys/{new_key.kid}/revoke", json={"reason": "again"}, headers=member.headers
    )
    assert twice.status_code == 409
    future = client.post(
        f"/api/v1/keys/{member.key.kid}/revoke",
        json={"reason": "x", "revokedAt": "2999-01-01T00:00:00Z"},
        headers=member.headers,
    )
    assert future.status_code == 400


def test_directory_finds_organisations(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    found = json_of(client.get("/api/v1/organisations?q=test company"))["data"]
    assert member.organisation_id in {item["id"] for item in found}
    one = json_of(client.get(f"/api/v1/organisations/{member.organisation_id}"))
    assert f"urn:uuid:{member.organisation_id}" in one["companyIds"]
    assert any(urn.startswith("urn:pact:company:customcode:cn-uscc:") for urn in one["companyIds"])
    assert client.get("/api/v1/organisations/nope").status_code == 404
