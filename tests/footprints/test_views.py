"""The footprint API over the Flask test client: submit, read, lifecycle, sharing, bad input."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.db import transaction
from exchange.footprints import views as footprint_views
from exchange.footprints.models import FootprintRecord
from exchange.log.models import LogEntry
from exchange.organisations.models import AccessToken, Role
from exchange.organisations.services import hash_secret
from exchange.verifying import Verifier
from tests.factories import Member, add_member, json_of


@pytest.fixture
def supplier(app: Flask) -> Member:
    return add_member(app, Role.SUPPLIER)


@pytest.fixture
def customer(app: Flask) -> Member:
    return add_member(app, Role.CHAIN_OWNER)


def post(client: FlaskClient, member: Member | None, body: Any) -> Any:
    headers = member.headers if member else {}
    return client.post("/api/v1/footprints", json=body, headers=headers)


def stored_counts(app: Flask) -> tuple[int, int]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        records = session.scalar(sa.select(sa.func.count()).select_from(FootprintRecord))
        entries = session.scalar(
            sa.select(sa.func.count()).select_from(LogEntry).where(LogEntry.kind == "footprint")
        )
    return records or 0, entries or 0


def test_submitted_record_is_served_byte_for_byte_verifiable(
    client: FlaskClient, app: Flask, supplier: Member
) -> None:
    envelope = supplier.envelope()
    response = post(client, supplier, envelope)
    assert response.status_code == 201, json_of(response)
    result = json_of(response)
    assert result["status"] == "created"
    assert result["receipt"]["receipt"]["logIndex"] >= 0
    assert response.headers["Location"].endswith(f"/api/v1/footprints/{result['id']}")

    served = client.get(f"/api/v1/footprints/{result['id']}", headers=supplier.headers)
    assert served.status_code == 200
    document = json.loads(served.get_data(as_text=True))
    # The served footprint canonicalises to exactly what was signed, and verifies.
    assert signing.canonical_json(document["footprint"]) == signing.canonical_json(
        envelope["footprint"]
    )
    assert document["signature"] == envelope["signature"]
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=document["footprint"],
        signature=document["signature"]["value"],
        public_key=supplier.key.public_key,
    )
    assert document["exchange"]["status"] == "Active"
    assert document["exchange"]["logIndex"] == result["receipt"]["receipt"]["logIndex"]
    assert stored_counts(app) == (1, 1)


def test_resending_is_idempotent_and_a_changed_record_is_a_conflict(
    client: FlaskClient, app: Flask, supplier: Member
) -> None:
    envelope = supplier.envelope()
    first = post(client, supplier, envelope)
    again = post(client, supplier, envelope)
    assert again.status_code == 200
    assert json_of(again)["status"] == "unchanged"
    assert json_of(again)["id"] == json_of(first)["id"]
    assert (
        json_of(again)["receipt"]["receipt"]["logIndex"]
        == json_of(first)["receipt"]["receipt"]["logIndex"]
    )

    changed = supplier.key.sign_footprint({**envelope["footprint"], "comment": "changed"})
    conflict = post(client, supplier, changed)
    assert conflict.status_code == 409
    assert json_of(conflict)["code"] == "Conflict"
    assert stored_counts(app) == (1, 1)


@pytest.mark.parametrize("bit", [0, 9, 1000, 8 * 200 + 3])
def test_a_flipped_bit_in_the_footprint_is_refused(
    client: FlaskClient, app: Flask, supplier: Member, bit: int
) -> None:
    envelope = supplier.envelope()
    text = bytearray(json.dumps(envelope["footprint"]["productDescription"]).encode())
    position = 1 + (bit // 8) % (len(text) - 2)
    text[position] ^= 1 << (bit % 7)  # stays ASCII, so the JSON stays valid
    envelope["footprint"]["productDescription"] = json.loads(bytes(text))
    response = post(client, supplier, envelope)
    assert response.status_code == 400
    assert json_of(response)["code"] == "SignatureInvalid"
    assert stored_counts(app) == (0, 0)


@pytest.mark.parametrize("bit", [0, 200, 511])
def test_a_flipped_bit_in_the_signature_is_refused(
    client: FlaskClient, app: Flask, supplier: Member, bit: int
) -> None:
    envelope = supplier.envelope()
    raw = bytearray(signing.b64url_decode(envelope["signature"]["value"]))
    raw[bit // 8] ^= 1 << (bit % 8)
    envelope["signature"]["value"] = signing.b64url_encode(bytes(raw))
    response = post(client, supplier, envelope)
    assert response.status_code == 400
    assert json_of(response)["code"] == "SignatureInvalid"
    assert stored_counts(app) == (0, 0)


def test_keys_that_may_not_sign_are_refused(
    client: FlaskClient, app: Flask, supplier: Member, customer: Member
) -> None:
    unregistered = add_member(app, Role.SUPPLIER, register_key=False)
    response = post(client, unregistered, unregistered.envelope())
    assert (response.status_code, json_of(response)["code"]) == (400, "SignatureInvalid")
    assert "unknown key" in json_of(response)["message"]

    # The supplier signs with the customer's key id: someone else's key.
    envelope = customer.key.sign_footprint(supplier.footprint())
    response = post(client, supplier, envelope)
    assert (response.status_code, json_of(response)["code"]) == (403, "AccessDenied")

    revoked = client.post(
        f"/api/v1/keys/{supplier.key.kid}/revoke",
        json={"reason": "laptop stolen"},
        headers=supplier.headers,
    )
    assert revoked.status_code == 200, json_of(revoked)
    response = post(client, supplier, supplier.envelope())
    assert (response.status_code, json_of(response)["code"]) == (400, "SignatureInvalid")
    assert "laptop stolen" in json_of(response)["message"]
    assert stored_counts(app) == (0, 0)


def test_a_footprint_naming_another_company_is_refused(
    client: FlaskClient, supplier: Member, customer: Member
) -> None:
    envelope = supplier.key.sign_footprint(supplier.footprint(companyIds=customer.company_ids))
    response = post(client, supplier, envelope)
    assert (response.status_code, json_of(response)["code"]) == (403, "AccessDenied")


def test_schema_errors_list_every_field(client: FlaskClient, app: Flask, supplier: Member) -> None:
    footprint = supplier.footprint()
    footprint["pcf"]["declaredUnitAmount"] = "-1"
    footprint["pcf"]["fossilGhgEmissions"] = 0.35
    del footprint["productIds"]
    response = post(client, supplier, supplier.key.sign_footprint(footprint))
    assert response.status_code == 400
    fields = {item["field"] for item in json_of(response)["details"]}
    assert {"pcf.declaredUnitAmount", "pcf.fossilGhgEmissions", "productIds"} <= fields
    assert stored_counts(app) == (0, 0)


def test_malformed_requests_get_clear_errors(
    client: FlaskClient, app: Flask, supplier: Member
) -> None:
    response = client.post(
        "/api/v1/footprints",
        data="{nope",
        headers={**supplier.headers, "Content-Type": "application/json"},
    )
    assert (response.status_code, json_of(response)["code"]) == (400, "BadRequest")
    assert json_of(response)["details"][0]["line"] == 1

    response = client.post(
        "/api/v1/footprints", data="{}", headers={**supplier.headers, "Content-Type": "text/plain"}
    )
    assert (response.status_code, json_of(response)["code"]) == (415, "UnsupportedMediaType")

    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = post(client, supplier, supplier.envelope())
    assert (response.status_code, json_of(response)["code"]) == (413, "PayloadTooLarge")

    response = post(client, supplier, {"footprint": {}, "signature": {"alg": "RS256"}})
    assert response.status_code == 400
    assert {item["field"] for item in json_of(response)["details"]} >= {
        "signature.alg",
        "signature.kid",
    }
    assert stored_counts(app) == (0, 0)


def test_tokens_are_checked(client: FlaskClient, app: Flask, supplier: Member) -> None:
    assert post(client, None, supplier.envelope()).status_code == 401
    forged = {"Authorization": "Bearer " + "A" * 43}
    response = client.post("/api/v1/footprints", json=supplier.envelope(), headers=forged)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")

    with transaction(app.extensions["exchange.sessions"]) as session:
        token = session.get(AccessToken, hash_secret(supplier.token))
        assert token is not None
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    response = post(client, supplier, supplier.envelope())
    assert (response.status_code, json_of(response)["code"]) == (401, "TokenExpired")
    assert stored_counts(app) == (0, 0)


def test_successor_deprecates_and_rules_on_predecessors(
    client: FlaskClient, supplier: Member, customer: Member
) -> None:
    first = supplier.envelope()
    post(client, supplier, first)
    successor = supplier.envelope(precedingPfIds=[first["footprint"]["id"]])
    assert post(client, supplier, successor).status_code == 201
    old = client.get(f"/api/v1/footprints/{first['footprint']['id']}", headers=supplier.headers)
    assert json_of(old)["exchange"]["status"] == "Deprecated"
    assert json_of(old)["exchange"]["deprecatedBy"] == successor["footprint"]["id"]

    again = supplier.envelope(precedingPfIds=[first["footprint"]["id"]])
    response = post(client, supplier, again)
    assert (response.status_code, json_of(response)["code"]) == (409, "Conflict")

    theirs = customer.envelope()
    post(client, customer, theirs)
    response = post(client, supplier, supplier.envelope(precedingPfIds=[theirs["footprint"]["id"]]))
    assert response.status_code == 400
    # Someone else's record reads exactly like a missing one.
    missing = post(
        client, supplier, supplier.envelope(precedingPfIds=["0e1f4e52-8d7e-4f68-9c6f-5c1f5b0a9d11"])
    )
    assert json_of(response)["details"][0]["message"].replace(theirs["footprint"]["id"], "X") == (
        json_of(missing)["details"][0]["message"].replace(
            "0e1f4e52-8d7e-4f68-9c6f-5c1f5b0a9d11", "X"
        )
    )


def test_batch_accepts_good_items_and_reports_bad_ones_by_index(
    client: FlaskClient, app: Flask, supplier: Member
) -> None:
    good = [supplier.envelope() for _ in range(3)]
    tampered = supplier.envelope()
    tampered["footprint"]["comment"] = "edited after signing"
    broken = supplier.key.sign_footprint(supplier.footprint(specVersion=3))
    response = post(client, supplier, {"items": [good[0], tampered, good[1], broken, good[2]]})
    assert response.status_code == 207
    answer = json_of(response)
    assert (answer["accepted"], answer["rejected"]) == (3, 2)
    assert [item["status"] for item in answer["results"]] == [
        "created",
        "rejected",
        "created",
        "rejected",
        "created",
    ]
    assert answer["results"][1]["error"]["code"] == "SignatureInvalid"
    assert answer["results"][3]["error"]["details"][0]["field"] == "specVersion"
    indexes = [
        item["receipt"]["receipt"]["logIndex"] for item in answer["results"] if "receipt" in item
    ]
    assert indexes == sorted(indexes) and len(set(indexes)) == 3
    assert stored_counts(app) == (3, 3)


def _mixed_batch(supplier: Member, customer: Member) -> list[dict[str, Any]]:
    """Good envelopes around every kind of refusal, in the order the checks make them."""
    tampered = supplier.envelope()
    tampered["footprint"]["comment"] = "edited after signing"
    # Refused for its signature, not for its status: the signature is checked first.
    tampered_deprecated = supplier.envelope(status="Deprecated")
    tampered_deprecated["footprint"]["comment"] = "edited"
    misshapen = supplier.envelope()
    misshapen["signature"]["value"] = misshapen["signature"]["value"][:40]
    items = [supplier.envelope() for _ in range(6)]
    items[1:1] = [tampered, tampered_deprecated, misshapen]
    items[5:5] = [
        supplier.envelope(status="Deprecated"),
        supplier.key.sign_footprint(supplier.footprint(companyIds=customer.company_ids)),
        supplier.key.sign_footprint(supplier.footprint(specVersion=3)),
    ]
    return items


def _outcomes(answer: dict[str, Any]) -> list[tuple[str, str | None, Any]]:
    return [
        (item["status"], item.get("error", {}).get("code"), item.get("error", {}).get("details"))
        for item in answer["results"]
    ]


def test_a_batch_verified_in_the_pool_is_answered_as_one_verified_in_process(
    client: FlaskClient, app: Flask, supplier: Member, customer: Member
) -> None:
    in_process = post(client, supplier, {"items": _mixed_batch(supplier, customer)})
    assert not app.extensions["exchange.verifier"].running  # 12 items: below the threshold

    pool = Verifier(processes=1, threshold=2, chunk=3)
    app.extensions["exchange.verifier"] = pool
    try:
        assert pool.start(wait=True)
        pooled = post(client, supplier, {"items": _mixed_batch(supplier, customer)})
    finally:
        pool.close()
    assert pooled.status_code == in_process.status_code == 207
    assert _outcomes(json_of(pooled)) == _outcomes(json_of(in_process))
    assert [code for _, code, _ in _outcomes(json_of(pooled))] == [
        None,
        "SignatureInvalid",
        "SignatureInvalid",
        "BadRequest",
        None,
        "BadRequest",  # a ValidationFailed
        "AccessDenied",
        "BadRequest",
        None,
        None,
        None,
        None,
    ]
    assert json_of(pooled)["results"][1]["error"]["details"] == [
        {"field": "signature.value", "message": "signature does not match"}
    ]
    assert stored_counts(app) == (12, 12)


def test_batch_can_supersede_a_record_sent_earlier_in_the_same_batch(
    client: FlaskClient, supplier: Member
) -> None:
    first = supplier.envelope()
    second = supplier.envelope(precedingPfIds=[first["footprint"]["id"]])
    response = post(client, supplier, {"items": [first, second]})
    assert response.status_code == 200
    assert [item["recordStatus"] for item in json_of(response)["results"]] == [
        "Deprecated",
        "Active",
    ]


def test_records_are_private_until_shared_or_published(
    client: FlaskClient, app: Flask, supplier: Member, customer: Member
) -> None:
    envelope = supplier.envelope()
    record_id = json_of(post(client, supplier, envelope))["id"]
    url = f"/api/v1/footprints/{record_id}"
    assert client.get(url, headers=customer.headers).status_code == 404
    assert client.get(url).status_code == 404
    assert json_of(client.get("/api/v1/footprints", headers=customer.headers))["data"] == []

    share = client.post(
        "/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": record_id},
        headers=supplier.headers,
    )
    assert share.status_code == 201
    assert client.get(url, headers=customer.headers).status_code == 200
    listed = json_of(client.get("/api/v1/footprints", headers=customer.headers))["data"]
    assert [item["footprint"]["id"] for item in listed] == [record_id]

    assert (
        client.delete(
            f"/api/v1/shares/{json_of(share)['id']}", headers=supplier.headers
        ).status_code
        == 204
    )
    assert client.get(url, headers=customer.headers).status_code == 404

    published = client.put(
        f"{url}/disclosure", json={"disclosure": "public"}, headers=supplier.headers
    )
    assert published.status_code == 200
    assert client.get(url).status_code == 200
    # Only the owner may change who sees it.
    response = client.put(
        f"{url}/disclosure", json={"disclosure": "private"}, headers=customer.headers
    )
    assert response.status_code == 404


def test_sharing_a_product_covers_its_later_records(
    client: FlaskClient, supplier: Member, customer: Member
) -> None:
    product = "urn:gtin:5695872369587"
    response = client.post(
        "/api/v1/shares",
        json={"organisationId": customer.organisation_id, "productId": product.upper()},
        headers=supplier.headers,
    )
    assert response.status_code == 201
    later = json_of(post(client, supplier, supplier.envelope(productIds=[product])))["id"]
    other = json_of(
        post(client, supplier, supplier.envelope(productIds=["urn:gtin:4012345000009"]))
    )["id"]
    assert client.get(f"/api/v1/footprints/{later}", headers=customer.headers).status_code == 200
    assert client.get(f"/api/v1/footprints/{other}", headers=customer.headers).status_code == 404


def test_regulator_sees_what_is_disclosed_to_it(
    client: FlaskClient, app: Flask, supplier: Member
) -> None:
    regulator = add_member(app, Role.REGULATOR)
    record_id = json_of(post(client, supplier, supplier.envelope()))["id"]
    url = f"/api/v1/footprints/{record_id}"
    assert client.get(url, headers=regulator.headers).status_code == 404
    client.put(f"{url}/disclosure", json={"disclosure": "regulator"}, headers=supplier.headers)
    assert client.get(url, headers=regulator.headers).status_code == 200
    assert client.get(url).status_code == 404


def test_listing_pages_through_everything_once(client: FlaskClient, supplier: Member) -> None:
    ids = {json_of(post(client, supplier, supplier.envelope()))["id"] for _ in range(5)}
    seen: list[str] = []
    url: str | None = "/api/v1/footprints?limit=2"
    while url:
        response = client.get(url, headers=supplier.headers)
        assert response.status_code == 200
        seen += [item["footprint"]["id"] for item in json_of(response)["data"]]
        url = json_of(response).get("next")
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
            url = url.removeprefix("http://localhost")
    assert sorted(seen) == sorted(ids)
    assert client.get("/api/v1/footprints?limit=0", headers=supplier.headers).status_code == 400
    assert client.get("/api/v1/footprints?cursor=%%%", headers=supplier.headers).status_code == 400


def test_a_receipt_that_cannot_be_signed_loses_no_accepted_record(
    client: FlaskClient, app: Flask, supplier: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receipts are made after the records' commit (so that the log head is not held
    for them): when making them fails, the records are stored and logged all the same, and
    the supplier's resend answers "unchanged" with the receipt it missed."""
    envelope = supplier.envelope()

    def unsignable(*_args: object, **_kwargs: object) -> list[dict[str, object]]:
        raise signing.SigningError("the exchange key cannot be read")

    monkeypatch.setattr(footprint_views, "issue_receipts", unsignable)
    # The test app lets the error through (a server answers it 500, as any other bug).
    with pytest.raises(signing.SigningError):
        post(client, supplier, envelope)
    assert stored_counts(app) == (1, 1)
    monkeypatch.undo()
    again = post(client, supplier, envelope)
    assert again.status_code == 200, json_of(again)
    assert json_of(again)["status"] == "unchanged"
    receipt = json_of(again)["receipt"]["receipt"]
    assert receipt["logIndex"] >= 0 and receipt["treeSize"] > receipt["logIndex"]
    assert stored_counts(app) == (1, 1)
