"""Wire form of the register's parts that other areas publish (the trust list's anchors)."""

from __future__ import annotations

from typing import Any

from exchange import signing
from exchange.db import iso_or_none
from exchange.partners.models import PartnerKey


def anchor_json(key: PartnerKey) -> dict[str, Any]:
    return {
        **signing.public_jwk(key.public_key),
        "kid": key.kid,
        "source": key.source,
        "addedAt": key.added_at.isoformat(),
        "revokedAt": iso_or_none(key.revoked_at),
    }
