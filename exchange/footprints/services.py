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
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session, aliased

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
    FootprintClassification,
    FootprintCompany,
    FootprintGeography,
    FootprintProduct,
    FootprintRecord,
    RecordStatus,
    RecordTerm,
    Share,
)
from exchange.footprints.schemas import EnvelopeSignature, parse_envelope
from exchange.pact.filters import Criteria, FilterTerms, terms_of
from exchange.pact.schemas import ProductFootprint, parse_product_footprint
from exchange.partners.models import CompanyIdentifier, Organisation, Role, SigningKey
from exchange.partners.services import Principal, keys_by_kid
from exchange.rules.services import check_footprints_against_rules

LOG_KIND = "footprint"
LogAppender = Callable[[Session, Sequence[tuple[str, str, bytes]]], list[int]]
RecordsAccepted = Callable[[Session, Sequence["NewRecord"]], None]
"""Told of the records a submission created, in its transaction (requests, notifications)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one submitted envelope."""

    index: int
    accepted: bool
    created: bool = False
    record: FootprintRecord | None = None
    error: ExchangeError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewRecord:
    """A record just created, with what it is found by."""

    record: FootprintRecord
    terms: FilterTerms
    preceding_ids: tuple[str, ...]


@dataclasses.dataclass(slots=True)
class _Candidate:
    index: int
    footprint: ProductFootprint
    signature: EnvelopeSignature | None
    canonical: str
    digest: str


def entry_bytes(footprint_json: str, signature: EnvelopeSignature | None) -> bytes:
    """The log entry of a record: the RFC 8785 form of its envelope, which anyone can recompute.

    Built by concatenation because ``footprint_json`` is canonical already and every other
    member is plain ASCII in sorted order; a test holds it equal to the canonicaliser's output.
    An imported unsigned record's entry has ``"signature":null``.
    """
    if signature is None:
        return f'{{"footprint":{footprint_json},"signature":null}}'.encode()
    return (
        f'{{"footprint":{footprint_json},"signature":{{"alg":"{signature.alg}",'
        f'"kid":"{signature.kid}","value":"{signature.value}"}}}}'
    ).encode()


def _digest(canonical: str, signature: EnvelopeSignature | None) -> str:
    signed = f"{signature.kid}\n{signature.value}" if signature is not None else "unsigned"
    return hashlib.sha256(f"{canonical}\n{signed}".encode()).hexdigest()


def _canonical(footprint: dict[str, Any]) -> bytes:
    try:
        return signing.canonical_json(footprint)
    except signing.SigningError as exc:
        raise ValidationFailed(
            str(exc), details=[{"field": "footprint", "message": str(exc)}]
        ) from exc


def _check_company(footprint: ProductFootprint, organisation_urns: frozenset[str]) -> None:
    if not {urn.lower() for urn in footprint.company_ids} & organisation_urns:
        raise AccessDenied(
            "companyIds name none of your organisation's company ids",
            details=[{"field": "companyIds", "message": "must include one of your company ids"}],
        )


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
    canonical = _canonical(envelope.footprint)
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
    _check_company(footprint, organisation_urns)
    text = canonical.decode("utf-8")
    return _Candidate(index, footprint, envelope.signature, text, _digest(text, envelope.signature))


def _check_unsigned_item(
    index: int, value: object, *, organisation_urns: frozenset[str]
) -> _Candidate:
    footprint = parse_product_footprint(value)
    assert isinstance(value, dict)
    text = _canonical(value).decode("utf-8")
    _check_company(footprint, organisation_urns)
    return _Candidate(index, footprint, None, text, _digest(text, None))


def _organisation_urns(session: Session, organisation_id: str) -> frozenset[str]:
    return frozenset(
        urn.lower()
        for urn in session.scalars(
            sa.select(CompanyIdentifier.urn).where(
                CompanyIdentifier.organisation_id == organisation_id
            )
        )
    )


