"""No secret reaches the logs: a realistic flow runs with every logger at DEBUG (SQL
statements and their parameters included), and none of its secrets may appear."""

from __future__ import annotations

import base64
import logging

import pytest
from flask import Flask

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.organisations.models import Role
from tests.factories import add_member
from tests.mutual_recognition.conftest import register
from tests.portal.helpers import PASSWORD, add_user, csrf


def test_a_realistic_flow_logs_no_secret(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    supplier = add_member(app, Role.SUPPLIER, register_key=False)
    regulator = add_member(app, Role.REGULATOR)
    email = add_user(app, supplier, "li@coop.example")
    key = LocalKey.generate()
    partner_secret = "partner-client-secret-QWxhZGRpbjpvcGVu"
    wrong_password = "not-the-password-4711"
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    try:
        # Tokens: HTTP Basic, and the secret in the form (client_secret_post).
        basic = base64.b64encode(f"{supplier.client_id}:{supplier.client_secret}".encode())
        issued = client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic.decode()}"},
        )
        assert issued.status_code == 200
        posted = client.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": supplier.client_id,
                "client_secret": supplier.client_secret,
            },
        )
        assert posted.status_code == 200
        tokens = [issued.json["access_token"], posted.json["access_token"]]  # type: ignore[index]
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        # A key, then a signed footprint, then a bad token.
        assert (
            client.post("/api/v1/keys", json={"jwk": key.public_jwk()}, headers=headers).status_code
            == 201
        )
        pushed = client.post(
            "/api/v1/footprints", json=key.sign_footprint(supplier.footprint()), headers=headers
        )
        assert pushed.status_code == 201, pushed.json
        bad = client.get("/api/v1/footprints", headers={"Authorization": "Bearer forged-token-xyz"})
        assert bad.status_code == 401
        # The portal: a wrong password, then the right one.
        portal = app.test_client()
        form = {"email": email, "csrf_token": csrf(portal)}
        assert (
            portal.post("/portal/login", data={**form, "password": wrong_password}).status_code
            == 401
        )
        signed_in = portal.post("/portal/login", data={**form, "password": PASSWORD})
        assert signed_in.status_code == 303
        cookie = portal.get_cookie("fx_portal")
        assert cookie is not None
        assert portal.get("/portal/records").status_code == 200
        # The regulator registers a partner programme with the client secret it was given.
        registered = register(
            client, regulator, LocalKey.generate(), clientId="ours", clientSecret=partner_secret
        )
        assert registered.status_code == 201, registered.json
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.NOTSET)

    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    # The flow did log (SQL at least), so an empty log does not pass this test.
    assert "INSERT INTO footprint" in logged
    secrets = {
        "client secret": supplier.client_secret,
        "regulator client secret": regulator.client_secret,
        "bearer token": tokens[0],
        "second bearer token": tokens[1],
        "test token": supplier.token,
        "password": PASSWORD,
        "wrong password": wrong_password,
        "session cookie": cookie.value,
        "CSRF token": form["csrf_token"],
        "partner client secret": partner_secret,
        "private key": signing.b64url_encode(key.private_key),
        "exchange private key": signing.b64url_encode(app.extensions["exchange.key"].private_key),
    }
    for name, value in secrets.items():
        assert value not in logged, f"the {name} appears in the logs"
