"""Derived records signed before confidential provenance, with their inputs in clear: after
the upgrade their cleartext is served only to their owner, the regulator and a body
certifying them; everyone else gets the withheld form, whose commitments the exchange
attests, and nothing is lost - the signed document, its signature and its log entry stay."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.aggregation import commitments
from exchange.aggregation.models import DerivedRecord
from exchange.aggregation.services.cleartext import convert_cleartext
from exchange.db import transaction, utcnow
from exchange.footprints import services as footprints
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.services import authenticate
from tests.aggregation.test_confidential_provenance import (
    Chain,
    build_chain,
    opened,
    provenance,
    secrets_of,
)
from tests.factories import Member


def _cleartext_record(app: Flask, client: FlaskClient, chain: Chain) -> dict[str, Any]:
    """A derived record of the brand's as the exchange made them before: every input line in
    clear in the signed provenance (stored as then, without today's submission hook)."""
    brand, product_id = chain.brand, chain.juice_product["id"]
    result = client.get(f"/api/v1/products/{product_id}/result", headers=brand.headers).get_json()
    tree = client.get(f"/api/v1/products/{product_id}/explain", headers=brand.headers).get_json()
    draft = client.get(
        f"/api/v1/products/{product_id}/derived-footprint", headers=brand.headers
    ).get_json()
    draft["id"] = str(uuid.uuid4())
    draft.pop("precedingPfIds", None)
    extension = draft["extensions"][0]
    extension["dataSchema"] = extension["dataSchema"].replace("2.0.0", "1.0.0")
    extension["data"] = {
        "productId": product_id,
        "resultDigest": result["digest"],
        "result": result["result"],
        "explanation": tree["tree"],
    }
    envelope = brand.key.sign_footprint(draft)
    with transaction(app.extensions["exchange.sessions"]) as session:
        principal = authenticate(session, brand.token)
        (outcome,) = footprints.submit(session, principal=principal, items=[envelope])
        assert outcome.accepted, outcome.error
        session.add(
            DerivedRecord(
                record_id=draft["id"],
                product_id=product_id,
                result_digest=result["digest"],
                matched_result=True,
                linked_at=utcnow(),
            )
        )
    # Shared as the old records were: with the regulator, and with the processor by record.
    client.put(
        f"/api/v1/footprints/{draft['id']}/disclosure",
        json={"disclosure": "regulator"},
        headers=brand.headers,
    )
    client.post(
        "/api/v1/shares",
        json={"organisationId": chain.processor.organisation_id, "recordId": draft["id"]},
        headers=brand.headers,
    )
    return envelope


@pytest.fixture
def migrated(app: Flask, client: FlaskClient) -> tuple[Chain, dict[str, Any]]:
    chain = build_chain(app, client)
    envelope = _cleartext_record(app, client, chain)
    # Before the upgrade the customer (a product share) was served the cleartext ...
    served = client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}", headers=chain.customer.headers
    ).get_data(as_text=True)
    assert chain.sugar["signature"]["value"] in served
    # ... the upgrade (migration 0018) converts it.
    with app.extensions["exchange.engine"].begin() as connection:
        assert convert_cleartext(connection) == 1
        assert convert_cleartext(connection) == 0  # once
    return chain, envelope


def _read(client: FlaskClient, member: Member, url: str) -> str:
    response = client.get(url, headers=member.headers)
    assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
    return response.get_data(as_text=True)


