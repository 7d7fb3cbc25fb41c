"""The witness's own Ed25519 key, in the keys folder beside the exchange's.

It is a separate key on purpose: a cosignature says "I checked this log's consistency",
which the exchange's signing key (labels, receipts, checkpoints of its own log) must never
be able to say about a log by accident. Its verifier key (type 0x04) is what partner
programmes pin in their witness policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from exchange import signing
from exchange.keyring import load_or_create_seed
from exchange.log import cosignature

WITNESS_KEY_FILE: Final = "witness-signing-key"


@dataclasses.dataclass(frozen=True, slots=True)
class WitnessKey:
    """This exchange's witness: its key name and key pair."""

    name: str
    key: signing.KeyPair

    @property
    def verifier_key(self) -> str:
        return cosignature.cosigner_key(self.name, self.key.public_key)


def witness_name(config: Mapping[str, Any]) -> str:
    """EXCHANGE_WITNESS_NAME, or ``<origin>/witness``."""
    name = str(config.get("WITNESS_NAME") or f"{config['EXCHANGE_ORIGIN']}/witness")
    cosignature.key_id(name, cosignature.COSIGNATURE_ED25519, bytes(32))  # a valid key name
    return name


def load_witness_key(keys_path: Path, config: Mapping[str, Any]) -> WitnessKey:
    """The witness key in ``keys_path`` (made at first use, readable by its owner only)."""
    seed, _ = load_or_create_seed(keys_path / WITNESS_KEY_FILE)
    return WitnessKey(witness_name(config), signing.KeyPair.from_private_key(seed))
