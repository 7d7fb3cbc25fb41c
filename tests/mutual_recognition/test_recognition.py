"""Inbound recognition of partner records handed over directly: every check, every reason,
the signed and logged decision, and what suspension does to recognitions and products."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
import sqlalchemy as sa
from flask import Flask

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.log import merkle
from exchange.log.models import LogEntry
from exchange.organisations.models import Role
from exchange.partners.models import Recognition
from tests.factories import add_member
from tests.labels.builders import CATEGORY, GTIN, programme
from tests.mutual_recognition.builders import OUT_OF_SCOPE, SCOPE, partner_envelope
from tests.mutual_recognition.conftest import PARTNER_ORIGIN, Partnership, log_proof, register


def codes(decision: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in decision["reasons"]]


def test_a_record_signed_by_a_pinned_key_is_recognised_signed_and_logged(
    partnership: Partnership,
) -> None:
    envelope = partnership.anchor_signed(partner_envelope(partnership.supplier))
    decision = partnership.decide(envelope)
    assert decision["decision"] == "recognised", decision
    assert decision["agreementId"] == partnership.agreement_id
    signed = decision["signed"]
    key = partnership.app.extensions["exchange.key"]
    signing.verify(
        context=signing.RECOGNITION_CONTEXT,
        payload=signed["recognition"],
        signature=signed["signature"]["value"],
        public_key=key.public_key,
    )
    assert signed["recognition"]["record"] == envelope["footprint"]["id"]
    with transaction(partnership.app.extensions["exchange.sessions"]) as session:
        entry = session.get(LogEntry, decision["logIndex"])
        assert entry is not None and entry.kind == "recognition"
        recognition = session.get(Recognition, decision["id"])
        assert recognition is not None
        assert entry.leaf_hash == merkle.leaf_hash(recognition.log_entry())
    # The record is now a footprint record here, readable like any public one.
    reader = add_member(partnership.app, Role.CHAIN_OWNER)
    served = partnership.client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}", headers=reader.headers
    )
    assert served.status_code == 200
    assert served.get_json()["signature"] == envelope["signature"]
    # Handing it over again decides nothing new.
    assert partnership.decide(envelope)["id"] == decision["id"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"productClassifications": [OUT_OF_SCOPE]}, "out-of-scope"),
        ({"primaryDataShare": "9.99"}, "primary-data-share-below-floor"),
        ({"dqi": {"technologicalDQR": "1", "geographicalDQR": "3.6", "temporalDQR": "1"}},
         "dqr-above-ceiling"),
        ({"exemptedEmissionsPercent": "5.5"}, "exempted-share-above-ceiling"),
        ({"referencePeriodStart": "2010-01-01T00:00:00Z",
          "referencePeriodEnd": "2010-12-31T00:00:00Z"}, "reference-period-too-old"),
        ({"crossSectoralStandards": ["PEF"]}, "standard-not-accepted"),
        ({"ipccCharacterizationFactors": ["AR4"]}, "gwp-set-not-accepted"),
    ],
)  # fmt: skip
def test_each_unmet_condition_is_a_reason(
    partnership: Partnership, changes: dict[str, Any], code: str
) -> None:
    envelope = partnership.anchor_signed(partner_envelope(partnership.supplier, **changes))
    decision = partnership.decide(envelope)
    assert decision["decision"] == "refused"
    assert codes(decision) == [code], decision["reasons"]
    reader = add_member(partnership.app, Role.CHAIN_OWNER)
    assert (
        partnership.client.get(
            f"/api/v1/footprints/{envelope['footprint']['id']}", headers=reader.headers
        ).status_code
        == 404
    )


def test_verification_level_and_product_rules(partnership: Partnership) -> None:
    client, regulator = partnership.client, partnership.regulator
    from tests.mutual_recognition.builders import agreement_body

    strict = client.post(
        "/api/v1/agreements",
        json=agreement_body(
            partnership.partner_id,
            scope=["urn:pact:productclassification:un-cpc:0111"],
            requiredVerification="reasonable",
            acceptedRules=["PCR rice 2024"],
        ),
        headers=regulator.headers,
    ).get_json()
    client.post(
        f"/api/v1/agreements/{strict['id']}/status",
        json={"status": "granted", "reason": "signed"},
        headers=regulator.headers,
    )
    rice = ["urn:pact:productclassification:un-cpc:0111"]
    unverified = partner_envelope(partnership.supplier, productClassifications=rice)
    decision = partnership.decide(partnership.anchor_signed(unverified))
    assert codes(decision) == ["rule-not-accepted", "verification-insufficient"]
    limited = partner_envelope(
        partnership.supplier,
        productClassifications=rice,
        verification={"coverage": "product level", "providerName": "Audit Co."},
        productOrSectorSpecificRules=[{"operator": "Other", "ruleNames": ["PCR rice 2024"],
                                       "otherOperatorName": "Thai PCR"}],
    )  # fmt: skip
    decision = partnership.decide(partnership.anchor_signed(limited))
    assert codes(decision) == ["verification-insufficient"]
    assert "limited" in decision["reasons"][0]["message"]
    reasonable = partner_envelope(
        partnership.supplier,
        productClassifications=rice,
        verification={"providerName": "Audit Co.", "comments": "Reasonable assurance, ISO 14064-3"},
        productOrSectorSpecificRules=[{"operator": "Other", "ruleNames": ["pcr RICE 2024"],
                                       "otherOperatorName": "Thai PCR"}],
    )  # fmt: skip
    assert partnership.decide(partnership.anchor_signed(reasonable))["decision"] == "recognised"


def test_signatures_keys_and_agreements_in_force(partnership: Partnership) -> None:
    # Signed by a company key the partner does not vouch for (no anchor, no log).
    unvouched = partner_envelope(partnership.supplier)
    decision = partnership.decide(unvouched, signerJwk=partnership.supplier.key.public_jwk())
    assert codes(decision) == ["unknown-signer"]
    # A footprint changed after the anchor signed it.
    tampered = partnership.anchor_signed(partner_envelope(partnership.supplier))
    tampered["footprint"]["pcf"]["pcfExcludingBiogenicUptake"] = "0.001"
    assert codes(partnership.decide(tampered)) == ["signature-invalid"]
    # No agreement in force: suspended, then the partner itself suspended.
    partnership.set_agreement("suspended", "review")
    fresh = partnership.anchor_signed(partner_envelope(partnership.supplier))
    assert codes(partnership.decide(fresh)) == ["no-agreement-in-force"]
    partnership.set_agreement("granted", "review passed")
    partnership.client.post(
        f"/api/v1/partners/{partnership.partner_id}/status",
        json={"status": "suspended", "reason": "audit of its registry"},
        headers=partnership.regulator.headers,
    )
    later = partnership.anchor_signed(partner_envelope(partnership.supplier))
    assert codes(partnership.decide(later)) == ["partner-not-active"]


def test_only_the_regulator_hands_over_records_and_bad_items_change_nothing(
    partnership: Partnership,
) -> None:
    envelope = partnership.anchor_signed(partner_envelope(partnership.supplier))
    denied = partnership.upload({"envelope": envelope}, member=partnership.supplier)
    assert denied.status_code == 403
    bad = partnership.upload({"envelope": envelope}, {"envelope": {"footprint": {}}})
    assert bad.status_code == 400
    empty = partnership.client.post(
        f"/api/v1/partners/{partnership.partner_id}/records",
        json={"items": []},
        headers=partnership.regulator.headers,
    )
    assert empty.status_code == 400
    with transaction(partnership.app.extensions["exchange.sessions"]) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Recognition)) == 0


def test_a_partner_log_vouches_for_company_keys(app: Flask, partnership: Partnership) -> None:
    """A partner with a log: a company's key counts when the envelope is in that log."""
    client, anchor = partnership.client, partnership.anchor
    registered = register(
        client,
        partnership.regulator,
        partnership.anchor,
        pactBaseUrl="https://pcf.other-partner.example",
        country="VN",
        logOrigin=PARTNER_ORIGIN,
    )
    partner_id = registered.get_json()["id"]
    from tests.mutual_recognition.builders import agreement_body

    agreement = client.post(
        "/api/v1/agreements", json=agreement_body(partner_id), headers=partnership.regulator.headers
    ).get_json()
    client.post(
        f"/api/v1/agreements/{agreement['id']}/status",
        json={"status": "granted", "reason": "signed"},
        headers=partnership.regulator.headers,
    )
    company = LocalKey.generate()  # a company of the partner's, unknown here
    other, envelope = (
        company.sign_footprint(partner_envelope(partnership.supplier)["footprint"])
        for _ in range(2)
    )
    jwk = company.public_jwk()

    def upload(item: dict[str, Any]) -> dict[str, Any]:
        response = client.post(
            f"/api/v1/partners/{partner_id}/records",
            json={"items": [item]},
            headers=partnership.regulator.headers,
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"][0]  # type: ignore[no-any-return]

    def proof(signer: LocalKey, index: int) -> dict[str, Any]:
        return log_proof(signer, [other, envelope], index)

    assert codes(upload({"envelope": envelope, "signerJwk": jwk})) == ["not-in-partner-log"]
    wrong_place = upload({"envelope": envelope, "signerJwk": jwk, "logProof": proof(anchor, 0)})
    assert codes(wrong_place) == ["not-in-partner-log"]
    forged = upload({"envelope": envelope, "signerJwk": jwk, "logProof": proof(company, 1)})
    assert codes(forged) == ["partner-log-unavailable"]
    decision = upload({"envelope": envelope, "signerJwk": jwk, "logProof": proof(anchor, 1)})
    assert decision["decision"] == "recognised", decision["reasons"]
    assert decision["signed"]["recognition"]["partnerLog"]["logIndex"] == 1
    # A key registered here to another organisation is never taken for a partner's.
    local = partnership.supplier.key.sign_footprint(envelope["footprint"] | {"id": str(uuid4())})
    clash = upload(
        {
            "envelope": local,
            "signerJwk": partnership.supplier.key.public_jwk(),
            "logProof": log_proof(anchor, [local], 0),
        }
    )
    assert codes(clash) == ["signer-key-conflict"]
    # The company key is now registered to the partner's organisation here.
    keys = client.get(f"/api/v1/organisations/{registered.get_json()['organisationId']}/jwks.json")
    assert [key["kid"] for key in keys.get_json()["keys"]] == [company.kid]


def test_suspension_flags_recognitions_hides_records_and_stales_products(
    partnership: Partnership,
) -> None:
    client = partnership.client
    envelope = partnership.anchor_signed(partner_envelope(partnership.supplier))
    record_id = envelope["footprint"]["id"]
    assert partnership.decide(envelope)["decision"] == "recognised"
    owner = add_member(partnership.app, Role.CHAIN_OWNER)
    product = client.post(
        "/api/v1/products",
        json={
            "code": "P1",
            "name": "Juice",
            "declaredUnit": "kilogram",
            "lines": [{"quantity": "2", "unit": "kg", "recordId": record_id}],
        },
        headers=owner.headers,
    ).get_json()
    computed = client.post(f"/api/v1/products/{product['id']}/compute", headers=owner.headers)
    assert computed.status_code == 200, computed.get_json()

    assert partnership.set_agreement("suspended", "annual review").status_code == 200
    listed = client.get(
        "/api/v1/recognitions?decision=recognised", headers=partnership.regulator.headers
    ).get_json()["data"]
    assert listed[0]["status"] == "flagged" and "annual review" in listed[0]["flagReason"]
    result = client.get(f"/api/v1/products/{product['id']}", headers=owner.headers).get_json()
    assert result["result"]["stale"] is True
    assert client.get(f"/api/v1/footprints/{record_id}", headers=owner.headers).status_code == 404
    recompute = client.post(f"/api/v1/products/{product['id']}/compute", headers=owner.headers)
    assert recompute.status_code == 400  # the flagged record may not be used

    assert partnership.set_agreement("granted", "review passed").status_code == 200
    restored = client.get(
        "/api/v1/recognitions?decision=recognised", headers=partnership.regulator.headers
    ).get_json()["data"]
    assert restored[0]["status"] == "standing" and restored[0]["flagReason"] is None
    assert client.get(f"/api/v1/footprints/{record_id}", headers=owner.headers).status_code == 200
    assert partnership.set_agreement("withdrawn", "ended").status_code == 200
    final = client.get("/api/v1/recognitions", headers=partnership.regulator.headers).get_json()[
        "data"
    ]
    assert final[0]["status"] == "flagged" and "withdrawn" in final[0]["flagReason"]


def test_a_recognised_record_can_be_certified_and_labelled(partnership: Partnership) -> None:
    labels = programme(partnership.app, partnership.client)
    labels.accredit()
    footprint = partnership.supplier.footprint(
        productIds=[f"urn:gtin:{GTIN}"], productClassifications=[SCOPE, CATEGORY]
    )
    envelope = partnership.anchor.sign_footprint(footprint)
    assert partnership.decide(envelope)["decision"] == "recognised"
    certificate = labels.certify(footprint)
    label = labels.label(certificate["number"])
    assert label["url"].startswith("HTTPS://")
    bundle = partnership.client.get(f"/api/v1/footprints/{footprint['id']}/verification")
    document = bundle.get_json()["bundle"]
    assert [item["status"] for item in document["certificates"]] == ["active"]
    assert json.dumps(document["recognitions"][0]["recognition"]["record"]) == json.dumps(
        footprint["id"]
    )


def test_recognitions_are_listed_for_the_regulator_only(partnership: Partnership) -> None:
    reader = add_member(partnership.app, Role.CHAIN_OWNER)
    assert partnership.client.get("/api/v1/recognitions", headers=reader.headers).status_code == 403
    wrong = partnership.client.get(
        "/api/v1/recognitions?decision=maybe", headers=partnership.regulator.headers
    )
    assert wrong.status_code == 400
