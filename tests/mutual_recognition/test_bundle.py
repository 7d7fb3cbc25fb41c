"""The verification bundle of one of our records, and its offline verifier against tampering."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.keyring import ExchangeKey
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.labels.builders import programme


def push(client: FlaskClient, member: Member, **changes: Any) -> str:
    envelope = member.envelope(**changes)
    response = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def resign(key: ExchangeKey, document: dict[str, Any]) -> dict[str, Any]:
    """What a dishonest (or broken) exchange would hand out: altered, yet signed."""
    document["signature"]["value"] = key.sign(
        context=signing.VERIFICATION_CONTEXT, payload=document["bundle"]
    )
    return document


@pytest.fixture
def exchange_key(app: Flask) -> ExchangeKey:
    return app.extensions["exchange.key"]  # type: ignore[no-any-return]


def test_the_bundle_is_visible_exactly_as_the_record_is(app: Flask, client: FlaskClient) -> None:
    owner = add_member(app, Role.SUPPLIER)
    customer = add_member(app, Role.CHAIN_OWNER)
    stranger = add_member(app, Role.CHAIN_OWNER)
    record_id = push(client, owner)
    url = f"/api/v1/footprints/{record_id}/verification"
    assert client.get(url).status_code == 404
    assert client.get(url, headers=stranger.headers).status_code == 404
    assert client.get(url, headers=owner.headers).status_code == 200
    client.post(
        "/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": record_id},
        headers=owner.headers,
    )
    assert client.get(url, headers=customer.headers).status_code == 200
    bad_token = client.get(url, headers={"Authorization": "Bearer forged"})
    assert bad_token.status_code == 401


def test_a_bundle_verifies_offline_with_the_pinned_key_alone(
    app: Flask, client: FlaskClient, exchange_key: ExchangeKey
) -> None:
    labels = programme(app, client)
    labels.accredit()
    labels.scheme()
    footprint = labels.record()
    labels.certify(footprint)
    document = client.get(
        f"/api/v1/footprints/{footprint['id']}/verification", headers=labels.body.headers
    ).get_json()
    jwks = client.get("/.well-known/jwks.json").get_json()
    verdict = verify_bundle(document, pinned=jwks, origin=app.config["EXCHANGE_ORIGIN"])
    assert verdict.ok, verdict.problems
    assert verdict.record_id == footprint["id"]
    assert verdict.signer_kid == labels.supplier.key.kid and verdict.key_status == "valid"
    assert verdict.certificates[0][1] == "active"
    assert document["bundle"]["certificates"][0]["grade"]["grade"] in range(1, 6)
    assert verdict.log_index == document["bundle"]["record"]["logIndex"]
    # Raw pinned keys work as well as a JWK Set; another key or origin does not.
    assert verify_bundle(document, pinned=[exchange_key.public_key]).ok
    other = verify_bundle(document, pinned=[LocalKey.generate().public_key])
    assert not other.ok and "not signed by the pinned exchange key" in other.problems[0]
    elsewhere = verify_bundle(document, pinned=jwks, origin="another.example")
    assert any("checkpoint" in problem for problem in elsewhere.problems)


def _footprint_value(bundle: dict[str, Any]) -> None:
    bundle["envelope"]["footprint"]["pcf"]["pcfExcludingBiogenicUptake"] = "0.001"


def _inclusion(bundle: dict[str, Any]) -> None:
    proof = bundle["log"]["inclusionProof"]
    proof["index"] = (proof["index"] + 1) % proof["size"]


def _registration(bundle: dict[str, Any]) -> None:
    bundle["signer"]["registration"]["notBefore"] = "2001-01-01T00:00:00+00:00"


def _revoked_before(bundle: dict[str, Any]) -> None:
    received = dt.datetime.fromisoformat(bundle["record"]["receivedAt"])
    bundle["signer"]["revokedAt"] = (received - dt.timedelta(days=1)).isoformat()


def _signer_swapped(bundle: dict[str, Any]) -> None:
    bundle["signer"]["jwk"] = LocalKey.generate().public_jwk()


def _certificate(bundle: dict[str, Any]) -> None:
    bundle["certificates"][0]["certificate"]["gtin"] = "09506000134369"


def _trust_list(bundle: dict[str, Any]) -> None:
    bundle["trustList"]["trustList"]["certificationBodies"] = []


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_footprint_value, "owner's signature does not verify"),
        (_inclusion, "not in the exchange's log"),
        (_registration, "registration is not in the log"),
        (_revoked_before, "outside the key's revokedAt"),
        (_signer_swapped, "not the key that signed"),
        (_certificate, "certificate 0 does not verify"),
        (_trust_list, "trust list is not signed"),
    ],
)
def test_a_tampered_bundle_is_refused_even_when_signed(
    app: Flask,
    client: FlaskClient,
    exchange_key: ExchangeKey,
    tamper: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    labels = programme(app, client)
    labels.accredit()
    footprint = labels.record()
    labels.certify(footprint)
    original = client.get(
        f"/api/v1/footprints/{footprint['id']}/verification", headers=labels.body.headers
    ).get_json()
    pinned = [exchange_key.public_key]
    assert verify_bundle(original, pinned=pinned).ok
    altered = copy.deepcopy(original)
    tamper(altered["bundle"])
    unsigned = verify_bundle(altered, pinned=pinned)
    assert unsigned.problems == (
        "the bundle is not signed by the pinned exchange key: signature does not match",
    )
    verdict = verify_bundle(resign(exchange_key, altered), pinned=pinned)
    assert not verdict.ok
    assert any(expected in problem for problem in verdict.problems), verdict.problems


def test_an_unsigned_import_has_nothing_to_verify(app: Flask, client: FlaskClient) -> None:
    owner = add_member(app, Role.SUPPLIER)
    footprint = owner.footprint()
    imported = client.post("/api/v1/footprints/import", json=footprint, headers=owner.headers)
    assert imported.status_code == 201, imported.get_json()
    document = client.get(
        f"/api/v1/footprints/{footprint['id']}/verification", headers=owner.headers
    ).get_json()
    assert document["bundle"]["signer"] is None
    verdict = verify_bundle(document, pinned=client.get("/.well-known/jwks.json").get_json())
    assert verdict.problems == ("the record is not signed by its owner",)
