"""Wire shapes of the log's answers: hashes in standard padded base64, times in ISO 8601."""

from __future__ import annotations

import base64
from typing import Any

from exchange.log.models import LogCheckpoint
from exchange.log.services import ConsistencyProof, EntrySummary, InclusionProof


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def inclusion_json(proof: InclusionProof) -> dict[str, Any]:
    return {
        "index": proof.index,
        "size": proof.size,
        "leafHash": b64(proof.leaf_hash),
        "proof": [b64(value) for value in proof.proof],
        "rootHash": b64(proof.root_hash),
    }


def consistency_json(proof: ConsistencyProof) -> dict[str, Any]:
    return {
        "first": proof.first,
        "second": proof.second,
        "firstRootHash": b64(proof.first_root),
        "secondRootHash": b64(proof.second_root),
        "proof": [b64(value) for value in proof.proof],
    }


def entry_json(entry: EntrySummary) -> dict[str, Any]:
    return {
        "index": entry.index,
        "kind": entry.kind,
        "leafHash": b64(entry.leaf_hash),
        "createdAt": entry.created_at.isoformat(),
    }


def checkpoint_json(checkpoint: LogCheckpoint, *, origin: str, verifier_key: str) -> dict[str, Any]:
    return {
        "origin": origin,
        "treeSize": checkpoint.tree_size,
        "rootHash": b64(checkpoint.root_hash),
        "note": checkpoint.note,
        "verifierKey": verifier_key,
        "createdAt": checkpoint.created_at.isoformat(),
    }
