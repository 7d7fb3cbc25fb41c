"""The signed trust list: the exchange's label keys, accredited bodies and partner programmes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import iso_or_none, utcnow
from exchange.keyring import ExchangeKey
from exchange.labels.models import (
    IssuerKey,
)
from exchange.labels.services.accreditation import accreditation_history, accredited_bodies
from exchange.labels.services.keys import ensure_issuer_key
from exchange.partners.models import SigningKey
from exchange.partners.services import keys_of


def trust_list(
    session: Session, key: ExchangeKey, *, origin: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The signed list of signers the exchange trusts, for offline verifiers to pin: its
    keys, the accredited bodies and the partner programmes, each with its history."""
    # Imported here: mutual recognition builds on labels (its bundles carry certificates).
    from exchange.mutual_recognition.services.programmes import trust_list_entries

    now = now or utcnow()
    ensure_issuer_key(session, key)
    bodies = []
    for organisation, accreditation in accredited_bodies(session):
        bodies.append(
            {
                "id": organisation.id,
                "name": organisation.name,
                "country": organisation.country,
                "status": accreditation.status.value,
                "history": [
                    {
                        "status": event.status.value,
                        "at": event.decided_at.isoformat(),
                        "reason": event.reason,
                    }
                    for event in accreditation_history(session, organisation.id)
                ],
                "keys": [_key_json(item) for item in keys_of(session, organisation.id)],
            }
        )
    payload = {
        "origin": origin.lower(),
        "issuedAt": now.isoformat(),
        "exchange": {
            "jwk": {**signing.public_jwk(key.public_key), "kid": key.kid},
            # Every exchange key, current and retired, with its validity: what was signed
            # before a rotation verifies by its kid.
            "keys": key.published(),
            "labelKeys": [
                {
                    **signing.public_jwk(item.public_key),
                    "kid": item.kid,
                    "notBefore": item.not_before.isoformat(),
                    "revokedAt": iso_or_none(item.revoked_at),
                }
                for item in session.scalars(sa.select(IssuerKey).order_by(IssuerKey.not_before))
            ],
        },
        "certificationBodies": bodies,
        "partnerProgrammes": trust_list_entries(session),
    }
    return {
        "trustList": payload,
        "signature": {
            "alg": signing.ALGORITHM,
            "kid": key.kid,
            "value": key.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload),
        },
    }


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        **signing.public_jwk(key.public_key),
        "kid": key.kid,
        "notBefore": key.not_before.isoformat(),
        "notAfter": iso_or_none(key.not_after),
        "revokedAt": iso_or_none(key.revoked_at),
    }