def test_the_customer_is_served_the_withheld_form_and_no_input(
    app: Flask, client: FlaskClient, migrated: tuple[Chain, dict[str, Any]]
) -> None:
    chain, envelope = migrated
    record_id = envelope["footprint"]["id"]
    customer = chain.customer
    bodies = {
        url: _read(client, customer, url)
        for url in (
            f"/api/v1/footprints/{record_id}",
            "/api/v1/footprints",
            f"/3/footprints/{record_id}",
            "/3/footprints",
            f"/api/v1/footprints/{record_id}/verification",
            f"/api/v1/footprints/{record_id}/provenance",
        )
    }
    leaks = [
        (what, url)
        for url, body in bodies.items()
        for what, secret in secrets_of(chain).items()
        if secret in body
    ]
    assert leaks == []
    served = json.loads(bodies[f"/api/v1/footprints/{record_id}"])
    assert served["exchange"]["withheld"] is True
    data = commitments.provenance_of(served["footprint"])
    assert data is not None and len(data["commitments"]) == 2
    assert served["footprint"]["pcf"] == envelope["footprint"]["pcf"]  # the figures stay
    pact = json.loads(bodies[f"/3/footprints/{record_id}"])["data"]
    assert pact["extensions"][-1]["data"]["withheld"] is True

    # The exchange attests, on the first reading, what it withholds and what it serves.
    view = json.loads(bodies[f"/api/v1/footprints/{record_id}/provenance"])
    assert view["provenance"] == "migrated"
    pinned = [app.extensions["exchange.key"].public_key]
    trust_list = client.get("/.well-known/trust-list.json").get_json()
    keys = commitments.keys_from_trust_list(trust_list, pinned=pinned)
    verdict = commitments.verify_attestation(
        view["attestation"], keys=keys, footprint=served["footprint"]
    )
    assert verdict.ok, verdict.problems
    statement = view["attestation"]["attestation"]
    assert statement["checks"] == list(commitments.MIGRATED_CHECKS)
    assert statement["footprintDigest"] == commitments.footprint_digest(envelope["footprint"])
    assert statement["ownerSignature"] == {"kid": chain.brand.key.kid}
    assert view["withheld"]["count"] == 2

    # The customer's bundle verifies offline: the owner's signature vouched for by the
    # exchange's attestation, the record's log leaf the one the attestation names.
    bundle = json.loads(bodies[f"/api/v1/footprints/{record_id}/verification"])
    jwks = client.get("/.well-known/jwks.json").get_json()
    checked = verify_bundle(bundle, pinned=jwks)
    assert checked.ok, checked.problems
    assert (checked.withheld, checked.attestation, checked.openings) == (True, "migrated", ())
    # Without the attestation a withheld envelope proves nothing.
    stripped = copy.deepcopy(bundle)
    stripped["bundle"]["provenance"] = None
    stripped["signature"]["value"] = app.extensions["exchange.key"].sign(
        context=signing.VERIFICATION_CONTEXT, payload=stripped["bundle"]
    )
    assert not verify_bundle(stripped, pinned=jwks).ok


def test_the_owner_and_the_regulator_still_read_what_was_signed(
    app: Flask, client: FlaskClient, migrated: tuple[Chain, dict[str, Any]]
) -> None:
    chain, envelope = migrated
    record_id = envelope["footprint"]["id"]
    jwks = client.get("/.well-known/jwks.json").get_json()
    for member in (chain.brand, chain.regulator):
        served = json.loads(_read(client, member, f"/api/v1/footprints/{record_id}"))
        assert served["footprint"] == envelope["footprint"]
        assert "withheld" not in served["exchange"]
        signing.verify(
            context=signing.FOOTPRINT_CONTEXT,
            payload=served["footprint"],
            signature=served["signature"]["value"],
            public_key=chain.brand.key.public_key,
        )
        bundle = client.get(
            f"/api/v1/footprints/{record_id}/verification", headers=member.headers
        ).get_json()
        verdict = verify_bundle(bundle, pinned=jwks)
        assert verdict.ok, verdict.problems
        assert (verdict.withheld, verdict.attestation, verdict.openings) == (
            False,
            "migrated",
            (0, 1),
        )


def test_openings_of_a_migrated_record_follow_the_same_rule(
    app: Flask, client: FlaskClient, migrated: tuple[Chain, dict[str, Any]]
) -> None:
    chain, envelope = migrated
    record_id = envelope["footprint"]["id"]
    signed_lines = envelope["footprint"]["extensions"][0]["data"]["result"]["inputs"]
    status, view = provenance(client, chain.processor, record_id)
    assert status == 200
    (line,) = opened(view).values()
    assert line["line"] == signed_lines[0]  # the line as the owner signed it
    data = {name: view[name] for name in ("commitments", "commitmentRoot")}
    commitments.check_opening(data, line)
    status, view = provenance(client, chain.brand, record_id)
    assert [item["line"] for item in opened(view).values()] == signed_lines
