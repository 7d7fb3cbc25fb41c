"""Certification bodies' and verifiers' side of labels, run on their own machines.

A body signs its certificate locally (the exchange only ever sees the signature); anyone
holding the exchange's public key can verify a scanned label offline against the signed
trust list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from exchange import signing
from exchange.labels.documents import certificate_document, footprint_digest
from exchange.labels.verify import Verdict, open_trust_list, verify_label

# The body's side: the document is the labels area's (the portal drafts the same one).
__all__ = ["certificate_document", "footprint_digest", "sign_certificate", "verify_label_offline"]


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
