"""Offline checks of what the log hands out, against a pinned exchange public key.

A partner or regulator pins the exchange's Ed25519 public key (or all of its keys, current
and retired, from its JWK Set: each signature names its kid) and the log's origin, then
checks a receipt, an inclusion proof or a consistency proof with these pure functions:
no database, no network, no trust in the exchange's storage. Each raises
:class:`exchange.signing.SigningError` (its subclasses :class:`~exchange.log.merkle.ProofError`
and :class:`~exchange.log.note.NoteError`) when anything does not hold.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from exchange import signing
from exchange.log import merkle, note
from exchange.log.note import Checkpoint

__all__ = [
    "Checkpoint",
    "VerifiedReceipt",
    "verify_checkpoint",
    "verify_consistency_proof",
    "verify_inclusion_proof",
    "verify_receipt",
]


@dataclasses.dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    log_index: int
    leaf_hash: bytes
    checkpoint: Checkpoint
    issued_at: str


def verify_checkpoint(text: str, *, public_key: signing.PublicKeys, origin: str) -> Checkpoint:
    """The checkpoint in the signed note ``text``, signed by a pinned key for ``origin``."""
    return note.verify_checkpoint(text, origin=origin, public_key=public_key)


def verify_receipt(
    receipt: Mapping[str, Any],
    *,
    public_key: signing.PublicKeys,
    origin: str,
    entry: bytes | None = None,
) -> VerifiedReceipt:
    """Check a receipt: its signature, its checkpoint, and its entry's inclusion in it.

    With ``entry`` (the canonical signed object that was submitted) the receipt must also
    be for exactly those bytes.
    """
    if not isinstance(receipt, Mapping):
        raise signing.SigningError("a receipt is a JSON object")
    body, signature = receipt.get("receipt"), receipt.get("signature")
    if not isinstance(body, Mapping) or not isinstance(signature, Mapping):
        raise signing.SigningError('a receipt has a "receipt" and a "signature" object')
    if signature.get("alg") != signing.ALGORITHM:
        raise signing.SigningError("a receipt is signed with Ed25519")
    signer = signing.keys_by_kid(public_key).get(str(signature.get("kid")))
    if signer is None:
        raise signing.SigningError("the receipt is signed by another key than the pinned ones")
    value = signature.get("value")
    if not isinstance(value, str):
        raise signing.SigningError("the receipt's signature value is missing")
    signing.verify(
        context=signing.RECEIPT_CONTEXT, payload=dict(body), signature=value, public_key=signer
    )

    index = _integer(body, "logIndex")
    size = _integer(body, "treeSize")
    leaf = _hash(body.get("leafHash"), "leafHash")
    text = body.get("checkpoint")
    if not isinstance(text, str):
        raise signing.SigningError("the receipt carries no checkpoint")
    checkpoint = verify_checkpoint(text, public_key=public_key, origin=origin)
    if checkpoint.size != size:
        raise signing.SigningError("the receipt's tree size is not its checkpoint's")
    if entry is not None and merkle.leaf_hash(entry) != leaf:
        raise signing.SigningError("the receipt is for other content than the entry given")
    merkle.verify_inclusion(
        index,
        size,
        leaf,
        _hashes(body.get("inclusionProof"), "inclusionProof"),
        checkpoint.root_hash,
    )
    issued_at = body.get("issuedAt")
    if not isinstance(issued_at, str):
        raise signing.SigningError("the receipt has no issuedAt")
    return VerifiedReceipt(index, leaf, checkpoint, issued_at)


def verify_inclusion_proof(
    proof: Mapping[str, Any],
    checkpoint: str,
    *,
    public_key: signing.PublicKeys,
    origin: str,
    entry: bytes | None = None,
) -> int:
    """Check an inclusion proof (the log's JSON) against a signed checkpoint; the log index.

    The proof must be for the checkpoint's size and lead to its root; with ``entry`` its
    leaf must be that entry's.
    """
    signed = verify_checkpoint(checkpoint, public_key=public_key, origin=origin)
    if not isinstance(proof, Mapping):
        raise signing.SigningError("an inclusion proof is a JSON object")
    index, size = _integer(proof, "index"), _integer(proof, "size")
    leaf = _hash(proof.get("leafHash"), "leafHash")
    if size != signed.size:
        raise signing.SigningError(f"the proof is for size {size}, the checkpoint {signed.size}")
    if "rootHash" in proof and _hash(proof["rootHash"], "rootHash") != signed.root_hash:
        raise signing.SigningError("the proof's root is not the checkpoint's")
    if entry is not None and merkle.leaf_hash(entry) != leaf:
        raise signing.SigningError("the proof is for other content than the entry given")
    hashes = _hashes(proof.get("proof"), "proof")
    merkle.verify_inclusion(index, size, leaf, hashes, signed.root_hash)
    return index


def verify_consistency_proof(
    proof: Mapping[str, Any],
    first_checkpoint: str,
    second_checkpoint: str,
    *,
    public_key: signing.PublicKeys,
    origin: str,
) -> None:
    """Check that the log of ``second_checkpoint`` extends the log of ``first_checkpoint``."""
    first = verify_checkpoint(first_checkpoint, public_key=public_key, origin=origin)
    second = verify_checkpoint(second_checkpoint, public_key=public_key, origin=origin)
    if not isinstance(proof, Mapping):
        raise signing.SigningError("a consistency proof is a JSON object")
    if (_integer(proof, "first"), _integer(proof, "second")) != (first.size, second.size):
        raise signing.SigningError("the proof is for other sizes than the checkpoints'")
    merkle.verify_consistency(
        first.size,
        second.size,
        first.root_hash,
        second.root_hash,
        _hashes(proof.get("proof"), "proof"),
    )


def _integer(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise signing.SigningError(f"{name} is not a non-negative integer")
    return value


def _hash(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise signing.SigningError(f"{name} is not a base64 hash")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise signing.SigningError(f"{name} is not standard base64") from exc
    if len(raw) != merkle.HASH_SIZE or base64.b64encode(raw).decode("ascii") != value:
        raise signing.SigningError(f"{name} is not a canonical base64 32-byte hash")
    return raw


def _hashes(values: object, name: str) -> Sequence[bytes]:
    if not isinstance(values, list):
        raise signing.SigningError(f"{name} is not a list of hashes")
    return [_hash(value, name) for value in values]
