"""Each role's pages through the Flask test client: the task done, and the result seen."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.db import transaction, utcnow
from exchange.footprints.models import FootprintRecord
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY, GTIN
from tests.portal.helpers import add_user, post, sign_in, text

FORM = {
    "productName": "Wenchang coconut water",
    "productId": f"urn:gtin:{GTIN}",
    "classification": CATEGORY,
    "declaredUnit": "kilogram",
    "declaredAmount": "2",
    "pcfExcludingBiogenicUptake": "1.10",
    "pcfIncludingBiogenicUptake": "0.84",
    "fossilGhgEmissions": "1.1",
    "biogenicCO2Uptake": "-0.26",
    "referenceYear": "2025",
    "geography": "CN-HI",
}


def draft_id_of(response: Any) -> str:
    assert response.status_code == 303, re.sub(r"(?s).*<main[^>]*>", "", text(response))[:1500]
    found = re.search(r"/portal/drafts/([0-9a-f-]{36})$", response.headers["Location"])
    assert found is not None, response.headers["Location"]
    return found.group(1)


def sign_draft(client: FlaskClient, member: Member, draft_id: str) -> Any:
    """Sign the bytes the portal shows (as the browser does) and submit the signature."""
    message = client.get(f"/portal/drafts/{draft_id}/message").get_data()
    value = signing.sign_bytes(message=message, private_key=member.key.private_key)
    return post(
        client, f"/portal/drafts/{draft_id}/sign", {"kid": member.key.kid, "signature": value}
    )


def upload(client: FlaskClient, member: Member, **changes: str) -> str:
    """Upload by form and sign; the new record's id."""
    draft = draft_id_of(post(client, "/portal/upload", {**FORM, **changes}))
    signed = sign_draft(client, member, draft)
    assert signed.status_code == 303, text(signed)[:800]
    found = re.search(r"/portal/records/([0-9a-f-]{36})$", signed.headers["Location"])
    assert found is not None
    return found.group(1)


