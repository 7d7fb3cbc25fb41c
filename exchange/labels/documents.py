"""The certificate document a certification body signs: which record (by the digest of its
footprint) it certifies, for which product, and how long (two years at most).

Pure (signing and the standard library): the body's own machine builds it
(:mod:`exchange.client.labels`), and so does the portal, which drafts it for the body to sign
in the browser; the exchange checks it when the signed certificate arrives
(:mod:`exchange.labels.services.certificates`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from exchange import signing

CERTIFICATE_YEARS = 2


def footprint_digest(footprint: dict[str, Any]) -> str:
    """SHA-256 of the record's RFC 8785 footprint: how a certificate names what it certifies."""
    return hashlib.sha256(signing.canonical_json(footprint)).hexdigest()


def certificate_document(
    *,
    body_id: str,
    record_id: str,
    footprint: dict[str, Any],
    gtin: str,
    category: str,
    issued: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    standard: str | None = "GB/T 24067-2024",
    certificate_id: str | None = None,
) -> dict[str, Any]:
    """A certificate of one record, valid two years from ``issued`` (now) unless told less."""
    issued = (issued or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if valid_until is None:
        try:
            valid_until = issued.replace(year=issued.year + CERTIFICATE_YEARS)
        except ValueError:
            valid_until = issued.replace(year=issued.year + CERTIFICATE_YEARS, day=28)
    document: dict[str, Any] = {
        "id": certificate_id or str(uuid.uuid4()),
        "body": body_id,
        "record": record_id,
        "footprintDigest": footprint_digest(footprint),
        "gtin": gtin,
        "category": category,
        "issued": issued.isoformat().replace("+00:00", "Z"),
        "validUntil": valid_until.isoformat().replace("+00:00", "Z"),
    }
    if standard is not None:
        document["standard"] = standard
    return document
