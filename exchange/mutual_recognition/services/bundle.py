"""Outbound verification: everything a partner needs to verify one of our records offline.

The bundle holds the envelope, the signer's key with its status, the certificates of the
record with their grades, inclusion proofs of the record and of the signer key's
registration under one signed checkpoint, our recognitions of the record (when it is a
partner's), the signed trust list and, for a derived footprint, the exchange's attestation
of its inputs with the openings of the lines the bundle's reader may see; the exchange
signs the whole bundle (``footprint-exchange:verification:v1``) so the statuses it states
are attributable. :func:`exchange.mutual_recognition.verify.verify_bundle` checks it with
nothing else than the pinned exchange key.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.aggregation import services as aggregation
from exchange.db import iso_or_none, utcnow
from exchange.footprints import services as footprints
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import FlowKind
from exchange.keyring import ExchangeKey
from exchange.labels import services as labels
from exchange.labels.models import Certificate
from exchange.log import services as log
from exchange.log.models import LogEntry
from exchange.log.schemas import b64
from exchange.mutual_recognition.services.recognition import recognitions_of_record
from exchange.organisations.models import Organisation, SigningKey
from exchange.organisations.principals import Principal
from exchange.organisations.services import key_status
from exchange.witness import policy as witnessing

BUNDLE_FORMAT: Final = "footprint-exchange:verification-bundle:v1"


def _proof(session: Session, index: int, size: int) -> dict[str, Any]:
    proof = log.inclusion_proof(session, index, size)
    return {
        "index": proof.index,
        "size": proof.size,
        "leafHash": b64(proof.leaf_hash),
        "proof": [b64(value) for value in proof.proof],
        "rootHash": b64(proof.root_hash),
    }


def _signer(
    session: Session, kid: str, size: int, now: dt.datetime, received_at: dt.datetime
) -> dict[str, Any] | None:
    key = session.get(SigningKey, kid)
    if key is None:
        return None
    organisation = session.get(Organisation, key.organisation_id)
    assert organisation is not None
    key_index = session.scalar(
        sa.select(LogEntry.log_index)
        .where(LogEntry.kind == SigningKey.log.kind, LogEntry.ref == kid)
        .order_by(LogEntry.log_index)
        .limit(1)
    )
    return {
        "jwk": {**signing.public_jwk(key.public_key), "kid": key.kid},
        "organisation": {
            "id": organisation.id,
            "name": organisation.name,
            "country": organisation.country,
        },
        "notBefore": key.not_before.isoformat(),
        "notAfter": iso_or_none(key.not_after),
        "revokedAt": iso_or_none(key.revoked_at),
        "revocationReason": key.revocation_reason,
        "status": key_status(key, now),
        # What counts for this record: the key's status when the exchange received it. A
        # key revoked later leaves the signature standing; one revoked before does not.
        "statusAtReceipt": key_status(key, received_at),
        # The registration's log entry (the organisation, the JWK and the window), so that
        # a verifier sees the key was registered in the log the checkpoint signs.
        "registration": json.loads(key.log_entry()),
        "registrationProof": None
        if key_index is None or key_index >= size
        else _proof(session, key_index, size),
    }


def _covering(session: Session, record: Any) -> int:
    """How many entries a checkpoint needs to prove the record, its signer key's registration
    and its recognitions."""
    indexes = [int(record.log_index)]
    if record.signature_kid is not None:
        key_index = session.scalar(
            sa.select(sa.func.min(LogEntry.log_index)).where(
                LogEntry.kind == SigningKey.log.kind, LogEntry.ref == record.signature_kid
            )
        )
        if key_index is not None:
            indexes.append(int(key_index))
    indexes.extend(item.log_index for item in recognitions_of_record(session, record.id))
    return max(indexes) + 1


def _certificates(session: Session, record_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    found = []
    for certificate in session.scalars(
        sa.select(Certificate).where(Certificate.record_id == record_id).order_by(Certificate.id)
    ):
        grade = labels.current_grade(session, certificate.id)
        body_status = labels.accreditation_status(session, certificate.body_id)
        found.append(
            {
                "id": certificate.id,
                "certificate": json.loads(certificate.document_json),
                "signature": {
                    "alg": signing.ALGORITHM,
                    "kid": certificate.kid,
                    "value": certificate.signature,
                },
                "status": labels.effective_status(certificate, body_status, now),
                "grade": None
                if grade is None
                else {
                    "grade": grade.grade,
                    "schemeId": grade.scheme_id,
                    "schemeVersion": grade.scheme.version,
                    "gradedAt": grade.graded_at.isoformat(),
                },
            }
        )
    return found


def verification_bundle(
    session: Session,
    principal: Principal | None,
    record_id: str,
    *,
    key: ExchangeKey,
    origin: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The signed bundle of a record the caller may read (the one visibility rule)."""
    now = now or utcnow()
    record = footprints.get_record(session, principal, record_id)
    flows.record_reads(session, principal, [record], FlowKind.VERIFICATION_BUNDLE, now=now)
    # Before the checkpoint: an attestation issued now for a derived record falls under it.
    derived = aggregation.bundle_part(session, principal, record, key=key, origin=origin)
    covering = _covering(session, record)
    attestation = None if derived is None else derived.opened.attestation
    if attestation is not None:
        covering = max(covering, attestation.log_index + 1)
    # The newest checkpoint the witnesses cosigned that covers every entry proved here (else
    # the current one): what a verifier requiring the witness policy can accept.
    checkpoint = witnessing.checkpoint_for(session, key, origin, covering=covering)
    size = checkpoint.tree_size
    signature = footprints.signature_of(record)
    served = footprints.served_to(session, [record], principal)[record.id]
    envelope: dict[str, Any] = {
        "footprint": json.loads(served),
        "signature": None if signature is None else signature.model_dump(),
    }
    if served != record.footprint_json:
        # Signed with inputs the reader may not see: the exchange's attestation vouches
        # for the owner's signature over what it withholds.
        envelope["withheld"] = True
    payload: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "origin": origin,
        "issuedAt": now.isoformat(),
        "envelope": envelope,
        "record": {
            "id": record.id,
            "owner": record.owner_id,
            "status": record.status.value,
            "disclosure": record.disclosure.value,
            "receivedAt": record.received_at.isoformat(),
            "logIndex": record.log_index,
            "deprecatedBy": record.deprecated_by_id,
        },
        "signer": None
        if record.signature_kid is None
        else _signer(session, record.signature_kid, size, now, record.received_at),
        "certificates": _certificates(session, record.id, now),
        "log": {
            "checkpoint": checkpoint.note,
            "inclusionProof": _proof(session, record.log_index, size),
        },
        "recognitions": [
            {
                "recognition": json.loads(item.document_json),
                "signature": {"alg": signing.ALGORITHM, "kid": item.kid, "value": item.signature},
                "status": "flagged" if item.flagged_at is not None else "standing",
                "flagReason": item.flag_reason,
                "logIndex": item.log_index,
                "inclusionProof": _proof(session, item.log_index, size)
                if item.log_index < size
                else None,
            }
            for item in recognitions_of_record(session, record.id)
        ],
        "trustList": labels.trust_list(session, key, origin=origin, now=now),
        "provenance": None if derived is None else derived.to_json(session, size),
    }
    return {
        "bundle": payload,
        "signature": {
            "alg": signing.ALGORITHM,
            "kid": key.kid,
            "value": key.sign(context=signing.VERIFICATION_CONTEXT, payload=payload),
        },
    }
