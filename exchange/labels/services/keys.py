"""The exchange's label-signing keys as published: the current one, revocations, the trusted set."""

from __future__ import annotations

import datetime as dt
from typing import Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import lifecycle
from exchange.db import utcnow
from exchange.errors import (
    Conflict,
    NotFound,
)
from exchange.keyring import ExchangeKey
from exchange.labels.models import (
    IssuerKey,
)
from exchange.labels.verify import TrustedKey


def ensure_issuer_key(session: Session, key: ExchangeKey) -> IssuerKey:
    """The exchange's current key as a label key, registered on first use."""
    found = session.get(IssuerKey, key.kid)
    if found is not None:
        return found
    issuer = IssuerKey(
        kid=key.kid,
        public_key=key.public_key,
        not_before=utcnow(),
        revoked_at=None,
        revocation_reason=None,
    )
    try:
        with session.begin_nested():
            session.add(issuer)
    except sa.exc.IntegrityError:  # another worker registered it first
        found = session.get(IssuerKey, key.kid)
        assert found is not None
        return found
    return issuer


def revoke_issuer_key(
    session: Session, *, kid: str, reason: str, revoked_at: dt.datetime | None = None
) -> IssuerKey:
    """Revoke a label key (it leaked, or it is retired): labels it signs from that day fail."""
    key = session.get(IssuerKey, kid)
    if key is None:
        raise NotFound(f"no label key {kid}")
    if key.revoked_at is not None:
        raise Conflict(f"label key {kid} was revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = revoked_at or utcnow()
    key.revocation_reason = lifecycle.reason(reason, column=IssuerKey.revocation_reason)
    session.flush()
    return key


_TRUSTED_KEYS: Final = sa.select(
    IssuerKey.__table__.c.kid,
    IssuerKey.__table__.c.public_key,
    IssuerKey.__table__.c.not_before,
    IssuerKey.__table__.c.revoked_at,
).order_by(IssuerKey.__table__.c.not_before)


def trusted_keys(session: Session | sa.Connection) -> list[TrustedKey]:
    """Every label key the exchange ever had, with its revocation, as verifiers see them."""
    return [TrustedKey(*row) for row in session.execute(_TRUSTED_KEYS)]
