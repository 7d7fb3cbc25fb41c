"""The offline verifier a partner runs with only the pinned exchange key and origin."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from exchange import signing
from exchange.keyring import ExchangeKey
from exchange.log import merkle, note, services, verify

ORIGIN = "verify.test.example"
KEY = ExchangeKey.from_private_key(bytes(range(1, 33)))
OTHER = ExchangeKey.from_private_key(bytes(range(2, 34)))
PINNED: dict[str, Any] = {"public_key": KEY.public_key, "origin": ORIGIN}


def entry(i: int) -> bytes:
    return f'{{"entry":{i}}}'.encode()


@pytest.fixture
def receipts(db_session: Session) -> list[dict[str, Any]]:
    services.append_entries(db_session, [("thing", str(i), entry(i)) for i in range(10)])
    indexes = services.append_entries(
        db_session, [("thing", str(i), entry(i)) for i in range(10, 17)]
    )
    issued = services.issue_receipts(db_session, KEY, ORIGIN, indexes)
    db_session.commit()
    return issued


def resign(receipt: dict[str, Any], key: ExchangeKey = KEY) -> dict[str, Any]:
    receipt["signature"]["value"] = key.sign(
        context=signing.RECEIPT_CONTEXT, payload=receipt["receipt"]
    )
    return receipt


def test_a_receipt_verifies_offline(receipts: list[dict[str, Any]]) -> None:
    for offset, receipt in enumerate(receipts):
        verified = verify.verify_receipt(receipt, entry=entry(10 + offset), **PINNED)
        assert verified.log_index == 10 + offset
        assert verified.checkpoint.size == 17
        assert verified.leaf_hash == merkle.leaf_hash(entry(10 + offset))
        leaves = [merkle.leaf_hash(entry(i)) for i in range(17)]
        assert verified.checkpoint.root_hash == merkle.root_of(leaves)


def _flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


Mutation = Callable[[dict[str, Any]], None]


def setting(part: str, **values: Any) -> Mutation:
    return lambda receipt: receipt[part].update(values)


def flipping(name: str) -> Mutation:
    return lambda receipt: receipt["receipt"].update({name: _flip_b64(receipt["receipt"][name])})


def flip_proof_element(receipt: dict[str, Any]) -> None:
    proof = receipt["receipt"]["inclusionProof"]
    proof[0] = _flip_b64(proof[0])


def shorten_proof(receipt: dict[str, Any]) -> None:
    receipt["receipt"]["inclusionProof"].pop()


def forge_checkpoint_size(receipt: dict[str, Any]) -> None:
    body = receipt["receipt"]
    body["checkpoint"] = body["checkpoint"].replace("\n17\n", "\n18\n")


def checkpoint_by_another_key(receipt: dict[str, Any]) -> None:
    body = receipt["receipt"]
    signed = note.parse_checkpoint(body["checkpoint"].split("\n\n")[0] + "\n")
    body["checkpoint"] = note.sign_checkpoint(signed, name=ORIGIN, private_key=OTHER.private_key)


def reverse_signature(receipt: dict[str, Any]) -> None:
    receipt["signature"]["value"] = receipt["signature"]["value"][::-1]


def drop_signature(receipt: dict[str, Any]) -> None:
    del receipt["signature"]


# Changed after signing: the receipt's signature no longer covers it.
FORGERIES: dict[str, Mutation] = {
    "index changed": setting("receipt", logIndex=11),
    "leaf changed": flipping("leafHash"),
    "size changed": setting("receipt", treeSize=16),
    "issuedAt changed": setting("receipt", issuedAt="1970-01-01T00:00:00+00:00"),
    "signature alg": setting("signature", alg="ES256"),
    "signature kid": setting("signature", kid=OTHER.kid),
    "signature value": reverse_signature,
    "no signature": drop_signature,
}

# Re-signed with the exchange key, yet still wrong: the Merkle proof or checkpoint catches it.
RESIGNED: dict[str, Mutation] = {
    "index changed": setting("receipt", logIndex=11),
    "leaf changed": flipping("leafHash"),
    "size changed": setting("receipt", treeSize=16),
    "proof element": flip_proof_element,
    "proof shortened": shorten_proof,
    "checkpoint forged": forge_checkpoint_size,
    "checkpoint by another key": checkpoint_by_another_key,
    "proof not a list": setting("receipt", inclusionProof="x"),
    "index a boolean": setting("receipt", logIndex=True),
}


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_receipts_fail(receipts: list[dict[str, Any]], name: str) -> None:
    forged = copy.deepcopy(receipts[0])
    FORGERIES[name](forged)
    with pytest.raises(signing.SigningError):
        verify.verify_receipt(forged, **PINNED)


@pytest.mark.parametrize("name", RESIGNED)
def test_resigned_but_inconsistent_receipts_fail(receipts: list[dict[str, Any]], name: str) -> None:
    forged = copy.deepcopy(receipts[0])
    RESIGNED[name](forged)
    with pytest.raises(signing.SigningError):
        verify.verify_receipt(resign(forged), **PINNED)


def test_a_receipt_that_is_not_an_object_fails() -> None:
    with pytest.raises(signing.SigningError):
        verify.verify_receipt([], **PINNED)  # type: ignore[arg-type]


def test_a_receipt_is_only_good_for_its_own_entry_key_and_log(
    receipts: list[dict[str, Any]],
) -> None:
    with pytest.raises(signing.SigningError, match="other content"):
        verify.verify_receipt(receipts[0], entry=entry(11), **PINNED)
    with pytest.raises(signing.SigningError):
        verify.verify_receipt(receipts[0], public_key=OTHER.public_key, origin=ORIGIN)
    with pytest.raises(signing.SigningError):
        verify.verify_receipt(receipts[0], public_key=KEY.public_key, origin="other.example")
    with pytest.raises(signing.SigningError):
        verify.verify_receipt(resign(copy.deepcopy(receipts[0]), OTHER), **PINNED)


def test_inclusion_and_consistency_proofs_offline(db_session: Session) -> None:
    services.append_entries(db_session, [("thing", str(i), entry(i)) for i in range(5)])
    old = services.ensure_checkpoint(db_session, KEY, ORIGIN).note
    services.append_entries(db_session, [("thing", str(i), entry(i)) for i in range(5, 23)])
    new = services.ensure_checkpoint(db_session, KEY, ORIGIN).note
    db_session.commit()

    def b64(value: bytes) -> str:
        return base64.b64encode(value).decode()

    proof = services.inclusion_proof(db_session, 3, 23)
    body: dict[str, Any] = {
        "index": 3,
        "size": 23,
        "leafHash": b64(proof.leaf_hash),
        "proof": [b64(value) for value in proof.proof],
        "rootHash": b64(proof.root_hash),
    }
    assert verify.verify_inclusion_proof(body, new, entry=entry(3), **PINNED) == 3
    for bad in (
        {**body, "size": 22},
        {**body, "index": 4},
        {**body, "proof": body["proof"][:-1]},
        {**body, "rootHash": b64(bytes(32))},
        {**body, "leafHash": "not base64!"},
    ):
        with pytest.raises(signing.SigningError):
            verify.verify_inclusion_proof(bad, new, **PINNED)
    with pytest.raises(signing.SigningError):
        verify.verify_inclusion_proof(body, old, **PINNED)

    consistency = services.consistency_proof(db_session, 5, 23)
    body = {"first": 5, "second": 23, "proof": [b64(value) for value in consistency.proof]}
    verify.verify_consistency_proof(body, old, new, **PINNED)
    for bad in (
        {**body, "first": 4},
        {**body, "proof": body["proof"][1:]},
        {**body, "proof": [b64(bytes(32)), *body["proof"][1:]]},
    ):
        with pytest.raises(signing.SigningError):
            verify.verify_consistency_proof(bad, old, new, **PINNED)
    with pytest.raises(signing.SigningError):
        verify.verify_consistency_proof(body, new, old, **PINNED)
