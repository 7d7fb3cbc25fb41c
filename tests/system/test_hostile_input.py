"""Input that once reached the database or a parser and failed there (500s found by
schemathesis): each is now a clear 4xx on SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import json

from flask import Flask
from flask.testing import FlaskClient

from exchange.db import ROW_ID_MAX
from exchange.partners.models import Role
from tests.factories import add_member
from tests.portal.helpers import add_user, csrf


def test_a_nul_character_in_the_url_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    for url in (
        "/api/v1/footprints/a%00b",
        "/api/v1/footprints?classification=tea%00",
        "/3/footprints?productId=urn%00",
        "/api/v1/organisations?q=%00",
    ):
        response = client.get(url, headers=member.headers)
        assert response.status_code == 400, url
        assert response.json == {
            "code": "BadRequest",
            "message": "the URL holds a NUL character",
            "details": [],
        }


def test_a_nul_character_in_a_json_string_is_a_bad_request(client: FlaskClient) -> None:
    refused = client.post("/api/v1/labels/verify", json={"text": "HTTPS://X\u0000"})
    assert refused.status_code == 400
    assert "NUL" in refused.json["message"]
    # A backslash followed by "u0000" is ordinary text.
    taken = client.post("/api/v1/labels/verify", json={"text": "HTTPS://X\\u0000"})
    assert taken.status_code == 200, taken.json


def test_a_row_id_beyond_the_databases_integer_names_nothing(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.SUPPLIER)
    for number in (ROW_ID_MAX + 1, 2**63, 10**30):
        for method, url in (
            ("GET", f"/api/v1/certificates/{number}"),
            ("GET", f"/api/v1/labels/{number}/status"),
            ("PUT", f"/api/v1/agreements/{number}"),
            ("DELETE", f"/api/v1/shares/{number}"),
        ):
            response = client.open(url, method=method, json={}, headers=member.headers)
            assert response.status_code == 404, (method, url, response.json)
            assert response.json["code"] == "NotFound"
    labelled = client.post(
        "/api/v1/labels", json={"certificate": ROW_ID_MAX + 1}, headers=member.headers
    )
    assert labelled.status_code == 400, labelled.json


def test_a_bill_of_materials_csv_that_cannot_be_read_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    owner = add_member(app, Role.CHAIN_OWNER)
    product = client.post(
        "/api/v1/products",
        json={"code": "P1", "name": "Drink", "declaredUnit": "liter"},
        headers=owner.headers,
    )
    assert product.status_code == 201, product.json
    url = f"/api/v1/products/{product.json['id']}/bom"
    for body in (
        b'category,label\r\n"a\rb',  # a lone CR inside an unterminated quoted cell
        b"\xf2\xb2\xbf\xa0B\xc2\xba\r\xc2\xa3",
        b"category,quantity,unit\ncomponent,1,kg,surplus\n",  # more cells than columns
    ):
        response = client.put(url, data=body, headers={**owner.headers, "Content-Type": "text/csv"})
        assert response.status_code == 400, (body, response.json)
        assert set(response.json) == {"code", "message", "details"}


def test_a_nul_character_in_a_portal_form_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    add_user(app, member, "clerk@example.com")
    refused = client.post(
        "/portal/login",
        data={"csrf_token": csrf(client), "email": "clerk\x00@example.com", "password": "x"},
    )
    assert refused.status_code == 400
    assert refused.json == {
        "code": "BadRequest",
        "message": "a form field holds a NUL character",
        "details": [],
    }
    # The same form without the NUL is answered as usual (a wrong password: the page again).
    answered = client.post(
        "/portal/login",
        data={"csrf_token": csrf(client), "email": "clerk@example.com", "password": "x"},
    )
    assert answered.status_code == 401


def test_a_time_beyond_the_calendar_in_utc_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    """Year 1 east of Greenwich and year 9999 west of it are valid ISO 8601 times that fall
    outside Python's calendar once converted to UTC (an OverflowError: a 500)."""
    member = add_member(app, Role.REGULATOR)
    for moment in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"):
        for url in (
            f"/api/v1/disclosure/overview?asOf={moment}",
            f"/api/v1/disclosure/overview.html?asOf={moment}",
            f"/api/v1/disclosure/compliance?asOf={moment}",
            f"/api/v1/disclosure/compliance.html?asOf={moment}",
            f"/api/v1/flows/summary?from={moment}",
            f"/api/v1/flows/outbound?to={moment}",
            f"/api/v1/sites/nothing/rollup?from={moment}",
            f"/api/v1/sites/nothing/rollup.html?to={moment}",
            f"/api/v1/scenarios/procurement?category=tea&grade=1&asOf={moment}",
        ):
            response = client.get(url, headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None and "out of range" in json.dumps(response.json), url


def test_a_body_time_beyond_the_calendar_in_utc_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    """The same times in a request body failed where they were stored or compared (found by
    schemathesis as the regulator: a site output whose periodEnd was
    0001-01-01T00:00:00+00:01)."""
    supplier = add_member(app, Role.SUPPLIER)
    regulator = add_member(app, Role.REGULATOR)
    for moment in ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"):
        for member, url, body, field in (
            (
                regulator,
                "/api/v1/sites/nothing/productions",
                {"recordId": "r", "periodStart": moment, "periodEnd": moment, "quantity": "1"},
                "periodStart",
            ),
            (
                regulator,
                "/api/v1/disclosure/requirements",
                {
                    "title": "tea",
                    "basis": "rule 20",
                    "scope": {"category": "urn:pact:productclassification:hainan:tea"},
                    "content": {"level": "total"},
                    "manner": "public",
                    "deadline": {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30},
                    "effectiveFrom": moment,
                },
                "effectiveFrom",
            ),
            (
                supplier,
                "/api/v1/keys",
                {"jwk": supplier.key.public_jwk(), "notBefore": moment},
                "notBefore",
            ),
            (
                supplier,
                f"/api/v1/keys/{supplier.key.kid}/revoke",
                {"reason": "lost", "revokedAt": moment},
                "revokedAt",
            ),
        ):
            response = client.post(url, json=body, headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None
            assert {
                "field": field,
                "message": "Value error, out of range: years 1 to 9999 in UTC",
            } in (response.json["details"]), (url, response.json)


def test_a_forged_page_cursor_beyond_the_calendar_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.CHAIN_OWNER)
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        cursor = base64.urlsafe_b64encode(f"{moment}|x".encode()).decode().rstrip("=")
        for url in ("/api/v1/footprints", "/3/footprints"):
            response = client.get(f"{url}?cursor={cursor}", headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None and "cursor" in response.json["message"]
