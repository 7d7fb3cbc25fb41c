"""The public log API over the test client: checkpoint, proofs, entries, bad parameters."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.db import transaction
from exchange.footprints.schemas import EnvelopeSignature
from exchange.footprints.services import entry_bytes
from exchange.log import merkle, note, services, verify
from exchange.organisations.models import Role
from tests.factories import add_member


def append(app: Flask, count: int, kind: str = "thing") -> list[int]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        start = services.tree_size(session)
        return services.append_entries(
            session,
            [(kind, str(i), f"object {i}".encode()) for i in range(start, start + count)],
        )


def pinned(app: Flask) -> dict[str, Any]:
    return {
        "public_key": app.extensions["exchange.key"].public_key,
        "origin": app.config["EXCHANGE_ORIGIN"],
    }


def assert_bad_request(response: Any, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == ("BadRequest" if status == 400 else "NotFound")


def test_checkpoint_is_a_signed_note_of_the_current_tree(app: Flask, client: FlaskClient) -> None:
    append(app, 13)
    response = client.get("/api/v1/log/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    checkpoint = verify.verify_checkpoint(text, **pinned(app))
    leaves = [merkle.leaf_hash(f"object {i}".encode()) for i in range(13)]
    assert (checkpoint.size, checkpoint.root_hash) == (13, merkle.root_of(leaves))
    assert client.get("/api/v1/log/checkpoint").get_data(as_text=True) == text  # stored once

    as_json = client.get("/api/v1/log/checkpoint?format=json").get_json()
    key = app.extensions["exchange.key"]
    assert as_json["note"] == text and as_json["treeSize"] == 13
    origin = app.config["EXCHANGE_ORIGIN"]
    assert as_json["verifierKey"] == note.verifier_key(origin, key.public_key)
    assert client.get("/api/v1/log/checkpoint?size=13").get_data(as_text=True) == text
    assert_bad_request(client.get("/api/v1/log/checkpoint?size=12"), 404)
    assert_bad_request(client.get("/api/v1/log/checkpoint?format=xml"))


def test_inclusion_proofs_verify_against_the_checkpoint(app: Flask, client: FlaskClient) -> None:
    append(app, 21)
    text = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    for index in (0, 7, 20):
        response = client.get(f"/api/v1/log/proof/inclusion?index={index}&size=21")
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"index", "size", "leafHash", "proof", "rootHash"}
        assert (
            verify.verify_inclusion_proof(
                body, text, entry=f"object {index}".encode(), **pinned(app)
            )
            == index
        )
        assert "immutable" in response.headers["Cache-Control"]
    current = client.get("/api/v1/log/proof/inclusion?index=3").get_json()
    assert current["size"] == 21
    with pytest.raises(signing.SigningError):
        verify.verify_inclusion_proof(current, text, entry=b"object 4", **pinned(app))


def test_consistency_proofs_verify_between_checkpoints(app: Flask, client: FlaskClient) -> None:
    append(app, 6)
    old = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    append(app, 30)
    new = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    body = client.get("/api/v1/log/proof/consistency?first=6&second=36").get_json()
    assert set(body) == {"first", "second", "firstRootHash", "secondRootHash", "proof"}
    verify.verify_consistency_proof(body, old, new, **pinned(app))
    assert client.get("/api/v1/log/proof/consistency?first=6").get_json() == body
    with pytest.raises(signing.SigningError):
        verify.verify_consistency_proof(body, new, old, **pinned(app))


@pytest.mark.parametrize(
    "query",
    [
        "proof/inclusion",
        "proof/inclusion?index=",
        "proof/inclusion?index=abc",
        "proof/inclusion?index=-1",
        "proof/inclusion?index=1.5",
        "proof/inclusion?index=%C2%B2",
        "proof/inclusion?index=5&size=5",
        "proof/inclusion?index=0&size=6",
        "proof/inclusion?index=0&size=0",
        "proof/inclusion?index=99999999999999999999999",
        "proof/consistency",
        "proof/consistency?first=0&second=5",
        "proof/consistency?first=3&second=2",
        "proof/consistency?first=1&second=6",
        "entries?start=6",
        "entries?start=x",
        "entries?start=3&end=2",
    ],
)
def test_bad_parameters_get_the_json_error_body(
    app: Flask, client: FlaskClient, query: str
) -> None:
    append(app, 5)
    assert_bad_request(client.get(f"/api/v1/log/{query}"))


def test_entries_are_paged_and_never_show_content(app: Flask, client: FlaskClient) -> None:
    append(app, 1005)
    body = client.get("/api/v1/log/entries?start=2&end=5000").get_json()
    assert (body["start"], body["end"], body["treeSize"]) == (2, 1002, 1005)
    assert len(body["entries"]) == 1000
    first = body["entries"][0]
    assert set(first) == {"index", "kind", "leafHash", "createdAt"}
    assert first["index"] == 2 and first["kind"] == "thing"
    assert first["leafHash"] == base64.b64encode(merkle.leaf_hash(b"object 2")).decode()
    tail = client.get("/api/v1/log/entries?start=1000").get_json()
    assert [entry["index"] for entry in tail["entries"]] == list(range(1000, 1005))
    assert client.get("/api/v1/log/entries?start=1005").get_json()["entries"] == []


def test_a_submitted_footprint_gets_a_receipt_and_stays_private(
    app: Flask, client: FlaskClient
) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    envelope = supplier.envelope(productNameCompany="Secret coconut water")
    response = client.post("/api/v1/footprints", json=envelope, headers=supplier.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    receipt = response.get_json()["receipt"]
    entry = entry_bytes(
        signing.canonical_json(envelope["footprint"]).decode(),
        EnvelopeSignature(**envelope["signature"]),
    )
    verified = verify.verify_receipt(receipt, entry=entry, **pinned(app))

    listing = client.get("/api/v1/log/entries").get_data(as_text=True)
    assert "Secret coconut water" not in listing
    assert envelope["footprint"]["id"] not in listing
    kinds = [entry["kind"] for entry in client.get("/api/v1/log/entries").get_json()["entries"]]
    assert kinds[verified.log_index] == "footprint"
    proof = client.get(
        f"/api/v1/log/proof/inclusion?index={verified.log_index}&size={verified.checkpoint.size}"
    ).get_json()
    checkpoint = receipt["receipt"]["checkpoint"]
    verify.verify_inclusion_proof(proof, checkpoint, entry=entry, **pinned(app))
