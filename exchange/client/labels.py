"""Certification bodies' and verifiers' side of labels, run on their own machines.

A body signs its certificate locally (the exchange only ever sees the signature); anyone
holding the exchange's public key can verify a scanned label offline against the signed
trust list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from exchange import signing
from exchange.labels.verify import Verdict, open_trust_list, verify_label

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


def sign_certificate(key: signing.KeyPair, document: dict[str, Any]) -> dict[str, Any]:
    """The envelope ``POST /api/v1/certificates`` takes."""
    value = key.sign(context=signing.CERTIFICATE_CONTEXT, payload=document)
    return {
        "certificate": document,
        "signature": {"alg": signing.ALGORITHM, "kid": key.kid, "value": value},
    }


def verify_label_offline(
    text: str,
    *,
    trust_list: Any,
    pinned: Sequence[bytes],
    now: dt.datetime | None = None,
) -> Verdict:
    """A scanned label checked with no network: the trust list must be signed by a pinned key
    and still current at ``now`` (else :class:`~exchange.labels.verify.TrustListStale`: the
    label can be neither confirmed nor refused until a fresh list is fetched).

    Whether the exchange issued this label with these claims, and whether its certificate was
    suspended or revoked since, cannot be seen offline; ask ``POST /api/v1/labels/verify``
    (``ExchangeClient.verify_label``) when a connection is there.
    """
    now = now or dt.datetime.now(dt.UTC)
    origin, keys, _payload = open_trust_list(trust_list, pinned=pinned, now=now)
    return verify_label(text, origin=origin, keys=keys, today=now.date())