def submit(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[object],
    append_to_log: LogAppender,
    on_accepted: RecordsAccepted | None = None,
    disclosure: Disclosure = Disclosure.PRIVATE,
) -> list[Outcome]:
    """Verify and store a batch of signed envelopes; each gets an outcome, good ones are kept."""
    principal.require_scope("footprints:write")
    now = utcnow()
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
    check = functools.partial(
        _check_item,
        organisation_urns=_organisation_urns(session, principal.organisation_id),
        keys=keys,
        organisation_id=principal.organisation_id,
        now=now,
    )
    return _accept(
        session,
        principal.organisation_id,
        items,
        check,
        now=now,
        disclosure=disclosure,
        append_to_log=append_to_log,
        on_accepted=on_accepted,
    )


def import_unsigned(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[object],
    append_to_log: LogAppender,
    on_accepted: RecordsAccepted | None = None,
) -> list[Outcome]:
    """Store footprints exported unchanged by another PACT tool, marked as unsigned.

    They keep the status they carry. ``precedingPfIds`` deprecates the importer's own
    Active records it names; ids the exchange does not hold are kept but ignored, since
    the earlier versions may never have been imported.
    """
    principal.require_scope("footprints:write")
    check = functools.partial(
        _check_unsigned_item,
        organisation_urns=_organisation_urns(session, principal.organisation_id),
    )
    return _accept(
        session,
        principal.organisation_id,
        items,
        check,
        now=utcnow(),
        disclosure=Disclosure.PRIVATE,
        append_to_log=append_to_log,
        on_accepted=on_accepted,
    )


def _accept(
    session: Session,
    organisation_id: str,
    items: Sequence[object],
    check: Callable[[int, object], _Candidate],
    *,
    now: dt.datetime,
    disclosure: Disclosure,
    append_to_log: LogAppender,
    on_accepted: RecordsAccepted | None,
) -> list[Outcome]:
    """Check every item on its own, then store the good ones together; an outcome for each."""
    outcomes: dict[int, Outcome] = {}
    candidates: list[_Candidate] = []
    for index, value in enumerate(items):
        try:
            candidates.append(check(index, value))
        except ExchangeError as error:
            outcomes[index] = Outcome(index=index, accepted=False, error=error)
    rule_errors = check_footprints_against_rules(session, [c.footprint for c in candidates])
    for candidate, details in zip(candidates, rule_errors, strict=True):
        if details:
            refusal = ValidationFailed("the record breaks a rule it cites", details=details)
            outcomes[candidate.index] = Outcome(candidate.index, accepted=False, error=refusal)
    candidates = [c for c, details in zip(candidates, rule_errors, strict=True) if not details]
    _store(
        session,
        organisation_id,
        candidates,
        outcomes,
        now=now,
        disclosure=disclosure,
        append_to_log=append_to_log,
        on_accepted=on_accepted,
    )
    return [outcomes[index] for index in range(len(items))]


