"""Partner programmes and agreements over HTTP: who may change them, their status flows,
their log entries, the public page, and the trust list."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.log.models import LogEntry
from exchange.organisations.models import Role
from exchange.organisations.uscc import check_character
from exchange.partners.models import PartnerProgramme
from tests.factories import add_member
from tests.mutual_recognition.builders import agreement_body
from tests.mutual_recognition.conftest import Partnership, register


def _count(app: Flask, model: type) -> int:
    with transaction(app.extensions["exchange.sessions"]) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _log_kinds(app: Flask) -> list[str]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        return list(session.scalars(sa.select(LogEntry.kind).order_by(LogEntry.log_index)))


def test_only_the_regulator_registers_a_partner(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    refused = register(client, supplier, LocalKey.generate())
    assert refused.status_code == 403 and refused.get_json()["code"] == "AccessDenied"
    anonymous = client.post("/api/v1/partners", json={})
    assert anonymous.status_code == 401
    assert _count(app, PartnerProgramme) == 0


def test_bad_partner_input_names_every_field_and_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    regulator = add_member(app, Role.REGULATOR)
    response = client.post(
        "/api/v1/partners",
        json={"name": "", "country": "Thailand", "pactBaseUrl": 7, "syncFilters": {"x": []}},
        headers=regulator.headers,
    )
    assert response.status_code == 400
    fields = {item["field"] for item in response.get_json()["details"]}
    assert {"name", "country", "operator", "pactBaseUrl", "jwks", "syncFilters"} <= fields
    # A plain-HTTP host, a private key and a forged kid are refused (a domestic programme
    # is a partner like any other: see test_a_domestic_programme_is_a_partner).
    anchor = LocalKey.generate()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pactBaseUrl": "http://pcf.partner.example"}, "pactBaseUrl"),
        ({"pactBaseUrl": "https://10.0.0.7"}, "baseUrl"),
        ({"jwks": {"keys": [{**anchor.public_jwk(), "d": "x"}]}}, "jwks.keys.0"),
        ({"jwks": {"keys": [{**anchor.public_jwk(), "kid": "forged"}]}}, "jwks.keys.0.kid"),
        ({"jwks": {"keys": []}}, "jwks"),
    ]
    for changes, field in cases:
        refused = register(client, regulator, anchor, **changes)
        assert refused.status_code == 400, changes
        assert field in {item.get("field") for item in refused.get_json()["details"]}, changes
    assert _count(app, PartnerProgramme) == 0


GUANGDONG_USCC = "91440000000000001" + check_character("91440000000000001")


def test_a_domestic_programme_is_a_partner(app: Flask, client: FlaskClient) -> None:
    """Another province or the national platform runs a programme in CN: it registers."""
    regulator = add_member(app, Role.REGULATOR)
    registered = register(
        client,
        regulator,
        LocalKey.generate(),
        name="Guangdong Product Carbon Footprint Platform",
        country="CN",
        uscc=GUANGDONG_USCC,
    )
    assert registered.status_code == 201, registered.get_json()
    assert registered.get_json()["country"] == "CN"


def test_partner_status_flow_is_logged_and_published(partnership: Partnership) -> None:
    client, regulator = partnership.client, partnership.regulator
    url = f"/api/v1/partners/{partnership.partner_id}/status"
    supplier = add_member(partnership.app, Role.SUPPLIER)
    denied = client.post(url, json={"status": "suspended", "reason": "x"}, headers=supplier.headers)
    assert denied.status_code == 403
    no_reason = client.post(
        url, json={"status": "suspended", "reason": " "}, headers=regulator.headers
    )
    assert no_reason.status_code == 400
    wrong = client.post(url, json={"status": "paused", "reason": "x"}, headers=regulator.headers)
    assert wrong.status_code == 400 and "active" in wrong.get_json()["message"]
    for status in ("suspended", "active", "withdrawn"):
        moved = client.post(
            url, json={"status": status, "reason": f"now {status}"}, headers=regulator.headers
        )
        assert moved.status_code == 200 and moved.get_json()["status"] == status
    final = client.post(url, json={"status": "active", "reason": "back"}, headers=regulator.headers)
    assert final.status_code == 409
    partner = client.get(f"/api/v1/partners/{partnership.partner_id}").get_json()
    assert [e["status"] for e in partner["history"]] == [
        "active",
        "suspended",
        "active",
        "withdrawn",
    ]
    assert partner["history"][0]["reason"] == "onboarded"
    assert partner["trustAnchors"][0]["kid"] == partnership.anchor.kid
    assert _log_kinds(partnership.app).count("partner") == 4

    document = client.get("/.well-known/trust-list.json").get_json()
    [listed] = document["trustList"]["partnerProgrammes"]
    assert listed["status"] == "withdrawn" and len(listed["history"]) == 4
    assert listed["keys"][0]["kid"] == partnership.anchor.kid
    key = partnership.app.extensions["exchange.key"]
    signing.verify(
        context=signing.TRUST_LIST_CONTEXT,
        payload=document["trustList"],
        signature=document["signature"]["value"],
        public_key=key.public_key,
    )


def test_agreement_lifecycle(partnership: Partnership) -> None:
    client, regulator = partnership.client, partnership.regulator
    url = f"/api/v1/agreements/{partnership.agreement_id}"
    agreement = client.get(url).get_json()
    assert agreement["status"] == "granted"
    assert [e["status"] for e in agreement["history"]] == ["draft", "granted"]
    assert agreement["texts"]["partner"]["language"] == "lo"
    assert agreement["minPrimaryDataShare"] == "10"
    # A granted agreement is never rewritten.
    amended = client.put(
        url, json=agreement_body(partnership.partner_id), headers=regulator.headers
    )
    assert amended.status_code == 409
    assert partnership.set_agreement("draft").status_code == 409  # never back to a draft
    assert partnership.set_agreement("suspended", "review").status_code == 200
    assert partnership.set_agreement("granted", "review passed").status_code == 200
    assert partnership.set_agreement("withdrawn", "ended").status_code == 200
    assert partnership.set_agreement("granted", "again").status_code == 409
    kinds = _log_kinds(partnership.app)
    assert kinds.count("agreement") == 5  # drafted, granted, suspended, granted, withdrawn


def test_drafts_are_the_regulators_and_can_be_amended(partnership: Partnership) -> None:
    client, regulator = partnership.client, partnership.regulator
    drafted = client.post(
        "/api/v1/agreements",
        json=agreement_body(partnership.partner_id, title="Draft: rice"),
        headers=regulator.headers,
    )
    draft_id = drafted.get_json()["id"]
    assert client.get(f"/api/v1/agreements/{draft_id}").status_code == 404
    public = client.get("/api/v1/agreements").get_json()["data"]
    assert [item["id"] for item in public] == [partnership.agreement_id]
    mine = client.get("/api/v1/agreements", headers=regulator.headers).get_json()["data"]
    assert {item["id"] for item in mine} == {partnership.agreement_id, draft_id}
    amended = client.put(
        f"/api/v1/agreements/{draft_id}",
        json=agreement_body(partnership.partner_id, title="Draft: rice, amended", maxDqr="2"),
        headers=regulator.headers,
    )
    assert amended.status_code == 200 and amended.get_json()["maxDqr"] == "2"
    assert [e["reason"] for e in amended.get_json()["history"]] == ["drafted", "amended"]


def test_bad_agreements_are_refused_field_by_field(partnership: Partnership) -> None:
    body = agreement_body(
        partnership.partner_id,
        scope=[],
        acceptedGwpSets=["AR7"],
        minPrimaryDataShare=12,
        maxDqr="9",
        maxReferenceAgeDays=-1,
        requiredVerification="total",
        validUntil="2020-01-01T00:00:00Z",
        texts={"zh": "文本", "partner": {"language": "lo"}},
    )
    response = partnership.client.post(
        "/api/v1/agreements", json=body, headers=partnership.regulator.headers
    )
    assert response.status_code == 400
    fields = {item["field"] for item in response.get_json()["details"]}
    assert fields == {
        "scope",
        "acceptedGwpSets",
        "minPrimaryDataShare",
        "maxDqr",
        "maxReferenceAgeDays",
        "requiredVerification",
        "validUntil",
        "texts.en",
        "texts.partner",
    }
    unknown = partnership.client.post(
        "/api/v1/agreements",
        json=agreement_body("no-such-partner"),
        headers=partnership.regulator.headers,
    )
    assert unknown.status_code == 400 and unknown.get_json()["details"][0]["field"] == "partnerId"


def test_the_public_page_lists_agreements_in_force(partnership: Partnership) -> None:
    client = partnership.client
    page = client.get("/mutual-recognition")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "Hainan-Laos mutual recognition" in text
    assert "双方认可" in text and "Each party recognises" in text and 'lang="lo"' in text
    assert "生效中的互认协议" in text and "Mutual recognition agreements in force" in text
    in_force = client.get("/api/v1/agreements?inForce=true").get_json()["data"]
    assert [item["id"] for item in in_force] == [partnership.agreement_id]
    partnership.set_agreement("suspended", "review")
    assert "Hainan-Laos" not in client.get("/mutual-recognition").get_data(as_text=True)
    assert client.get("/api/v1/agreements?inForce=true").get_json()["data"] == []
