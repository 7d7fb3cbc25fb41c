"""The regulator's mutual-recognition pages and the public agreements in force."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient

from exchange.client.keys import LocalKey
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.mutual_recognition.builders import SCOPE
from tests.mutual_recognition.test_programmes import GUANGDONG_USCC
from tests.portal.helpers import add_user, post, sign_in, text

AGREEMENT_FORM = {
    "title": "Hainan-Laos mutual recognition",
    "scope": f"{SCOPE}\n",
    "acceptedStandards": "ISO14067, GHGP-Product",
    "acceptedGwpSets": ["AR5", "AR6"],
    "minPrimaryDataShare": "10",
    "maxDqr": "3.5",
    "maxReferenceAgeDays": "3650",
    "requiredVerification": "limited",
    "validFrom": "2025-01-01",
    "validUntil": "2030-01-01",
    "reviewDate": "2027-06-30",
    "partnerLanguage": "lo",
    "textZh": "双方认可对方的产品碳足迹。",
    "textEn": "Each party recognises the other's product carbon footprints.",
    "partnerText": "ທັງສອງຝ່າຍຮັບຮູ້.",
}


def partner_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Lao Carbon Footprint Programme",
        "country": "LA",
        "operator": "Ministry of Natural Resources and Environment",
        "contact": "pcf@example.la",
        "pactBaseUrl": "https://pcf.partner.example",
        "recognisedDisclosure": "public",
        "jwks": json.dumps({"keys": [LocalKey.generate().public_jwk()]}),
    }
    form.update(changes)
    return form


def regulator_client(app: Flask, client: FlaskClient) -> Member:
    regulator = add_member(app, Role.REGULATOR)
    sign_in(client, add_user(app, regulator, "analyst@deeh.example"))
    return regulator


def register_partner(client: FlaskClient) -> str:
    response = post(client, "/portal/regulator/partners", partner_form())
    assert response.status_code == 303, text(response)[:1500]
    partners = client.get("/api/v1/partners").get_json()["data"]
    assert [partner["name"] for partner in partners] == ["Lao Carbon Footprint Programme"]
    return str(partners[0]["id"])


def draft_agreement(client: FlaskClient, partner_id: str) -> int:
    response = post(
        client, "/portal/regulator/agreements", {**AGREEMENT_FORM, "partnerId": partner_id}
    )
    assert response.status_code == 303, text(response)[:1500]
    found = re.findall(r'data-agreement="(\d+)"', text(client.get("/portal/regulator/agreements")))
    assert len(found) == 1
    return int(found[0])


def test_regulator_registers_a_partner_pinning_its_keys(app: Flask, client: FlaskClient) -> None:
    regulator_client(app, client)
    assert "Lao" not in text(client.get("/portal/regulator/partners"))
    register_partner(client)
    page = text(client.get("/portal/regulator/partners"))
    assert "Lao Carbon Footprint Programme" in page and "https://pcf.partner.example" in page
    # A JWK Set that is not JSON registers nothing; a domestic programme is a partner too.
    bad = post(client, "/portal/regulator/partners", partner_form(jwks="{not json", name="X"))
    assert bad.status_code == 400 and "not JSON" in text(bad)
    assert len(client.get("/api/v1/partners").get_json()["data"]) == 1
    domestic = post(
        client,
        "/portal/regulator/partners",
        partner_form(
            country="CN",
            pactBaseUrl="https://other.example",
            name="Guangdong",
            uscc=GUANGDONG_USCC,
        ),
    )
    assert domestic.status_code == 303, text(domestic)[:1500]
    assert len(client.get("/api/v1/partners").get_json()["data"]) == 2


def test_regulator_revokes_a_pinned_anchor_in_the_portal(app: Flask, client: FlaskClient) -> None:
    regulator_client(app, client)
    partner_id = register_partner(client)
    [anchor] = client.get(f"/api/v1/partners/{partner_id}").get_json()["trustAnchors"]
    assert anchor["revokedAt"] is None
    page = text(client.get("/portal/regulator/partners"))
    action = f"/portal/regulator/partners/{partner_id}/keys/{anchor['kid']}/revoke"
    assert f'action="{action}"' in page
    # No reason: refused, nothing changes.
    refused = post(client, action, {"reason": " "})
    assert refused.status_code == 400
    assert (
        client.get(f"/api/v1/partners/{partner_id}").get_json()["trustAnchors"][0]["revokedAt"]
        is None
    )
    revoked = post(client, action, {"reason": "the partner reported a leak"})
    assert revoked.status_code == 303, text(revoked)[:1500]
    partner = client.get(f"/api/v1/partners/{partner_id}").get_json()
    assert partner["trustAnchors"][0]["revokedAt"] is not None
    assert "revoked" in partner["history"][-1]["reason"]
    assert f'action="{action}"' not in text(client.get("/portal/regulator/partners"))


def test_regulator_drafts_grants_and_suspends_an_agreement(app: Flask, client: FlaskClient) -> None:
    regulator_client(app, client)
    partner_id = register_partner(client)
    agreement_id = draft_agreement(client, partner_id)
    terms = client.get(
        f"/api/v1/agreements/{agreement_id}", headers=add_member(app, Role.REGULATOR).headers
    ).get_json()
    assert terms["status"] == "draft"
    assert terms["scope"] == [SCOPE]
    assert terms["acceptedStandards"] == ["ISO14067", "GHGP-Product"]
    assert terms["acceptedGwpSets"] == ["AR5", "AR6"]
    assert terms["requiredVerification"] == "limited"
    assert terms["maxReferenceAgeDays"] == 3650
    assert terms["validUntil"].startswith("2030-01-01")
    assert terms["texts"]["partner"] == {"language": "lo", "text": "ທັງສອງຝ່າຍຮັບຮູ້."}
    # Not yet in force: the public page does not list a draft.
    assert "Hainan-Laos" not in text(client.get("/portal/agreements"))

    path = f"/portal/regulator/agreements/{agreement_id}/status"
    granted = post(client, path, {"status": "granted", "reason": "signed 2026-11-20"})
    assert granted.status_code == 303
    page = text(client.get("/portal/regulator/agreements"))
    assert f'id="agreement-status-{agreement_id}">granted<' in page
    assert "signed 2026-11-20" in page
    assert "Hainan-Laos" in text(client.get("/portal/agreements"))

    # A move the status flow forbids (granted → draft), or no reason, changes nothing.
    assert post(client, path, {"status": "draft", "reason": "undo"}).status_code == 409
    assert post(client, path, {"status": "suspended", "reason": ""}).status_code == 400
    assert post(client, path, {"status": "paused", "reason": "x"}).status_code == 400
    page = text(client.get("/portal/regulator/agreements"))
    assert f'id="agreement-status-{agreement_id}">granted<' in page

    suspended = post(client, path, {"status": "suspended", "reason": "audit pending"})
    assert suspended.status_code == 303
    page = text(client.get("/portal/regulator/agreements"))
    assert "audit pending" in page and "signed 2026-11-20" in page
    assert "Hainan-Laos" not in text(client.get("/portal/agreements"))


def test_a_bad_agreement_form_drafts_nothing(app: Flask, client: FlaskClient) -> None:
    regulator_client(app, client)
    partner_id = register_partner(client)
    bad = post(
        client,
        "/portal/regulator/agreements",
        {**AGREEMENT_FORM, "partnerId": partner_id, "validUntil": "2024-01-01", "scope": "tea"},
    )
    assert bad.status_code == 400
    page = text(bad)
    assert "validUntil" in page and "scope" in page
    assert 'data-agreement="' not in text(client.get("/portal/regulator/agreements"))


def test_recognitions_page_lists_decisions(app: Flask, client: FlaskClient) -> None:
    regulator_client(app, client)
    page = client.get("/portal/regulator/recognitions")
    assert page.status_code == 200 and "No recognition decisions yet." in text(page)


def test_the_agreement_pages_are_the_regulators_alone(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    sign_in(client, add_user(app, supplier, "coop@example.cn"))
    for path in (
        "/portal/regulator/partners",
        "/portal/regulator/agreements",
        "/portal/regulator/recognitions",
    ):
        assert client.get(path).status_code == 403, path
    refused = post(client, "/portal/regulator/partners", partner_form())
    assert refused.status_code == 403
    assert client.get("/api/v1/partners").get_json()["data"] == []
    # Everyone may read the agreements in force, signed in or not.
    assert client.get("/portal/agreements").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get("/portal/agreements").status_code == 200
    assert anonymous.get("/portal/regulator/agreements").status_code == 303


def test_the_public_page_speaks_chinese(app: Flask, client: FlaskClient) -> None:
    client.set_cookie("portal_lang", "zh")
    page = text(client.get("/portal/agreements"))
    assert "生效中的互认协议" in page and "目前没有生效中的协议。" in page