def _store(
    session: Session,
    organisation_id: str,
    candidates: Sequence[_Candidate],
    outcomes: dict[int, Outcome],
    *,
    now: dt.datetime,
    disclosure: Disclosure,
    append_to_log: LogAppender,
    on_accepted: RecordsAccepted | None,
) -> None:
    """Store the checked candidates that neither repeat nor conflict, with their log entries.

    The database is asked once for the records and predecessors the batch names.
    """
    ids = {str(candidate.footprint.id).lower() for candidate in candidates}
    predecessor_ids = {
        str(pid).lower()
        for candidate in candidates
        for pid in candidate.footprint.preceding_pf_ids or ()
    }
    known = _records_by_id(session, ids | predecessor_ids)

    created: list[NewRecord] = []
    for candidate in candidates:
        record_id = str(candidate.footprint.id).lower()
        preceding = [str(pid).lower() for pid in candidate.footprint.preceding_pf_ids or ()]
        try:
            existing = known.get(record_id)
            if existing is not None:
                if existing.owner_id == organisation_id and (
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
            if candidate.signature is None:
                preceding = [
                    pid
                    for pid in preceding
                    if pid != record_id
                    and pid in known
                    and known[pid].owner_id == organisation_id
                    and known[pid].status == RecordStatus.ACTIVE
                ]
            else:
                _check_predecessors(preceding, record_id, known, organisation_id)
        except ExchangeError as error:
            outcomes[candidate.index] = Outcome(index=candidate.index, accepted=False, error=error)
            continue
        terms = terms_of(candidate.footprint)
        record = FootprintRecord(
            id=record_id,
            owner_id=organisation_id,
            status=RecordStatus(candidate.footprint.status),
            disclosure=disclosure,
            footprint_json=candidate.canonical,
            signature_kid=candidate.signature.kid if candidate.signature else None,
            signature=candidate.signature.value if candidate.signature else None,
            envelope_digest=candidate.digest,
            received_at=now,
            deprecated_by_id=None,
            log_index=-1,  # set once the log has given the batch its indexes
            valid_from=terms.valid_from,
            valid_until=terms.valid_until,
        )
        known[record_id] = record
        for pid in preceding:
            # A stored predecessor is updated by the session's flush; one submitted earlier in
            # this batch is inserted already deprecated.
            known[pid].status = RecordStatus.DEPRECATED
            known[pid].deprecated_by_id = record_id
        created.append(NewRecord(record, terms, tuple(preceding)))
        outcomes[candidate.index] = Outcome(
            index=candidate.index, accepted=True, created=True, record=record
        )
    if not created:
        return
    records = [item.record for item in created]
    indexes = append_to_log(
        session,
        [
            (LOG_KIND, record.id, entry_bytes(record.footprint_json, signature_of(record)))
            for record in records
        ],
    )
    for record, log_index in zip(records, indexes, strict=True):
        record.log_index = log_index
    session.execute(sa.insert(FootprintRecord), [_row(record) for record in records])
    for table, column, field in _TERM_TABLES:
        rows = [
            {"record_id": item.record.id, column: value, "received_at": now}
            for item in created
            for value in sorted(getattr(item.terms, field))
        ]
        if rows:
            session.execute(sa.insert(table), rows)
    session.flush()  # deprecations of stored records
    _carry_shares_forward(session, created)
    if on_accepted is not None:
        on_accepted(session, created)


# Each term table, its value column, and the FilterTerms (and Criteria) field of its values;
# in the order a filtered list prefers to start from: the usually most selective first.
_TERM_TABLES: Final[tuple[tuple[type[RecordTerm], str, str], ...]] = (
    (FootprintProduct, "product_id", "product_ids"),
    (FootprintGeography, "geography", "geographies"),
    (FootprintClassification, "classification", "classifications"),
    (FootprintCompany, "company_id", "company_ids"),
)


def _carry_shares_forward(session: Session, created: Sequence[NewRecord]) -> None:
    """A customer given one version of a record is given its successor too."""
    successors = {pid: item.record.id for item in created for pid in item.preceding_ids}
    if not successors:
        return
    grants = session.scalars(sa.select(Share).where(Share.record_id.in_(sorted(successors))))
    for grant in list(grants):
        assert grant.record_id is not None
        session.add(
            Share(
                owner_id=grant.owner_id,
                grantee_id=grant.grantee_id,
                record_id=successors[grant.record_id],
                product_id=None,
            )
        )
    session.flush()


_RECORD_COLUMNS = tuple(column.key for column in FootprintRecord.__table__.columns)


def _row(record: FootprintRecord) -> dict[str, Any]:
    return {key: getattr(record, key) for key in _RECORD_COLUMNS}


def signature_of(record: FootprintRecord) -> EnvelopeSignature | None:
    """The owner's signature of a record, or None for an imported unsigned one."""
    if record.signature_kid is None or record.signature is None:
        return None
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
    # Its own alias, so that it never correlates with a list driven by the product table.
    product = aliased(FootprintProduct)
    clauses: list[sa.ColumnElement[bool]] = [
        FootprintRecord.owner_id == me,
        public,
        sa.exists().where(Share.grantee_id == me, Share.record_id == FootprintRecord.id),
        sa.exists().where(
            Share.grantee_id == me,
            Share.owner_id == FootprintRecord.owner_id,
            Share.product_id == product.product_id,
            product.record_id == FootprintRecord.id,
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


def get_record_or_deny(session: Session, principal: Principal, record_id: str) -> FootprintRecord:
    """As :func:`get_record`, but "forbidden" where the caller already knows the id exists.

    A caller knows a record exists when a record it may see names it as a predecessor
    (PACT ``precedingPfIds``); for any other record it may not see, "not found" gives
    nothing away.
    """
    try:
        return get_record(session, principal, record_id)
    except NotFound:
        successor = sa.select(FootprintRecord.deprecated_by_id).where(
            FootprintRecord.id == record_id.lower()
        )
        known = session.scalar(
            sa.select(FootprintRecord.id).where(
                FootprintRecord.id == successor.scalar_subquery(), _visible_clause(principal)
            )
        )
        if known is not None:
            raise AccessDenied(
                f"footprint {record_id} has not been shared with you; ask its owner"
            ) from None
        raise


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


def _term_clause(table: type[Any], column: str, wanted: frozenset[str]) -> sa.ColumnElement[bool]:
    term = table.__table__.c
    return FootprintRecord.id.in_(sa.select(term.record_id).where(term[column].in_(sorted(wanted))))


def _record_clauses(criteria: Criteria) -> list[sa.ColumnElement[bool]]:
    """The PACT filter's conditions on the record row itself: status and validity."""
    clauses: list[sa.ColumnElement[bool]] = []
    if criteria.statuses:
        clauses.append(
            FootprintRecord.status.in_(
                [status for status in RecordStatus if status.value.lower() in criteria.statuses]
            )
        )
    if criteria.valid_on is not None:
        clauses += [
            FootprintRecord.valid_from <= criteria.valid_on,
            FootprintRecord.valid_until >= criteria.valid_on,
        ]
    if criteria.valid_after is not None:
        clauses.append(FootprintRecord.valid_from > criteria.valid_after)
    if criteria.valid_before is not None:
        clauses.append(FootprintRecord.valid_until < criteria.valid_before)
    return clauses


def _before(
    received_at: QueryableAttribute[dt.datetime],
    record_id: QueryableAttribute[str],
    cursor: str,
) -> sa.ColumnElement[bool]:
    """Rows after the cursor in newest-first order (the ``<=`` lets an index range apply)."""
    moment, last_id = _decode_cursor(cursor)
    return sa.and_(received_at <= moment, sa.or_(received_at < moment, record_id < last_id))


def _page_ids(
    session: Session,
    conditions: list[sa.ColumnElement[bool]],
    criteria: Criteria,
    cursor: str | None,
    limit: int,
) -> list[str]:
    """The ids of one page, newest first, read from indexes that are already in list order.

    Without a term filter the covering index of records is scanned newest first. With one,
    the list starts from that term's ``(value, received_at, record_id)`` index, one ordered
    run per value merged by a union, so a page costs about its own size however many
    records match; the other term filters are checked per candidate.
    """
    conditions = [*conditions, *_record_clauses(criteria)]
    terms = [
        (table, column, wanted)
        for table, column, field in _TERM_TABLES
        if (wanted := getattr(criteria, field))
    ]
    if not terms:
        query = (
            sa.select(FootprintRecord.id)
            .where(*conditions)
            .order_by(FootprintRecord.received_at.desc(), FootprintRecord.id.desc())
            .limit(limit)
        )
        if cursor:
            query = query.where(_before(FootprintRecord.received_at, FootprintRecord.id, cursor))
        return list(session.scalars(query))
    (table, column, wanted), *others = terms
    conditions += [_term_clause(*other) for other in others]
    driver = aliased(table)
    runs = []
    for value in sorted(wanted):
        run = (
            sa.select(driver.record_id.label("id"), driver.received_at.label("received_at"))
            .join(FootprintRecord, FootprintRecord.id == driver.record_id)
            .where(getattr(driver, column) == value, *conditions)
            .order_by(driver.received_at.desc(), driver.record_id.desc())
            .limit(limit)
        )
        if cursor:
            run = run.where(_before(driver.received_at, driver.record_id, cursor))
        runs.append(run)
    if len(runs) == 1:
        return [row.id for row in session.execute(runs[0])]
    merged = sa.union_all(*(sa.select(run.subquery()) for run in runs)).subquery()
    query = (
        sa.select(merged.c.id)
        .group_by(merged.c.id, merged.c.received_at)
        .order_by(merged.c.received_at.desc(), merged.c.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def list_records(
    session: Session,
    principal: Principal | None,
    *,
    limit: int,
    cursor: str | None = None,
    criteria: Criteria | None = None,
    owned_only: bool = False,
) -> Page:
    """Records the caller may see that meet the criteria, newest first, in pages.

    :meth:`Criteria.matches` is the same filter in Python; a test holds the two equal.
    """
    if principal is not None:
        principal.require_scope("footprints:read")
    criteria = criteria or Criteria()
    if criteria.unsatisfiable:
        return Page(records=[], next_cursor=None)
    conditions = [_visible_clause(principal)]
    if owned_only and principal is not None:
        conditions.append(FootprintRecord.owner_id == principal.organisation_id)
    ids = _page_ids(session, conditions, criteria, cursor, limit + 1)
    by_id = {
        record.id: record
        for record in session.scalars(sa.select(FootprintRecord).where(FootprintRecord.id.in_(ids)))
    }
    records = [by_id[record_id] for record_id in ids]
    more = len(records) > limit
    records = records[:limit]
    return Page(records=records, next_cursor=encode_cursor(records[-1]) if more else None)


def matching_records(
    session: Session, principal: Principal, criteria: Criteria, *, limit: int
) -> list[FootprintRecord]:
    """Up to ``limit`` records the caller may see that meet the criteria, newest first."""
    return list_records(session, principal, limit=limit, criteria=criteria).records


# --- sharing and disclosure ------------------------------------------------------------


def own_record(session: Session, principal: Principal, record_id: str) -> FootprintRecord:
    record = session.get(FootprintRecord, record_id.lower())
    if record is None or record.owner_id != principal.organisation_id:
        raise NotFound(f"you have no footprint {record_id}")
    return record


def grant_record(session: Session, record: FootprintRecord, *, grantee_id: str) -> None:
    """Let ``grantee_id`` read ``record`` (an answered request), unless it can already."""
    if record.disclosure == Disclosure.PUBLIC or record.owner_id == grantee_id:
        return
    existing = session.scalar(
        sa.select(Share.id).where(Share.grantee_id == grantee_id, Share.record_id == record.id)
    )
    if existing is None:
        session.add(
            Share(
                owner_id=record.owner_id,
                grantee_id=grantee_id,
                record_id=record.id,
                product_id=None,
            )
        )
        session.flush()


def terms_of_record(record: FootprintRecord) -> FilterTerms:
    return terms_of(parse_product_footprint(json.loads(record.footprint_json)))


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
        record_id = own_record(session, principal, record_id).id
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
    record = own_record(session, principal, record_id)
    record.disclosure = disclosure
    session.flush()
    return record


def log_sources(session: Session, refs: Sequence[str]) -> dict[str, bytes]:
    """Entry bytes of records rebuilt from the table, for the log's audit."""
    return {
        record.id: entry_bytes(record.footprint_json, signature_of(record))
        for record in _records_by_id(session, set(refs)).values()
    }