def test_supplier_uploads_signs_shares_and_publishes(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    customer = add_member(app, Role.CHAIN_OWNER)
    sign_in(client, add_user(app, supplier, "coop@example.cn"))
    draft = draft_id_of(post(client, "/portal/upload", FORM))
    page = text(client.get(f"/portal/drafts/{draft}"))
    assert "footprint-exchange:footprint:v1\n{" in page.replace("&#34;", '"')
    message = client.get(f"/portal/drafts/{draft}/message").get_data()
    payload = client.get(f"/portal/drafts/{draft}/payload.json").get_json()
    # The bytes shown are exactly the context line and the RFC 8785 form of the document.
    assert message == signing.signed_message(context=signing.FOOTPRINT_CONTEXT, payload=payload)
    assert payload["pcf"]["pcfIncludingBiogenicUptake"] == "0.84"
    assert set(supplier.company_ids) <= set(payload["companyIds"])

    # A wrong signature is refused and stores nothing.
    bad = post(
        client,
        f"/portal/drafts/{draft}/sign",
        {"kid": supplier.key.kid, "signature": signing.b64url_encode(b"\0" * 64)},
    )
    assert bad.status_code == 400 and "SignatureInvalid" in text(bad)
    assert client.get("/api/v1/footprints", headers=supplier.headers).get_json()["data"] == []

    signed = sign_draft(client, supplier, draft)
    assert signed.status_code == 303
    record_id = payload["id"]
    assert signed.headers["Location"].endswith(f"/portal/records/{record_id}")
    detail = text(client.get(f"/portal/records/{record_id}"))
    assert "Wenchang coconut water" in detail and "0.84 kg CO₂e / 2 kilogram" in detail
    stored = client.get(f"/api/v1/footprints/{record_id}", headers=supplier.headers).get_json()
    assert stored["signature"]["kid"] == supplier.key.kid

    assert (
        client.get(f"/api/v1/footprints/{record_id}", headers=customer.headers).status_code == 404
    )
    shared = post(
        client, f"/portal/records/{record_id}/share", {"organisation": customer.organisation_id}
    )
    assert shared.status_code == 303
    assert (
        client.get(f"/api/v1/footprints/{record_id}", headers=customer.headers).status_code == 200
    )

    post(client, f"/portal/records/{record_id}/disclosure", {"disclosure": "public"})
    assert client.get(f"/api/v1/footprints/{record_id}").status_code == 200
    listed = text(client.get("/portal/records"))
    assert record_id in listed


def test_pasting_the_clis_signed_file(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    sign_in(client, add_user(app, supplier, "cli@example.cn"))
    footprint = supplier.footprint()
    draft = draft_id_of(post(client, "/portal/upload", {"json": json.dumps(footprint)}))
    document = client.get(f"/portal/drafts/{draft}/payload.json").get_json()
    envelope = supplier.key.sign_footprint(document)  # what `exchange sign` writes
    response = post(client, f"/portal/drafts/{draft}/sign", {"pasted": json.dumps(envelope)})
    assert response.status_code == 303, text(response)[:500]
    assert response.headers["Location"].endswith(footprint["id"])


def test_an_invalid_form_says_which_fields(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    sign_in(client, add_user(app, supplier, "form@example.cn"))
    response = post(
        client, "/portal/upload", {**FORM, "productId": "06901234", "declaredAmount": "x"}
    )
    assert response.status_code == 400
    page = text(response)
    assert "productId" in page and "declaredAmount" in page


def test_one_company_never_sees_anothers_private_records(app: Flask, client: FlaskClient) -> None:
    owner = add_member(app, Role.SUPPLIER)
    other = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER)
    regulator = add_member(app, Role.REGULATOR)
    pushed = client.post(
        "/api/v1/footprints",
        json=owner.envelope(productNameCompany="Secret"),
        headers=owner.headers,
    )
    record_id = pushed.get_json()["id"]
    add_user(app, other, "rival@example.cn")
    add_user(app, regulator, "officer@example.cn")

    sign_in(client, "rival@example.cn")
    assert client.get(f"/portal/records/{record_id}").status_code == 404
    for view in ("mine", "visible"):
        assert record_id not in text(client.get(f"/portal/records?view={view}"))
    # Nor can it act on the record or a draft of the owner's.
    refused = post(
        client, f"/portal/records/{record_id}/share", {"organisation": other.organisation_id}
    )
    assert refused.status_code == 404

    # The regulator sees only what is disclosed to it.
    post(client, "/portal/logout")
    sign_in(client, "officer@example.cn")
    assert client.get(f"/portal/records/{record_id}").status_code == 404


def test_drafts_belong_to_their_organisation(app: Flask, client: FlaskClient) -> None:
    owner = add_member(app, Role.SUPPLIER)
    other = add_member(app, Role.SUPPLIER)
    sign_in(client, add_user(app, owner, "draft-owner@example.cn"))
    draft = draft_id_of(post(client, "/portal/upload", FORM))
    post(client, "/portal/logout")
    sign_in(client, add_user(app, other, "draft-other@example.cn"))
    assert client.get(f"/portal/drafts/{draft}").status_code == 404
    assert client.get(f"/portal/drafts/{draft}/message").status_code == 404


def test_supplier_answers_a_request(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    brand = add_member(app, Role.CHAIN_OWNER)
    footprint = supplier.footprint(productIds=["urn:gtin:06901234500042"])
    client.post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    asked = client.post(
        "/api/v1/requests",
        json={
            "supplierId": supplier.organisation_id,
            "criteria": {"productId": ["urn:gtin:06901234500042"]},
        },
        headers=brand.headers,
    )
    assert asked.status_code in (200, 201), asked.get_json()
    request_id = asked.get_json()["id"]
    sign_in(client, add_user(app, supplier, "answer@example.cn"))
    page = text(client.get("/portal/requests"))
    assert request_id in page
    answered = post(client, f"/portal/requests/{request_id}/fulfil", {"record": footprint["id"]})
    assert answered.status_code == 303, text(answered)[:500]
    assert (
        client.get(f"/api/v1/footprints/{footprint['id']}", headers=brand.headers).status_code
        == 200
    )


def test_chain_owner_models_computes_and_requests(app: Flask, client: FlaskClient) -> None:
    brand = add_member(app, Role.CHAIN_OWNER)
    supplier = add_member(app, Role.SUPPLIER)
    regulator = add_member(app, Role.REGULATOR)
    client.post(
        "/api/v1/factors/import",
        data=_factor_csv(),
        content_type="text/csv",
        headers=regulator.headers,
    )
    sign_in(client, add_user(app, brand, "brand@example.cn"))
    created = post(
        client,
        "/portal/products",
        {
            "code": "CW-330",
            "name": "Coconut water 330 ml",
            "declaredUnit": "kg",
            "declaredAmount": "1",
        },
    )
    assert created.status_code == 303, text(created)[:500]
    product_path = created.headers["Location"]
    bom = post(
        client,
        f"{product_path}/bom",
        {
            "category": ["component", "electricity", "component"],
            "label": ["Bottle", "Filling line", ""],
            "quantity": ["0.05", "0.2", ""],
            "unit": ["kg", "kWh", ""],
            "supplierId": [supplier.organisation_id, "", ""],
            "supplierProduct": ["urn:gtin:06901234500011", "", ""],
            "factorCode": ["PORTAL-PET", "PORTAL-GRID", ""],
        },
    )
    assert bom.status_code == 303, text(bom)[:800]
    computed = post(client, f"{product_path}/compute")
    assert computed.status_code == 303, text(computed)[:800]
    page = text(client.get(product_path))
    assert 'id="total"' in page
    assert page.count("<svg") == 3  # by tier, by component, the supply chain
    assert "Missing supplier data" in page or "缺少的供应商数据" in page
    sent = post(client, f"{product_path}/request-missing")
    assert sent.status_code == 303
    incoming = client.get("/api/v1/requests?direction=incoming", headers=supplier.headers)
    assert len(incoming.get_json()["data"]) == 1


def _factor_csv() -> str:
    header = "code,name,value,unit,region,year,gwpSet,scope,source,licence,category,kind"
    return (
        "\n".join(
            [
                header,
                "PORTAL-PET,PET bottle,2.5,kg,CN,2023,AR6,life-cycle,test,CC-BY-4.0,"
                "packaging,product",
                "PORTAL-GRID,Hainan grid,0.3648,kWh,CN-HI,2023,AR6,combustion,test,CC-BY-4.0,"
                "electricity,activity",
            ]
        )
        + "\n"
    )


def _certification(app: Flask, client: FlaskClient) -> tuple[Member, Member, Member, str]:
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY)
    supplier = add_member(app, Role.SUPPLIER)
    footprint = supplier.footprint(id=str(uuid.uuid4()), productIds=[f"urn:gtin:{GTIN}"])
    footprint["productClassifications"] = [CATEGORY]
    footprint.pop("precedingPfIds", None)
    client.post(
        "/api/v1/footprints", json=supplier.key.sign_footprint(footprint), headers=supplier.headers
    )
    client.post(
        "/api/v1/shares",
        json={"organisationId": body.organisation_id, "recordId": footprint["id"]},
        headers=supplier.headers,
    )
    add_user(app, regulator, "reg@example.cn")
    add_user(app, body, "body@example.cn")
    return regulator, body, supplier, footprint["id"]


def test_regulator_and_body_certify_grade_and_label(app: Flask, client: FlaskClient) -> None:
    _regulator, body, _supplier, record_id = _certification(app, client)
    sign_in(client, "reg@example.cn")
    accredited = post(
        client,
        f"/portal/regulator/accreditation/{body.organisation_id}",
        {"status": "granted", "reason": "audit 2026-11"},
    )
    assert accredited.status_code == 303, text(accredited)[:500]
    scheme = post(
        client,
        "/portal/regulator/grading",
        {"category": CATEGORY, "method": "benchmark-ratio", "unit": "kilogram", "benchmark": "10"}
        | {"cutPoints": "0.6, 0.8, 1.2, 2.0"},
    )
    assert scheme.status_code == 303, text(scheme)[:500]
    assert "benchmark-ratio" in text(client.get("/portal/regulator/grading"))
    post(client, "/portal/logout")

    sign_in(client, "body@example.cn")
    page = text(client.get("/portal/certification"))
    assert record_id in page
    draft = draft_id_of(
        post(
            client,
            "/portal/certification/draft",
            {"record": record_id, "gtin": GTIN, "category": CATEGORY},
        )
    )
    message = client.get(f"/portal/drafts/{draft}/message").get_data()
    assert message.startswith(b"footprint-exchange:certificate:v1\n")
    signed = sign_draft(client, body, draft)
    assert signed.status_code == 303, text(signed)[:800]
    certificate_path = signed.headers["Location"]
    number = int(certificate_path.rsplit("/", 1)[1])
    labelled = post(client, f"/portal/certificates/{number}/labels", {"lot": "LOT1"})
    assert labelled.status_code == 303, text(labelled)[:800]
    page = text(client.get(certificate_path))
    label_id = int(re.search(r'data-label="(\d+)"', page).group(1))  # type: ignore[union-attr]
    sheet = client.get(f"/portal/labels/{label_id}.pdf")
    assert sheet.status_code == 200 and sheet.data.startswith(b"%PDF")

    suspended = post(client, f"/portal/certificates/{number}/suspend", {"reason": "re-audit"})
    assert suspended.status_code == 303
    assert 'id="certificate-status">suspended' in text(
        client.get(certificate_path)
    ) or "已暂停" in text(client.get(certificate_path))
    # A certificate action without a reason is refused.
    assert (
        post(client, f"/portal/certificates/{number}/reinstate", {"reason": " "}).status_code == 400
    )

    # Public: the registry lists it, and the label verifies when pasted.
    post(client, "/portal/logout")
    registry = text(client.get("/portal/registry"))
    assert f"/portal/registry/{number}" in registry
    label = client.get(f"/api/v1/labels/{label_id}").get_json()
    verdict = post(client, "/portal/verify", {"text": label["url"]})
    assert verdict.status_code == 200
    assert 'data-verdict="invalid"' in text(verdict)  # suspended
    assert 'data-code="certificate-suspended"' in text(verdict)
    landing = re.search(r'id="landing" href="([^"]+)"|href="([^"]+)" id="landing"', text(verdict))
    assert landing is not None
    landing_page = client.get(landing.group(2).replace("&amp;", "&"))
    landing_page.close()  # a file response
    assert landing_page.status_code == 200


def test_regulator_dashboard(app: Flask, client: FlaskClient) -> None:
    regulator = add_member(app, Role.REGULATOR)
    supplier = add_member(app, Role.SUPPLIER)
    for disclosure in ("public", "private"):
        footprint = supplier.footprint()
        footprint["productClassifications"] = [
            f"urn:pact:productclassification:hainan:{disclosure}"
        ]
        footprint["pcf"]["geographyCountrySubdivision"] = "CN-HI"
        client.post(
            "/api/v1/footprints",
            json=supplier.key.sign_footprint(footprint),
            headers=supplier.headers,
        )
        client.put(
            f"/api/v1/footprints/{footprint['id']}/disclosure",
            json={"disclosure": disclosure},
            headers=supplier.headers,
        )
    sign_in(client, add_user(app, regulator, "dash@example.cn"))
    page = text(client.get("/portal/regulator"))
    assert 'id="chart-category"' in page and 'id="chart-region"' in page
    # Categories by name (the programme's "hainan:<slug>" read as words), never the URN.
    assert ">Public<" in page and "urn:pact:productclassification" not in page
    assert ">Private<" not in page  # counts follow the visibility rule
    assert ">Hainan<" in page  # the region CN-HI by name
    assert re.search(r'id="log-size">(\d+)<', page)
    tiles = re.search(r'id="tile-records"><span class="tile-figure">(\d+)<', page)
    assert tiles and tiles.group(1) == "2"  # both records exist, whoever may read them
    assert re.search(r'id="tile-companies"><span class="tile-figure">1<', page)
    # Over time, a record counts in the month its validity begins, not the month the exchange
    # received it: a programme loaded in one day still shows its years.
    with transaction(app.extensions["exchange.sessions"]) as session:
        starts = {
            f"{start:%Y-%m}" for start in session.scalars(sa.select(FootprintRecord.valid_from))
        }
    per_month = re.search(r'<figure id="chart-per-month">(.*?)</figure>', page, re.S)
    assert per_month and starts and f"{utcnow():%Y-%m}" not in starts
    assert all(month in per_month.group(1) for month in starts)
    assert f"{utcnow():%Y-%m}" not in per_month.group(1)


def test_regulator_decides_declarations_and_rule_proposals(app: Flask, client: FlaskClient) -> None:
    from tests.factors.test_views import declaration
    from tests.rules.test_views import proposal

    regulator = add_member(app, Role.REGULATOR)
    supplier = add_member(app, Role.SUPPLIER)
    declared = client.post("/api/v1/factors", json=declaration(), headers=supplier.headers)
    assert declared.status_code == 201, declared.get_json()
    factor = declared.get_json()
    proposed = client.post("/api/v1/rules", json=proposal(), headers=supplier.headers)
    assert proposed.status_code == 201, proposed.get_json()
    code = proposed.get_json()["code"]

    sign_in(client, add_user(app, regulator, "reviewer@example.cn"))
    page = text(client.get("/portal/regulator/factors"))
    assert factor["id"] in page
    # Returning needs a comment: refused, and the declaration stays pending.
    refused = post(
        client, f"/portal/regulator/factors/{factor['id']}/review", {"decision": "return"}
    )
    assert refused.status_code == 400
    approved = post(
        client,
        f"/portal/regulator/factors/{factor['id']}/review",
        {"decision": "approve", "comment": "sources checked"},
    )
    assert approved.status_code == 303
    assert factor["id"] not in text(client.get("/portal/regulator/factors"))
    assert client.get(f"/api/v1/factors/{factor['id']}").get_json()["status"] == "approved"

    assert code in text(client.get("/portal/regulator/rules"))
    moved = post(
        client, f"/portal/regulator/rules/{code}/status", {"status": "assessed", "comment": "ok"}
    )
    assert moved.status_code == 303, text(moved)[:500]
    assert client.get(f"/api/v1/rules/{code}").get_json()["status"] == "assessed"


def test_chain_owner_derives_again_in_the_portal_and_replaces_the_record(
    app: Flask, client: FlaskClient
) -> None:
    brand, regulator = add_member(app, Role.CHAIN_OWNER), add_member(app, Role.REGULATOR)
    client.post(
        "/api/v1/factors/import",
        data=_factor_csv(),
        content_type="text/csv",
        headers=regulator.headers,
    )
    sign_in(client, add_user(app, brand, "brand@example.cn"))
    created = post(
        client,
        "/portal/products",
        {"code": "CW-1", "name": "Coconut water", "declaredUnit": "kg", "declaredAmount": "1"},
    )
    product_path = created.headers["Location"]
    bom = post(
        client,
        f"{product_path}/bom",
        {
            "category": ["packaging"],
            "quantity": ["0.05"],
            "unit": ["kg"],
            "factorCode": ["PORTAL-PET"],
        },
    )
    assert bom.status_code == 303, text(bom)[:800]

    def derive() -> str:
        assert post(client, f"{product_path}/compute").status_code == 303
        signed = sign_draft(client, brand, draft_id_of(post(client, f"{product_path}/derive")))
        assert signed.status_code == 303, text(signed)[:800]
        found = re.search(r"/portal/records/([0-9a-f-]{36})$", signed.headers["Location"])
        assert found is not None
        return found.group(1)

    first = derive()
    page = text(client.get(product_path))
    assert 'id="headline"' in page and 'id="including"' in page
    second = derive()
    old = client.get(f"/api/v1/footprints/{first}", headers=brand.headers).get_json()
    new = client.get(f"/api/v1/footprints/{second}", headers=brand.headers).get_json()
    assert (old["exchange"]["status"], old["exchange"]["deprecatedBy"]) == ("Deprecated", second)
    assert new["footprint"]["precedingPfIds"] == [first]
    # A packaging line: the derived record says packaging is in, 0.05 kg x 2.5.
    assert new["footprint"]["pcf"]["packagingEmissionsIncluded"] is True
    assert new["footprint"]["pcf"]["packagingGhgEmissions"] == "0.125"
