"""Submitting, reading and sharing signed footprint records.

Submission works on whole batches: the pure checks (envelope, PACT schema, signature) run
item by item, the database is asked once per batch for the keys, the existing records and
the predecessors, and every accepted record is written with its log entry in the caller's
transaction, so a record is either stored, logged and acknowledged, or not at all.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import utcnow
from exchange.errors import (
    AccessDenied,
    BadRequest,
    Conflict,
    ExchangeError,
    NotFound,
    SignatureInvalid,
    ValidationFailed,
)
from exchange.footprints.models import (
    Disclosure,
    FootprintProduct,
    FootprintRecord,
    RecordStatus,
    Share,
)
from exchange.footprints.schemas import EnvelopeSignature, SignedEnvelope, parse_envelope
from exchange.pact.schemas import ProductFootprint, parse_product_footprint
from exchange.partners.models import CompanyIdentifier, Organisation, Role, SigningKey
from exchange.partners.services import Principal, keys_by_kid
from exchange.rules.services import check_footprints_against_rules

LOG_KIND = "footprint"
LogAppender = Callable[[Session, Sequence[tuple[str, str, bytes]]], list[int]]


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one submitted envelope."""

    index: int
    accepted: bool
    created: bool = False
    record: FootprintRecord | None = None
    error: ExchangeError | None = None


@dataclasses.dataclass(slots=True)
class _Candidate:
    index: int
    envelope: SignedEnvelope
    footprint: ProductFootprint
    canonical: str
    digest: str


def entry_bytes(footprint_json: str, signature: EnvelopeSignature) -> bytes:
    """The log entry of a record: the RFC 8785 form of its envelope, which anyone can recompute.

    Built by concatenation because ``footprint_json`` is canonical already and every other
    member is plain ASCII in sorted order; a test holds it equal to the canonicaliser's output.
    """
    return (
        f'{{"footprint":{footprint_json},"signature":{{"alg":"{signature.alg}",'
        f'"kid":"{signature.kid}","value":"{signature.value}"}}}}'
    ).encode()


def _digest(canonical: str, signature: EnvelopeSignature) -> str:
    return hashlib.sha256(f"{canonical}\n{signature.kid}\n{signature.value}".encode()).hexdigest()


def _check_item(
    index: int,
    value: object,
    *,
    organisation_urns: frozenset[str],
    keys: Mapping[str, SigningKey],
    organisation_id: str,
    now: dt.datetime,
) -> _Candidate:
    envelope = parse_envelope(value)
    footprint = parse_product_footprint(envelope.footprint)
    try:
        canonical = signing.canonical_json(envelope.footprint)
    except signing.SigningError as exc:
        raise ValidationFailed(
            str(exc), details=[{"field": "footprint", "message": str(exc)}]
        ) from exc
    kid = envelope.signature.kid
    key = keys.get(kid)
    if key is None:
        raise SignatureInvalid(
            f"unknown key {kid}: register the public key first",
            details=[{"field": "signature.kid", "message": "unknown key"}],
        )
    if key.organisation_id != organisation_id:
        raise AccessDenied(
            f"key {kid} belongs to another organisation",
            details=[{"field": "signature.kid", "message": "not your key"}],
        )
    if not key.valid_at(now):
        why = (
            f"revoked at {key.revoked_at.isoformat()}: {key.revocation_reason}"
            if key.revoked_at is not None and key.revoked_at <= now
            else "outside its validity window"
        )
        raise SignatureInvalid(
            f"key {kid} may not sign now: {why}",
            details=[{"field": "signature.kid", "message": why}],
        )
    try:
        signing.verify_bytes(
            message=signing.FOOTPRINT_CONTEXT.encode("ascii") + b"\n" + canonical,
            signature=envelope.signature.value,
            public_key=key.public_key,
        )
    except signing.SigningError as exc:
        raise SignatureInvalid(
            "the signature does not match the footprint",
            details=[{"field": "signature.value", "message": str(exc)}],
        ) from exc
    if footprint.status != RecordStatus.ACTIVE.value:
        raise ValidationFailed(
            "a new record must be Active; a successor deprecates it",
            details=[{"field": "status", "message": "must be Active"}],
        )
    if not {urn.lower() for urn in footprint.company_ids} & organisation_urns:
        raise AccessDenied(
            "companyIds name none of your organisation's company ids",
            details=[{"field": "companyIds", "message": "must include one of your company ids"}],
        )
    text = canonical.decode("utf-8")
    return _Candidate(index, envelope, footprint, text, _digest(text, envelope.signature))


