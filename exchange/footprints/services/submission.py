"""Submitting signed (and importing unsigned) footprint records.

Submission works on whole batches: the pure checks (envelope, PACT schema, signature) run
item by item, the database is asked once per batch for the keys, the existing records and
the predecessors, and every accepted record is written with its log entry in the caller's
transaction, so a record is either stored, logged and acknowledged, or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import signing
from exchange.db import chunked, insert_rows, insert_unless_present, utcnow
from exchange.errors import (
    AccessDenied,
    Conflict,
    ExchangeError,
    SignatureInvalid,
    ValidationFailed,
)
from exchange.footprints.models import (
    SHARES,
    TERM_TABLES,
    Disclosure,
    FootprintCountry,
    FootprintRecord,
    FootprintValidityYear,
    RecordStatus,
    Share,
)
from exchange.footprints.schemas import EnvelopeSignature, parse_envelope
from exchange.organisations.models import CompanyIdentifier, SigningKey
from exchange.organisations.principals import Principal
from exchange.organisations.services import keys_by_kid
from exchange.pact_wire import ProductFootprint, parse_product_footprint
from exchange.pact_wire.filters import FilterTerms, countries_of, terms_of, validity_years
from exchange.rules.services import check_footprints_against_rules
from exchange.verifying import Verification, Verifier

RecordsAccepted = Callable[[Session, Sequence["NewRecord"]], None]
"""Told of the records a submission created, in its transaction (requests, notifications,
staleness), before the log head is locked: the records are written but not yet logged, so
a listener must not read or copy their ``log_index`` (a provisional negative number until
the append gives the real one, before the commit)."""

RecordsLogged = Callable[[Session, Sequence["NewRecord"]], None]
"""Told of the records once they have their log indexes, with the log head locked: every
other writer on every node waits while it runs, so it does what needs the indexes (or must
follow the records in the log) and nothing else, and costs no query for a record it has
nothing to do with."""


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
    # Predecessors this exchange does not hold are ignored (imports, partners' records).
    lenient_predecessors: bool = False
    # A signature still to verify (with the batch's others, maybe in other processes), and
    # the checks that come after it: the item is accepted once both pass.
    unverified: signing.SignatureCheck | None = None
    then: Callable[[], None] | None = None


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
        unverified = signing.signature_check(
            signing.FOOTPRINT_CONTEXT.encode("ascii") + b"\n" + canonical,
            envelope.signature.value,
            key.public_key,
        )
    except signing.SigningError as exc:
        raise _signature_invalid(str(exc)) from exc

    def then() -> None:  # once the signature holds, as the checks' order has it
        if footprint.status != RecordStatus.ACTIVE.value:
            raise ValidationFailed(
                "a new record must be Active; a successor deprecates it",
                details=[{"field": "status", "message": "must be Active"}],
            )
        _check_company(footprint, organisation_urns)

    text = canonical.decode("utf-8")
    candidate = _Candidate(
        index, footprint, envelope.signature, text, _digest(text, envelope.signature)
    )
    candidate.unverified, candidate.then = unverified, then
    return candidate


def _signature_invalid(reason: str) -> SignatureInvalid:
    return SignatureInvalid(
        "the signature does not match the footprint",
        details=[{"field": "signature.value", "message": reason}],
    )


def _check_unsigned_item(
    index: int, value: object, *, organisation_urns: frozenset[str]
) -> _Candidate:
    footprint = parse_product_footprint(value)
    assert isinstance(value, dict)
    text = _canonical(value).decode("utf-8")
    _check_company(footprint, organisation_urns)
    return _Candidate(index, footprint, None, text, _digest(text, None), True)


def _check_recognised_item(index: int, value: object) -> _Candidate:
    envelope = parse_envelope(value)
    footprint = parse_product_footprint(envelope.footprint)
    if footprint.status != RecordStatus.ACTIVE.value:
        raise ValidationFailed(
            "a new record must be Active; a successor deprecates it",
            details=[{"field": "status", "message": "must be Active"}],
        )
    text = _canonical(envelope.footprint).decode("utf-8")
    signature = envelope.signature
    return _Candidate(index, footprint, signature, text, _digest(text, signature), True)


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
    on_accepted: RecordsAccepted | None = None,
    on_logged: RecordsLogged | None = None,
    disclosure: Disclosure = Disclosure.PRIVATE,
    verifier: Verifier | None = None,
) -> list[Outcome]:
    """Verify and store a batch of signed envelopes; each gets an outcome, good ones are kept.

    ``verifier`` (the app's) verifies a large batch's signatures in other processes while
    the envelopes are parsed here; without one, each is verified in turn, here.
    """
    principal.require_scope("footprints:write")
    keys = keys_by_kid(
        session,
        (
            item["signature"]["kid"]
            for item in items
            if isinstance(item, dict)
            and isinstance(item.get("signature"), dict)
            and isinstance(item["signature"].get("kid"), str)
        ),
        lock=True,
    )
    # Read after the keys are locked: a revocation committed meanwhile is seen, and one
    # waiting for the lock will be dated after these records were received.
    now = utcnow()
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
        on_accepted=on_accepted,
        on_logged=on_logged,
        verification=(verifier or _NO_POOL).batch(len(items)),
    )


_NO_POOL: Final = Verifier(processes=0, threshold=1)


def import_unsigned(
    session: Session,
    *,
    principal: Principal,
    items: Sequence[object],
    on_accepted: RecordsAccepted | None = None,
    on_logged: RecordsLogged | None = None,
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
        on_accepted=on_accepted,
        on_logged=on_logged,
    )


def store_recognised(
    session: Session,
    *,
    organisation_id: str,
    envelopes: Sequence[object],
    disclosure: Disclosure,
    on_accepted: RecordsAccepted | None = None,
) -> list[Outcome]:
    """Store partner records the exchange has recognised (mutual recognition).

    Their signatures were checked against the partner's trust anchors before, and their
    signing keys registered to ``organisation_id``, the organisation standing for the
    partner here; their company ids name the partner's companies, so no company check
    applies. A predecessor this exchange does not hold is ignored, as for imports.
    """
    return _accept(
        session,
        organisation_id,
        envelopes,
        _check_recognised_item,
        now=utcnow(),
        disclosure=disclosure,
        on_accepted=on_accepted,
        on_logged=None,
    )


def _accept(
    session: Session,
    organisation_id: str,
    items: Sequence[object],
    check: Callable[[int, object], _Candidate],
    *,
    now: dt.datetime,
    disclosure: Disclosure,
    on_accepted: RecordsAccepted | None,
    on_logged: RecordsLogged | None,
    verification: Verification | None = None,
) -> list[Outcome]:
    """Check every item on its own, then store the good ones together; an outcome for each."""
    outcomes: dict[int, Outcome] = {}
    candidates: list[_Candidate] = []
    for index, value in enumerate(items):
        try:
            candidate = check(index, value)
        except ExchangeError as error:
            outcomes[index] = Outcome(index=index, accepted=False, error=error)
            continue
        if candidate.unverified is not None:
            assert verification is not None, "a signed item needs a verification"
            verification.add(candidate.unverified)
        candidates.append(candidate)
    if verification is not None:
        candidates = _verified(candidates, verification.results(), outcomes)
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
        on_accepted=on_accepted,
        on_logged=on_logged,
    )
    return [outcomes[index] for index in range(len(items))]


def _verified(
    candidates: Sequence[_Candidate], holds: Sequence[bool], outcomes: dict[int, Outcome]
) -> list[_Candidate]:
    """The candidates whose signatures hold (``holds``, in the order they were added) and
    that pass the checks after them; the others' outcomes."""
    answers = iter(holds)
    kept: list[_Candidate] = []
    for candidate in candidates:
        try:
            if candidate.unverified is not None:
                if not next(answers):
                    raise _signature_invalid(signing.SIGNATURE_MISMATCH)
                if candidate.then is not None:
                    candidate.then()
        except ExchangeError as error:
            outcomes[candidate.index] = Outcome(index=candidate.index, accepted=False, error=error)
            continue
        kept.append(candidate)
    return kept


def _store(
    session: Session,
    organisation_id: str,
    candidates: Sequence[_Candidate],
    outcomes: dict[int, Outcome],
    *,
    now: dt.datetime,
    disclosure: Disclosure,
    on_accepted: RecordsAccepted | None,
    on_logged: RecordsLogged | None,
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
    # Locked until the transaction ends: a concurrent submission naming one of these records
    # (as its id or as a predecessor) waits here and then checks what this one committed, so
    # a record gets at most one successor on every database (SQLite's writers queue at BEGIN).
    known = _records_by_id(session, ids | predecessor_ids, lock=True)

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
            if candidate.lenient_predecessors:
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
    # Everything that does not need the records' log indexes is written before the log
    # head is locked, so that the lock (which every writer on every node queues for) is
    # held for the append and what follows it only. Until then each new row carries a
    # provisional index: negative (no log index is), random (concurrent transactions
    # cannot collide on the unique column) and replaced before this transaction commits,
    # so no other transaction ever sees one.
    provisional = _provisional_indexes(len(records))
    rows = [
        _row(record) | {"log_index": index}
        for record, index in zip(records, provisional, strict=True)
    ]
    try:
        insert_rows(session, _RECORDS, rows)
    except sa.exc.IntegrityError as exc:
        # A new id has no row to lock: a concurrent request storing the same id committed
        # after this one looked (only PostgreSQL's writers overlap). Everything of this
        # transaction is rolled back by the caller; a resend learns the stored outcome.
        raise Conflict(
            "another request stored a record with one of these ids at the same moment; "
            "nothing of this request was stored: resend it to learn the outcome",
            details=[{"field": "id", "message": "stored concurrently"}],
        ) from exc
    for table, column, field in TERM_TABLES:
        term_rows = [
            {"record_id": item.record.id, column: value, "received_at": now}
            for item in created
            for value in sorted(getattr(item.terms, field))
        ]
        if term_rows:
            insert_rows(session, cast(sa.Table, sa.inspect(table).local_table), term_rows)
    insert_rows(
        session,
        _COUNTRIES,
        [
            {"record_id": item.record.id, "country": country, "received_at": now}
            for item in created
            for country in countries_of(item.terms.geographies)
        ],
    )
    insert_rows(
        session,
        _VALIDITY_YEARS,
        [
            {
                "record_id": item.record.id,
                "kind": kind,
                "year": year,
                "received_at": now,
                "valid_from": item.terms.valid_from,
                "valid_until": item.terms.valid_until,
            }
            for item in created
            for kind, year in validity_years(item.terms)
        ],
    )
    session.flush()  # deprecations of stored records
    _carry_shares_forward(session, created)
    if on_accepted is not None:
        # Before the lock too: requests, notifications and staleness need the records'
        # ids and terms, not their indexes (a PACT event is given its logIndex when sent).
        on_accepted(session, created)
    indexes = FootprintRecord.log.append(session, records)
    # The log hands out one contiguous run in the records' order, and the provisional
    # indexes are one contiguous run in the same order: one statement moves them all
    # (an update per row would be a statement per record while every writer waits).
    shift = indexes[0] - provisional[0]
    assert indexes == [index + shift for index in provisional]
    session.execute(
        sa.update(_RECORDS)
        .where(_RECORDS.c.log_index.between(provisional[0], provisional[-1]))
        .values(log_index=_RECORDS.c.log_index + shift)
    )
    if on_logged is not None:
        on_logged(session, created)


def _provisional_indexes(count: int) -> list[int]:
    """``count`` distinct negative BIGINTs, random so that no concurrent batch picks one."""
    start = -(secrets.randbits(62) + count + 1)
    return list(range(start, start + count))


def _carry_shares_forward(session: Session, created: Sequence[NewRecord]) -> None:
    """A customer given one version of a record is given its successor too."""
    successors = {pid: item.record.id for item in created for pid in item.preceding_ids}
    if not successors:
        return
    grants = session.scalars(sa.select(Share).where(Share.record_id.in_(sorted(successors))))
    rows = [
        {
            "owner_id": grant.owner_id,
            "grantee_id": grant.grantee_id,
            "record_id": successors[grant.record_id],
            "product_id": None,
            "created_at": utcnow(),
        }
        for grant in grants
        if grant.record_id is not None
    ]
    if rows:
        # The owner may be sharing the new record with the same customer at this moment.
        insert_unless_present(session, SHARES, rows)


_RECORDS: Final = cast(sa.Table, FootprintRecord.__table__)
_VALIDITY_YEARS: Final = cast(sa.Table, FootprintValidityYear.__table__)
_COUNTRIES: Final = cast(sa.Table, FootprintCountry.__table__)
_RECORD_COLUMNS = tuple(column.key for column in _RECORDS.columns)


def _row(record: FootprintRecord) -> dict[str, Any]:
    return {key: getattr(record, key) for key in _RECORD_COLUMNS}


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


def _records_by_id(
    session: Session, ids: set[str], *, lock: bool = False
) -> dict[str, FootprintRecord]:
    """The stored records of ``ids``; with ``lock``, each row is locked (``FOR UPDATE``) in id
    order, so that two writers locking overlapping sets cannot deadlock, and read afresh."""
    found: dict[str, FootprintRecord] = {}
    for chunk in chunked(ids):
        query = sa.select(FootprintRecord).where(FootprintRecord.id.in_(chunk))
        if lock:
            query = (
                query.order_by(FootprintRecord.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        found.update((record.id, record) for record in session.scalars(query))
    return found
