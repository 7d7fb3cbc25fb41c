"""The signed trust list: the exchange's label keys, accredited bodies, partner programmes and
the witnesses of the exchange's log with their policy (k of n).

A list is good until its ``nextUpdate``; a verifier holding it past then can only say
"cannot confirm". The newest signed list is stored (``trust_lists``) and served as long as
what it lists is unchanged. ``exchange worker`` re-signs it once half its validity has
passed (:func:`schedule_renewal`, :func:`renew`); whoever asks for the list re-signs it at
once when what it lists changed (a key revoked, a body suspended: published on the next
request, not at the next renewal), when the exchange key was rotated, or when the worker
has fallen behind (three quarters of the validity gone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import iso_or_none, transaction, utcnow
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, enqueue
from exchange.keyring import ExchangeKey
from exchange.labels.models import IssuerKey, TrustListIssue
from exchange.labels.services.accreditation import accreditation_history, accredited_bodies
from exchange.labels.services.keys import ensure_issuer_key
from exchange.organisations.models import SigningKey
from exchange.organisations.services import keys_of
from exchange.partners.services import trust_list_entries
from exchange.witness import policy as witnessing

DEFAULT_VALIDITY: Final = dt.timedelta(days=3)
RENEW_JOB: Final = "labels.renew-trust-list"
# Fractions of a list's validity after which the worker, and failing it a request, re-sign.
WORKER_RENEWS_AT: Final = 0.5
REQUEST_RENEWS_AT: Final = 0.75


def validity_of(config: Mapping[str, Any]) -> dt.timedelta:
    """How long a newly signed list is good for: the TRUST_LIST_VALIDITY_SECONDS setting."""
    seconds = float(config.get("TRUST_LIST_VALIDITY_SECONDS", DEFAULT_VALIDITY.total_seconds()))
    if seconds < 60:
        raise ValueError("EXCHANGE_TRUST_LIST_VALIDITY_SECONDS must be at least 60")
    return dt.timedelta(seconds=seconds)


def trust_list_content(session: Session, key: ExchangeKey, *, origin: str) -> dict[str, Any]:
    """What the list says, without its times: the exchange's keys, the accredited bodies and
    the partner programmes, each with its history, and the log's witnesses."""
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
    return {
        "origin": origin.lower(),
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
        # Who cosigns the log's checkpoints and how many must: also as a C2SP tlog-policy.
        "witnesses": witnessing.trust_list_section(session, key, origin=origin),
    }


def sign_trust_list(
    content: Mapping[str, Any],
    key: ExchangeKey | signing.KeyPair,
    *,
    issued_at: dt.datetime,
    validity: dt.timedelta,
) -> dict[str, Any]:
    """The signed document of ``content`` issued at ``issued_at``, good for ``validity``."""
    payload = {
        **content,
        "issuedAt": issued_at.isoformat(),
        "nextUpdate": (issued_at + validity).isoformat(),
    }
    return {
        "trustList": payload,
        "signature": {
            "alg": signing.ALGORITHM,
            "kid": key.kid,
            "value": key.sign(context=signing.TRUST_LIST_CONTEXT, payload=payload),
        },
    }


def latest_trust_list(session: Session) -> TrustListIssue | None:
    newest = sa.select(TrustListIssue).order_by(TrustListIssue.id.desc()).limit(1)
    return session.scalars(newest).first()


def _due(issue: TrustListIssue, fraction: float) -> dt.datetime:
    return issue.issued_at + (issue.next_update - issue.issued_at) * fraction


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(dict(content))).hexdigest()


def trust_list(
    session: Session,
    key: ExchangeKey,
    *,
    origin: str,
    now: dt.datetime | None = None,
    validity: dt.timedelta | None = None,
    renew_at: float = REQUEST_RENEWS_AT,
) -> dict[str, Any]:
    """The current signed trust list: the stored one while it still says what the exchange
    trusts, is signed by ``key`` and has not reached ``renew_at`` of its validity; else a
    new one, stored. ``validity`` defaults to the last list's (the setting, as the view and
    the worker pass it)."""
    now = now or utcnow()
    content = trust_list_content(session, key, origin=origin)
    digest = _digest(content)
    latest = latest_trust_list(session)
    if (
        latest is not None
        and latest.content_digest == digest
        and latest.kid == key.kid
        and latest.issued_at <= now < _due(latest, renew_at)
    ):
        document: dict[str, Any] = json.loads(latest.document_json)
        return document
    if validity is None:
        validity = DEFAULT_VALIDITY if latest is None else latest.next_update - latest.issued_at
    document = sign_trust_list(content, key, issued_at=now, validity=validity)
    session.add(
        TrustListIssue(
            issued_at=now,
            next_update=now + validity,
            content_digest=digest,
            kid=key.kid,
            document_json=json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        )
    )
    session.flush()
    return document


def schedule_renewal(session: Session, now: dt.datetime, config: Mapping[str, Any]) -> None:
    """Queue a re-signing once half the newest list's validity has passed (or there is none
    yet), unless one is queued."""
    latest = latest_trust_list(session)
    if latest is not None and now < _due(latest, WORKER_RENEWS_AT):
        return
    pending = session.scalar(
        sa.select(Job.id).where(Job.kind == RENEW_JOB, Job.status == JobStatus.PENDING).limit(1)
    )
    if pending is None:
        enqueue(session, kind=RENEW_JOB, payload={}, now=now)


def renew(context: JobContext, payload: dict[str, Any]) -> None:
    """The worker's job: sign the list afresh unless a request did since it was queued."""
    with transaction(context.sessions) as session:
        trust_list(
            session,
            context.exchange_key,
            origin=str(context.config["EXCHANGE_ORIGIN"]),
            validity=validity_of(context.config),
            renew_at=WORKER_RENEWS_AT,
        )


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        **signing.public_jwk(key.public_key),
        "kid": key.kid,
        "notBefore": key.not_before.isoformat(),
        "notAfter": iso_or_none(key.not_after),
        "revokedAt": iso_or_none(key.revoked_at),
    }