def submit(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[object],
    append_to_log: LogAppender,
    disclosure: Disclosure = Disclosure.PRIVATE,
) -> list[Outcome]:
    """Verify and store a batch of envelopes; each gets an outcome, good ones are kept."""
    principal.require_scope("footprints:write")
    now = utcnow()
    organisation_urns = frozenset(
        urn.lower()
        for urn in session.scalars(
            sa.select(CompanyIdentifier.urn).where(
                CompanyIdentifier.organisation_id == principal.organisation_id
            )
        )
    )
    keys = keys_by_kid(
        session,
        (
            item["signature"]["kid"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("signature"), dict)
            and isinstance(item["signature"].get("kid"), str)
        ),
    )

    outcomes: dict[int, Outcome] = {}
    candidates: list[_Candidate] = []
    for index, value in enumerate(items):
        try:
            candidates.append(
                _check_item(
                    index,
                    value,
                    organisation_urns=organisation_urns,
                    keys=keys,
                    organisation_id=principal.organisation_id,
                    now=now,
                )
            )
        except ExchangeError as error:
            outcomes[index] = Outcome(index=index, accepted=False, error=error)
    rule_errors = check_footprints_against_rules(session, [c.footprint for c in candidates])
    for candidate, details in zip(candidates, rule_errors, strict=True):
        if details:
            refusal = ValidationFailed("the record breaks a rule it cites", details=details)
            outcomes[candidate.index] = Outcome(candidate.index, accepted=False, error=refusal)
    candidates = [c for c, details in zip(candidates, rule_errors, strict=True) if not details]

    ids = {str(candidate.footprint.id).lower() for candidate in candidates}
    predecessor_ids = {
        str(pid).lower()
        for candidate in candidates
        for pid in candidate.footprint.preceding_pf_ids or ()
    }
    known = _records_by_id(session, ids | predecessor_ids)

    new_records: list[FootprintRecord] = []
    product_rows: list[dict[str, str]] = []
    for candidate in candidates:
        record_id = str(candidate.footprint.id).lower()
        try:
            existing = known.get(record_id)
            if existing is not None:
                if existing.owner_id == principal.organisation_id and (
                    existing.envelope_digest == candidate.digest
                ):
                    outcomes[candidate.index] = Outcome(
                        index=candidate.index, accepted=True, created=False, record=existing
                    )
                    continue
                raise Conflict(
                    f"a different record with id {record_id} already exists; "
                    "a change is a new record whose precedingPfIds names the old one",
                    details=[{"field": "id", "message": "already used"}],
                )
            preceding = [str(pid).lower() for pid in candidate.footprint.preceding_pf_ids or ()]
            _check_predecessors(preceding, record_id, known, principal.organisation_id)
        except ExchangeError as error:
            outcomes[candidate.index] = Outcome(index=candidate.index, accepted=False, error=error)
            continue
        record = FootprintRecord(
            id=record_id,
            owner_id=principal.organisation_id,
            status=RecordStatus.ACTIVE,
            disclosure=disclosure,
            footprint_json=candidate.canonical,
            signature_kid=candidate.envelope.signature.kid,
            signature=candidate.envelope.signature.value,
            envelope_digest=candidate.digest,
            received_at=now,
            deprecated_by_id=None,
            log_index=-1,  # set once the log has given the batch its indexes
        )
        known[record_id] = record
        for pid in preceding:
            # A stored predecessor is updated by the session's flush; one submitted earlier in
            # this batch is inserted already deprecated.
            known[pid].status = RecordStatus.DEPRECATED
            known[pid].deprecated_by_id = record_id
        new_records.append(record)
        product_rows.extend(
            {"record_id": record_id, "product_id": product}
            for product in sorted({str(p).lower() for p in candidate.footprint.product_ids})
        )
        outcomes[candidate.index] = Outcome(
            index=candidate.index, accepted=True, created=True, record=record
        )

    if new_records:
        indexes = append_to_log(
            session,
            [
                (LOG_KIND, record.id, entry_bytes(record.footprint_json, _signature_of(record)))
                for record in new_records
            ],
        )
        for record, log_index in zip(new_records, indexes, strict=True):
            record.log_index = log_index
        session.execute(sa.insert(FootprintRecord), [_row(record) for record in new_records])
        session.execute(sa.insert(FootprintProduct), product_rows)
        session.flush()  # deprecations of stored records
    return [outcomes[index] for index in range(len(items))]


