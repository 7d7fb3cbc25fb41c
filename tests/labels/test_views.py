"""Certification, grading and labels over the Flask test client."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.labels import claims
from exchange.organisations.models import Role
from tests.factories import add_member
from tests.labels.builders import CATEGORY, GTIN, Programme, programme


@pytest.fixture
def fx(app: Flask, client: FlaskClient) -> Programme:
    return programme(app, client)


def test_certify_label_verify_the_whole_path(fx: Programme) -> None:
    fx.accredit()
    certificate = fx.certify()
    assert certificate["status"] == "active"
    # PACT v3: -18.44 for 2 kg is -9.22 per kilogram.
    assert Decimal(certificate["value"]) == Decimal("-9.22")
    assert certificate["unit"] == "kilogram"
    assert certificate["product"]["gtin"] == GTIN
    assert [event["status"] for event in certificate["history"]] == ["active"]
    assert certificate["receipt"]["receipt"]["logIndex"] == certificate["logIndex"]
    label = fx.label(certificate["number"], lot="LOT2026A")
    assert label["url"].startswith(
        f"HTTPS://FOOTPRINT-EXCHANGE.HAINAN.EXAMPLE/01/{GTIN}/10/LOT2026A?L="
    )
    assert label["claims"]["value"] == "-9.22"
    assert label["claims"]["grade"] is None
    assert label["qrVersion"] <= 9
    assert label["receipt"]["receipt"]["logIndex"] == label["logIndex"]
    verdict = fx.verify(label["url"])
    assert verdict["verdict"] == "valid", verdict
    assert verdict["claims"]["certificate"] == certificate["number"]
    assert verdict["certificateStatus"] == "active"

    status = fx.client.get(f"/api/v1/labels/{label['id']}/status").get_json()
    assert status["status"] == "valid"
    assert status["company"]["name"] and status["product"]["lot"] == "LOT2026A"


def test_only_the_regulator_accredits_and_sets_schemes(fx: Programme) -> None:
    for member in (fx.body, fx.supplier):
        refused = fx.client.post(
            f"/api/v1/accreditations/{fx.body.organisation_id}",
            json={"status": "granted", "reason": "self-service"},
            headers=member.headers,
        )
        assert refused.status_code == 403
        scheme = fx.client.post(
            "/api/v1/grading-schemes",
            json={
                "category": CATEGORY,
                "method": "fixed-bands",
                "unit": "kilogram",
                "parameters": {"cutPoints": ["1"]},
            },
            headers=member.headers,
        )
        assert scheme.status_code == 403
    # A supplier cannot be accredited at all.
    wrong = fx.client.post(
        f"/api/v1/accreditations/{fx.supplier.organisation_id}",
        json={"status": "granted", "reason": "x"},
        headers=fx.regulator.headers,
    )
    assert wrong.status_code == 400


def test_accreditation_history_and_final_withdrawal(fx: Programme) -> None:
    fx.accredit("granted")
    fx.accredit("suspended")
    fx.accredit("granted")
    body = fx.accredit("withdrawn")
    assert [item["status"] for item in body["history"]] == [
        "granted",
        "suspended",
        "granted",
        "withdrawn",
    ]
    again = fx.client.post(
        f"/api/v1/accreditations/{fx.body.organisation_id}",
        json={"status": "granted", "reason": "x"},
        headers=fx.regulator.headers,
    )
    assert again.status_code == 409
    listed = fx.client.get("/api/v1/accreditations").get_json()["data"]
    assert listed[0]["status"] == "withdrawn"


def test_only_an_accredited_body_certifies(fx: Programme) -> None:
    footprint = fx.record()
    envelope = fx.envelope(footprint)
    refused = fx.client.post("/api/v1/certificates", json=envelope, headers=fx.body.headers)
    assert refused.status_code == 403
    fx.accredit()
    fx.accredit("suspended")
    refused = fx.client.post("/api/v1/certificates", json=envelope, headers=fx.body.headers)
    assert refused.status_code == 403
    # A supplier signing a "certificate" is refused whatever it signs.
    supplier_envelope = fx.envelope(footprint, body=fx.supplier)
    refused = fx.client.post(
        "/api/v1/certificates", json=supplier_envelope, headers=fx.supplier.headers
    )
    assert refused.status_code == 403
    fx.accredit("granted")
    created = fx.client.post("/api/v1/certificates", json=envelope, headers=fx.body.headers)
    assert created.status_code == 201
    repeated = fx.client.post("/api/v1/certificates", json=envelope, headers=fx.body.headers)
    assert repeated.status_code == 200
    assert repeated.get_json()["number"] == created.get_json()["number"]


def test_certificates_are_checked(fx: Programme) -> None:
    fx.accredit()
    footprint = fx.record()
    cases: dict[str, dict[str, Any]] = {
        "footprintDigest": {"footprintDigest": "0" * 64},
        "gtin": {"gtin": "09506000134353"},
        "validUntil": {"validUntil": "2099-01-01T00:00:00Z"},
        "issued": {"issued": "2020-01-01T00:00:00Z"},
    }
    for field, change in cases.items():
        response = fx.client.post(
            "/api/v1/certificates", json=fx.envelope(footprint, **change), headers=fx.body.headers
        )
        assert response.status_code == 400, field
        fields = [detail["field"] for detail in response.get_json()["details"]]
        assert f"certificate.{field}" in fields, response.get_json()
    tampered = fx.envelope(footprint)
    tampered["certificate"]["category"] = "something else"
    response = fx.client.post("/api/v1/certificates", json=tampered, headers=fx.body.headers)
    assert response.status_code == 400 and response.get_json()["code"] == "SignatureInvalid"
    # A record the owner did not share with the body is not found for it.
    other = add_member(fx.app, Role.SUPPLIER)
    secret = other.footprint(productIds=[f"urn:gtin:{GTIN}"])
    secret.pop("precedingPfIds", None)
    pushed = fx.client.post(
        "/api/v1/footprints", json=other.key.sign_footprint(secret), headers=other.headers
    )
    assert pushed.status_code == 201
    response = fx.client.post(
        "/api/v1/certificates", json=fx.envelope(secret), headers=fx.body.headers
    )
    assert response.status_code == 404


def test_a_body_acts_only_on_its_own_certificates(fx: Programme) -> None:
    fx.accredit()
    certificate = fx.certify()
    other = add_member(fx.app, Role.CERTIFICATION_BODY)
    fx.accredit(body=other)
    number = certificate["number"]
    refused = fx.client.post(
        f"/api/v1/certificates/{number}/revoke", json={"reason": "x"}, headers=other.headers
    )
    assert refused.status_code == 403
    refused = fx.client.post("/api/v1/labels", json={"certificate": number}, headers=other.headers)
    assert refused.status_code == 403
    # The product's owner may issue labels of its own certificate.
    fx.label(number, member=fx.supplier)


def test_suspend_reinstate_revoke_and_the_registry(fx: Programme) -> None:
    fx.accredit()
    number = fx.certify()["number"]
    label = fx.label(number)

    def act(action: str) -> int:
        return int(
            fx.client.post(
                f"/api/v1/certificates/{number}/{action}",
                json={"reason": f"{action} by the body"},
                headers=fx.body.headers,
            ).status_code
        )

    assert act("suspend") == 200
    verdict = fx.verify(label["url"])
    assert verdict["verdict"] == "invalid"
    assert [r["code"] for r in verdict["reasons"]] == ["certificate-suspended"]
    assert act("suspend") == 409
    assert act("reinstate") == 200
    assert fx.verify(label["url"])["verdict"] == "valid"
    assert act("revoke") == 200
    assert act("reinstate") == 409
    assert fx.verify(label["url"])["reasons"][0]["code"] == "certificate-revoked"
    entry = fx.client.get(f"/api/v1/certificates/{number}").get_json()
    assert [e["status"] for e in entry["history"]] == ["active", "suspended", "active", "revoked"]
    found = fx.client.get("/api/v1/registry", query_string={"gtin": GTIN}).get_json()["data"]
    assert [item["status"] for item in found] == ["revoked"]
    assert fx.client.get("/api/v1/registry", query_string={"status": "active"}).get_json() == {
        "data": []
    }
    refused = fx.client.post(
        "/api/v1/labels", json={"certificate": number}, headers=fx.body.headers
    )
    assert refused.status_code == 409


def test_withdrawal_flags_every_certificate_of_the_body(fx: Programme) -> None:
    fx.accredit()
    first = fx.certify()
    second = fx.certify()
    label = fx.label(first["number"])
    fx.accredit("withdrawn")
    for number in (first["number"], second["number"]):
        entry = fx.client.get(f"/api/v1/certificates/{number}").get_json()
        assert entry["status"] == "accreditation-withdrawn"
    verdict = fx.verify(label["url"])
    assert [r["code"] for r in verdict["reasons"]] == ["certificate-accreditation-withdrawn"]
    trust = fx.client.get("/.well-known/trust-list.json").get_json()
    [body] = trust["trustList"]["certificationBodies"]
    assert body["status"] == "withdrawn"
    assert [item["status"] for item in body["history"]] == ["granted", "withdrawn"]


def test_registry_search(fx: Programme) -> None:
    fx.accredit()
    certificate = fx.certify()
    name = certificate["product"]["name"]
    hits = fx.client.get("/api/v1/registry", query_string={"q": name[:5]}).get_json()["data"]
    assert [hit["number"] for hit in hits] == [certificate["number"]]
    none = fx.client.get("/api/v1/registry", query_string={"q": "no such thing"}).get_json()
    assert none["data"] == []
    by_category = fx.client.get("/api/v1/registry", query_string={"category": CATEGORY})
    assert len(by_category.get_json()["data"]) == 1
    bad = fx.client.get("/api/v1/registry", query_string={"gtin": "123"})
    assert bad.status_code == 400


def test_grading_benchmark_regrading_keeps_history(fx: Programme) -> None:
    fx.accredit()
    # 4 kg CO2e for 2 kg: 2 per kilogram, ratio 0.2 to a benchmark of 10 → grade 1.
    number = fx.certify(fx.record(value="4", amount="2"))["number"]
    scheme = fx.scheme()
    assert scheme["version"] == 1 and scheme["regraded"] == [{"certificate": number, "grade": 1}]
    # Version 2: benchmark 2.2 → ratio 0.909 → grade 3.
    scheme = fx.scheme(benchmark="2.2", cutPoints=["0.6", "0.8", "1.2", "2.0"])
    assert scheme["version"] == 2 and scheme["regraded"] == [{"certificate": number, "grade": 3}]
    entry = fx.client.get(f"/api/v1/certificates/{number}").get_json()
    assert entry["grade"]["grade"] == 3
    assert entry["grade"]["scheme"]["version"] == 2
    assert [g["scheme"]["version"] for g in entry["grades"]] == [1, 2]
    assert [(g["grade"], g["supersededAt"] is None) for g in entry["grades"]] == [
        (1, False),
        (3, True),
    ]
    label = fx.label(number)
    assert label["claims"]["grade"] == 3
    listed = fx.client.get("/api/v1/grading-schemes", query_string={"category": CATEGORY})
    assert [s["version"] for s in listed.get_json()["data"]] == [1, 2]


def test_grading_percentile_records_its_population(fx: Programme) -> None:
    fx.accredit()
    numbers = [
        fx.certify(fx.record(value=str(value), amount="1"))["number"] for value in (1, 2, 3, 4, 5)
    ]
    scheme = fx.scheme("percentile", cutPoints=["20", "40", "60", "80"])
    grades = {item["certificate"]: item["grade"] for item in scheme["regraded"]}
    assert [grades[number] for number in numbers] == [1, 2, 3, 4, 5]
    entry = fx.client.get(f"/api/v1/certificates/{numbers[0]}").get_json()
    assert entry["grade"]["population"]["size"] == 5
    # A new certificate in a graded category is graded on arrival.
    newest = fx.certify(fx.record(value="0.5", amount="1"))
    assert newest["grade"]["grade"] == 1 and newest["grade"]["population"]["size"] == 6


def test_grading_schemes_are_checked(fx: Programme) -> None:
    bad = [
        ("benchmark-ratio", {"benchmark": "0", "cutPoints": ["1"]}),
        ("fixed-bands", {"cutPoints": ["2", "1"]}),
        ("percentile", {"cutPoints": ["0", "50"]}),
        ("fixed-bands", {"cutPoints": []}),
        ("fixed-bands", {"cutPoints": ["x"]}),
    ]
    for method, parameters in bad:
        response = fx.client.post(
            "/api/v1/grading-schemes",
            json={
                "category": CATEGORY,
                "method": method,
                "unit": "kilogram",
                "parameters": parameters,
            },
            headers=fx.regulator.headers,
        )
        assert response.status_code == 400, (method, parameters)


def test_label_images(fx: Programme) -> None:
    fx.accredit()
    label = fx.label(fx.certify()["number"])
    png = fx.client.get(f"/api/v1/labels/{label['id']}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")
    svg = fx.client.get(f"/api/v1/labels/{label['id']}.svg")
    assert svg.mimetype == "image/svg+xml"
    text = svg.get_data(as_text=True)
    assert "海南省产品碳足迹标识" in text and "Hainan Product Carbon Footprint Label" in text
    assert "-9.22 kg CO₂e / kg" in text
    assert fx.client.get("/api/v1/labels/999999.png").status_code == 404


def test_trust_list_is_signed_and_lists_keys(fx: Programme, app: Flask) -> None:
    from exchange.labels.verify import open_trust_list

    fx.accredit()
    document = fx.client.get("/.well-known/trust-list.json").get_json()
    key = app.extensions["exchange.key"]
    origin, keys, payload = open_trust_list(document, pinned=[key.public_key])
    assert origin == "footprint-exchange.hainan.example"
    assert [k.kid for k in keys] == [key.kid]
    [body] = payload["certificationBodies"]
    assert body["keys"][0]["kid"] == fx.body.key.kid
    assert payload["partnerProgrammes"] == []
    document["trustList"]["certificationBodies"] = []
    with pytest.raises(Exception, match="does not verify"):
        open_trust_list(document, pinned=[key.public_key])


def test_verify_takes_text_plain_and_reports_garbage(fx: Programme) -> None:
    response = fx.client.post("/api/v1/labels/verify", data="hello", content_type="text/plain")
    body = response.get_json()
    assert body["verdict"] == "invalid" and body["reasons"][0]["code"] == "malformed"
    assert json.dumps(body)


def test_verifying_does_not_queue_behind_a_writer(fx: Programme, app: Flask) -> None:
    """The verifier only reads: on SQLite it takes no write lock, so a transaction that
    holds one (BEGIN IMMEDIATE) does not make scans wait for it: a verifier that asked for
    the lock would wait out the 30 s busy timeout and fail with "database is locked"."""
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's single write lock")
    fx.accredit()
    label = fx.label(fx.certify()["number"])
    with app.extensions["exchange.engine"].connect() as writer:
        writer.execute(sa.text("SELECT 1"))  # its transaction began with BEGIN IMMEDIATE
        verdict = fx.verify(label["url"])
    assert verdict["verdict"] == "valid", verdict


def test_the_log_audit_rebuilds_every_label_entry(fx: Programme, app: Flask) -> None:
    from exchange.log import services as log_services

    fx.accredit()
    number = fx.certify()["number"]
    fx.scheme()
    fx.label(number)
    fx.client.post(
        f"/api/v1/certificates/{number}/suspend", json={"reason": "x"}, headers=fx.body.headers
    )
    key = app.extensions["exchange.key"]
    with app.extensions["exchange.sessions"]() as session:
        log_services.ensure_checkpoint(session, key, app.config["EXCHANGE_ORIGIN"])
        session.commit()
        report = log_services.audit(
            session,
            key.public_key,
            app.config["EXCHANGE_ORIGIN"],
            app.extensions["exchange.log_sources"],
        )
    assert report.ok, report.problem
    assert report.tree_size >= 7
    assert claims.UNITS[1] == "kilogram"