_RECORD_COLUMNS = tuple(column.key for column in FootprintRecord.__table__.columns)


def _row(record: FootprintRecord) -> dict[str, Any]:
    return {key: getattr(record, key) for key in _RECORD_COLUMNS}


def _signature_of(record: FootprintRecord) -> EnvelopeSignature:
    return EnvelopeSignature(alg="Ed25519", kid=record.signature_kid, value=record.signature)


def _check_predecessors(
    preceding: Sequence[str],
    record_id: str,
    known: Mapping[str, FootprintRecord],
    organisation_id: str,
) -> None:
    errors: list[dict[str, str]] = []
    for position, pid in enumerate(preceding):
        field = f"precedingPfIds.{position}"
        old = known.get(pid)
        if pid == record_id:
            errors.append({"field": field, "message": "a record cannot precede itself"})
        elif old is None or old.owner_id != organisation_id:
            # Someone else's record is reported like a missing one: no hint that it exists.
            errors.append({"field": field, "message": f"you have no record {pid}"})
        elif old.status == RecordStatus.DEPRECATED:
            raise Conflict(
                f"record {pid} is already deprecated by {old.deprecated_by_id}; "
                "name the newest record",
                details=[{"field": field, "message": "already deprecated"}],
            )
    if errors:
        raise ValidationFailed("precedingPfIds must name your own Active records", details=errors)


def _records_by_id(session: Session, ids: set[str]) -> dict[str, FootprintRecord]:
    found: dict[str, FootprintRecord] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        found.update(
            (record.id, record)
            for record in session.scalars(
                sa.select(FootprintRecord).where(FootprintRecord.id.in_(chunk))
            )
        )
    return found


# --- reading ---------------------------------------------------------------------------


def _visible_clause(principal: Principal | None) -> sa.ColumnElement[bool]:
    public = FootprintRecord.disclosure == Disclosure.PUBLIC
    if principal is None:
        return public
    me = principal.organisation_id
    clauses: list[sa.ColumnElement[bool]] = [
        public,
        FootprintRecord.owner_id == me,
        sa.exists().where(Share.grantee_id == me, Share.record_id == FootprintRecord.id),
        sa.exists().where(
            Share.grantee_id == me,
            Share.owner_id == FootprintRecord.owner_id,
            Share.product_id == FootprintProduct.product_id,
            FootprintProduct.record_id == FootprintRecord.id,
        ),
    ]
    if Role.REGULATOR in principal.roles:
        clauses.append(FootprintRecord.disclosure == Disclosure.REGULATOR)
    return sa.or_(*clauses)


def get_record(session: Session, principal: Principal | None, record_id: str) -> FootprintRecord:
    """A record the caller may see; any other is "not found", never "forbidden"."""
    if principal is not None:
        principal.require_scope("footprints:read")
    record = session.scalar(
        sa.select(FootprintRecord).where(
            FootprintRecord.id == record_id.lower(), _visible_clause(principal)
        )
    )
    if record is None:
        raise NotFound(f"no footprint {record_id}")
    return record


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    records: list[FootprintRecord]
    next_cursor: str | None


def encode_cursor(record: FootprintRecord) -> str:
    text = f"{record.received_at.isoformat()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, record_id = text.split("|", 1)
        return dt.datetime.fromisoformat(moment), record_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("the page cursor is not valid; start again without it") from exc


def list_records(
    session: Session,
    principal: Principal | None,
    *,
    limit: int,
    cursor: str | None = None,
    status: RecordStatus | None = None,
    owned_only: bool = False,
) -> Page:
    """Records the caller may see, newest first, in pages."""
    if principal is not None:
        principal.require_scope("footprints:read")
    query = sa.select(FootprintRecord).where(_visible_clause(principal))
    if owned_only and principal is not None:
        query = query.where(FootprintRecord.owner_id == principal.organisation_id)
    if status is not None:
        query = query.where(FootprintRecord.status == status)
    if cursor:
        moment, record_id = _decode_cursor(cursor)
        query = query.where(
            sa.or_(
                FootprintRecord.received_at < moment,
                sa.and_(FootprintRecord.received_at == moment, FootprintRecord.id < record_id),
            )
        )
    query = query.order_by(FootprintRecord.received_at.desc(), FootprintRecord.id.desc()).limit(
        limit + 1
    )
    records = list(session.scalars(query))
    more = len(records) > limit
    records = records[:limit]
    return Page(records=records, next_cursor=encode_cursor(records[-1]) if more else None)


# --- sharing and disclosure ------------------------------------------------------------


def _own_record(session: Session, principal: Principal, record_id: str) -> FootprintRecord:
    record = session.get(FootprintRecord, record_id.lower())
    if record is None or record.owner_id != principal.organisation_id:
        raise NotFound(f"you have no footprint {record_id}")
    return record


def share(
    session: Session,
    principal: Principal,
    *,
    grantee_id: str,
    record_id: str | None = None,
    product_id: str | None = None,
) -> Share:
    """Grant one record, or every record of one of the owner's products, to an organisation."""
    principal.require_scope("footprints:write")
    if (record_id is None) == (product_id is None):
        raise ValidationFailed(
            "share either one record or one product",
            details=[{"field": "recordId|productId", "message": "give exactly one"}],
        )
    if session.get(Organisation, grantee_id) is None:
        raise NotFound(f"no organisation {grantee_id}")
    if grantee_id == principal.organisation_id:
        raise ValidationFailed("you always see your own records")
    query = sa.select(Share).where(
        Share.owner_id == principal.organisation_id, Share.grantee_id == grantee_id
    )
    if record_id is not None:
        record_id = _own_record(session, principal, record_id).id
        query = query.where(Share.record_id == record_id)
    else:
        assert product_id is not None
        product_id = product_id.lower()
        query = query.where(Share.product_id == product_id)
    existing = session.scalar(query)
    if existing is not None:
        return existing
    grant = Share(
        owner_id=principal.organisation_id,
        grantee_id=grantee_id,
        record_id=record_id,
        product_id=product_id,
    )
    session.add(grant)
    session.flush()
    return grant


def unshare(session: Session, principal: Principal, *, share_id: int) -> None:
    principal.require_scope("footprints:write")
    grant = session.get(Share, share_id)
    if grant is None or grant.owner_id != principal.organisation_id:
        raise NotFound(f"you have no share {share_id}")
    session.delete(grant)
    session.flush()


def shares_of(session: Session, principal: Principal) -> list[Share]:
    principal.require_scope("footprints:read")
    return list(
        session.scalars(
            sa.select(Share).where(Share.owner_id == principal.organisation_id).order_by(Share.id)
        )
    )


def set_disclosure(
    session: Session, principal: Principal, *, record_id: str, disclosure: Disclosure
) -> FootprintRecord:
    """Publish a record, or narrow it again (what was public may have been copied already)."""
    principal.require_scope("footprints:write")
    record = _own_record(session, principal, record_id)
    record.disclosure = disclosure
    session.flush()
    return record


def log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    """Entry bytes of records rebuilt from the table, for the log's audit."""
    return {
        record.id: entry_bytes(record.footprint_json, _signature_of(record))
        for record in _records_by_id(session, set(refs)).values()
    }
