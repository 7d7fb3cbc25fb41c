"""Confidential provenance: derived footprints that prove their inputs without disclosing them.

A chain-owner's derived footprint names its inputs only through salted commitments
(:mod:`exchange.aggregation.commitments`); the exchange keeps the openings. The life of
one provenance:

* **prepared** with the draft (:func:`prepare`): the exchange verifies every input -
  each supplier record's signature, its key's status when the record was received, its
  status now and its inclusion in the log - recomputes every total exactly from the
  verified documents, commits to every line with a fresh salt and stores the openings;
* **bound** when the signed record arrives (:func:`bind`): its provenance must be exactly
  the one prepared for its id, its figures the computed totals;
* **attested** (:func:`attest`): the exchange signs and logs that it verified and
  recomputed everything, naming the record, its bytes, the commitment root and the time;
* **opened** to a reader who may see a line's input itself (:func:`may_open`): the
  chain-owner that computed it, the input's owner, a party the owner shared the input
  with, the regulator, or a certification body certifying the derived record. Every
  opening served is a data flow. A product share of the derived product gives its
  figures, never an opening.

Salts and openings never leave the exchange otherwise, and are never logged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities, signing
from exchange.aggregation import commitments, engine
from exchange.aggregation.engine import Quality, Source, SourceKind
from exchange.aggregation.models import Attestation, Product, Provenance, ProvenanceLine, Result
from exchange.aggregation.services.common import PROVENANCE_EXTENSION_PREFIX
from exchange.aggregation.services.loading import canonical_unit, load_graph, record_values
from exchange.db import chunked, utcnow
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.factors.models import Factor
from exchange.footprints import services as footprints
from exchange.footprints.flows import services as flows
from exchange.footprints.flows.models import Grant
from exchange.footprints.models import (
    Disclosure,
    FootprintRecord,
    RecordStatus,
    Share,
)
from exchange.keyring import ExchangeKey
from exchange.labels import services as labels
from exchange.labels.models import AccreditationStatus, Certificate
from exchange.log import merkle
from exchange.log import services as log
from exchange.log.models import LogEntry
from exchange.log.schemas import b64
from exchange.organisations.models import Role, SigningKey
from exchange.organisations.principals import Principal

# A draft never submitted keeps its openings this long, then they go with the next draft.
DRAFT_LIFETIME: Final = dt.timedelta(days=90)
WITHHELD_SUMMARY: Final = "attested by the exchange"


# --- verifying the inputs -----------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class InputCounts:
    """How many lines of each kind a computation had, as the attestation states them."""

    records: int = 0
    unsigned_records: int = 0
    deprecated_records: int = 0
    factors: int = 0
    products: int = 0

    def to_json(self, total: int) -> dict[str, int]:
        return {
            "total": total,
            "records": self.records,
            "unsignedRecords": self.unsigned_records,
            "deprecatedRecords": self.deprecated_records,
            "factors": self.factors,
            "products": self.products,
        }


def _in_log(session: Session, record: FootprintRecord, proof_size: int) -> str | None:
    """Why the record's log entry does not hold (kind, ref, leaf, inclusion), or None."""
    entry = session.get(LogEntry, record.log_index)
    if entry is None or entry.kind != FootprintRecord.log.kind or entry.ref != record.id:
        return "its log entry is missing"
    leaf = merkle.leaf_hash(
        footprints.entry_bytes(record.footprint_json, footprints.signature_of(record))
    )
    if entry.leaf_hash != leaf:
        return "its log entry is for other bytes"
    if record.log_index >= proof_size:
        return "it is beyond the log's size"
    proof = log.inclusion_proof(session, record.log_index, proof_size)
    try:
        merkle.verify_inclusion(proof.index, proof.size, leaf, proof.proof, proof.root_hash)
    except merkle.ProofError as exc:
        return f"its inclusion proof fails: {exc}"
    return None


def check_input_record(
    session: Session,
    reference: Mapping[str, Any],
    *,
    at: dt.datetime,
    counts: InputCounts,
    proof_size: int,
) -> tuple[FootprintRecord | None, list[str]]:
    """Verify one supplier record a line names: it exists as named, its signature holds
    under a key valid when it was received, it is in the log, and whether it was Active at
    ``at`` (counted, not refused: a chain-owner may pin a superseded record)."""
    record_id = str(reference.get("recordId", ""))
    record = session.get(FootprintRecord, record_id)
    where = f"input record {record_id}"
    if record is None:
        return None, [f"{where} does not exist"]
    problems: list[str] = []
    counts.records += 1
    if (
        record.owner_id != reference.get("owner")
        or record.signature_kid != reference.get("kid")
        or record.signature != reference.get("signature")
        or record.log_index != reference.get("logIndex")
    ):
        problems.append(f"{where} is not the record the line names")
    if record.signature_kid is None or record.signature is None:
        counts.unsigned_records += 1
    else:
        key = session.get(SigningKey, record.signature_kid)
        if key is None:
            problems.append(f"{where} is signed by an unknown key")
        else:
            try:
                signing.verify_bytes(
                    message=signing.FOOTPRINT_CONTEXT.encode("ascii")
                    + b"\n"
                    + record.footprint_json.encode("utf-8"),
                    signature=record.signature,
                    public_key=key.public_key,
                )
            except signing.SigningError as exc:
                problems.append(f"{where}: its signature does not verify ({exc})")
            if not key.valid_at(record.received_at):
                problems.append(f"{where} was signed by a key not valid when it was received")
    if record.status != RecordStatus.ACTIVE:
        successor = (
            session.get(FootprintRecord, record.deprecated_by_id)
            if record.deprecated_by_id
            else None
        )
        if successor is None or successor.received_at <= at:
            counts.deprecated_records += 1
    why = _in_log(session, record, proof_size)
    if why is not None:
        problems.append(f"{where}: {why}")
    return record, problems


def _document_source(source: Source, record: FootprintRecord) -> Source:
    """``source`` with its figures read again from the verified signed document."""
    values = record_values(json.loads(record.footprint_json))
    dqr = (
        None
        if values["dqr_technological"] is None
        else (values["dqr_technological"], values["dqr_geographical"], values["dqr_temporal"])
    )
    return source._replace(
        declared_unit=canonical_unit(values["declared_unit"]),
        declared_amount=values["declared_amount"],
        values=(
            values["total"],
            values["fossil"],
            values["biogenic"],
            values["land_use"],
            values["packaging"],
        ),
        quality=Quality(values["primary_data_share"], dqr, engine.ONE),
        mass_per_declared_unit=values["mass_per_declared_unit"],
    )


def _factor_source(session: Session, source: Source) -> tuple[Source, list[str]]:
    factor = session.get(Factor, str(source.reference.get("factorId", "")))
    if factor is None or factor.version != source.reference.get("version"):
        return source, [f"factor {source.reference.get('code')} is not the one the line names"]
    value = factor.value
    return source._replace(values=(value, value, engine.ZERO, engine.ZERO, engine.ZERO)), []


@dataclasses.dataclass(frozen=True, slots=True)
class Verified:
    """A computation verified from its inputs: its detailed result and what was counted."""

    detailed: engine.NodeResult
    counts: InputCounts
    at: dt.datetime


def verify_computation(session: Session, product: Product, result: Result) -> Verified:
    """Verify every input of the product's stored computation and recompute it exactly from
    the verified documents; a :class:`Conflict` naming every problem otherwise."""
    now = utcnow()
    loaded = load_graph(session, [product.id], pinned=True)
    node = loaded.nodes[product.id]
    resolve = {**loaded.sources, **loaded.known}
    try:
        detailed = engine.compute_node(node, resolve, detail=True)
    except engine.AggregationError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc
    counts = InputCounts()
    problems: list[str] = []
    size = log.tree_size(session)
    checked: dict[str, Source] = {}
    for item in detailed.lines:
        source = item.source
        if source.key in checked:
            continue
        if source.kind == SourceKind.RECORD:
            record, found = check_input_record(
                session, source.reference, at=now, counts=counts, proof_size=size
            )
            problems += found
            if record is not None:
                checked[source.key] = _document_source(source, record)
        elif source.kind == SourceKind.FACTOR:
            counts.factors += 1
            checked[source.key], found = _factor_source(session, source)
            problems += found
        else:
            counts.products += 1
    visible = footprints.visible_to(product.owner_id)
    record_ids = [key for key, source in checked.items() if source.kind == SourceKind.RECORD]
    for chunk in chunked(record_ids):
        seen = set(
            session.scalars(
                sa.select(FootprintRecord.id).where(FootprintRecord.id.in_(chunk), visible)
            )
        )
        problems += [
            f"input record {record_id} is no longer shared with you; compute the product again"
            for record_id in chunk
            if record_id not in seen
        ]
    if not problems:
        recomputed = engine.compute_node(node, {**resolve, **checked}, detail=True)
        stored = (result.total, result.fossil, result.biogenic, result.land_use, result.packaging)
        if recomputed.values != stored or recomputed.values != detailed.values:
            problems.append("the totals recomputed from the verified inputs differ from the result")
        elif [engine.line_json(line) for line in recomputed.lines] != [
            engine.line_json(line) for line in detailed.lines
        ]:
            problems.append("a line recomputed from its verified input differs from the result")
    if problems:
        raise Conflict(
            f"the inputs of {product.code} do not verify: " + "; ".join(problems[:5]),
            details=[{"field": "inputs", "message": problem} for problem in problems[:100]],
        )
    return Verified(detailed, counts, now)


# --- preparing and binding ----------------------------------------------------------------


def _id(value: object) -> str | None:
    """An id a line names, if it can be one (a line signed in clear may hold anything)."""
    return value if isinstance(value, str) and 0 < len(value) <= 36 else None


def _line_reference(line: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(input record id, its owner, input product id) named by a committed line."""
    reference = line.get("input")
    if not isinstance(reference, Mapping):
        return None, None, None
    if line.get("kind") == SourceKind.RECORD.value:
        return _id(reference.get("recordId")), _id(reference.get("owner")), None
    if line.get("kind") == SourceKind.PRODUCT.value:
        return None, _id(reference.get("owner")), _id(reference.get("productId"))
    return None, None, None


def store_openings(
    session: Session,
    provenance: Provenance,
    lines: Sequence[Mapping[str, Any]],
    salts: Sequence[str],
) -> list[str]:
    """Commit to ``lines`` under ``salts`` and keep the openings; the commitments."""
    found = []
    rows = []
    for index, (line, salt) in enumerate(zip(lines, salts, strict=True)):
        value = commitments.commit(salt, line)
        record_id, owner_id, product_id = _line_reference(line)
        found.append(value)
        rows.append(
            {
                "footprint_id": provenance.footprint_id,
                "position": index,
                "kind": str(line.get("kind", ""))[:16],
                "salt": salt,
                "line_json": signing.canonical_json(line).decode("utf-8"),
                "commitment": value,
                "input_record_id": record_id,
                "input_owner_id": owner_id,
                "input_product_id": product_id,
            }
        )
    if rows:
        session.execute(sa.insert(ProvenanceLine), rows)
    return found


def extension_data(
    product_id: str,
    totals: Mapping[str, Any],
    quality: Mapping[str, Any] | None,
    secondary_share: str | None,
    found: Sequence[str],
) -> dict[str, Any]:
    """What the owner signs: the totals by part, quality roll-ups, the commitments."""
    return {
        "format": commitments.PROVENANCE_FORMAT,
        "productId": product_id,
        "totals": dict(totals),
        "quality": None if quality is None else dict(quality),
        "directSecondaryShare": secondary_share,
        "commitments": list(found),
        "commitmentRoot": commitments.commitment_root(found),
    }


def prepare(
    session: Session,
    product: Product,
    result: Result,
    footprint_id: str,
    *,
    result_digest: str,
) -> dict[str, Any]:
    """Verify the product's computation, commit to its lines and keep the openings; the
    provenance extension's data for the draft ``footprint_id``."""
    verified = verify_computation(session, product, result)
    now = verified.at
    # Drafts never submitted go after a while: their openings are of no use to anyone.
    session.execute(
        sa.delete(Provenance).where(
            Provenance.product_id == product.id,
            Provenance.bound_at.is_(None),
            Provenance.kind == commitments.COMMITTED,
            Provenance.created_at < now - DRAFT_LIFETIME,
        )
    )
    document = engine.result_document({}, verified.detailed)
    lines = document["inputs"]
    provenance = Provenance(
        footprint_id=footprint_id,
        product_id=product.id,
        owner_id=product.owner_id,
        kind=commitments.COMMITTED,
        data_json="",
        commitment_root="",
        result_digest=result_digest,
        verified_at=now,
        created_at=now,
        bound_at=None,
    )
    session.add(provenance)
    session.flush()
    found = store_openings(session, provenance, lines, [commitments.new_salt() for _ in lines])
    data = extension_data(
        product.id,
        document["pcf"],
        document["quality"],
        document["directSecondaryShare"],
        found,
    )
    provenance.data_json = signing.canonical_json(data).decode("utf-8")
    provenance.commitment_root = data["commitmentRoot"]
    _set_counts(provenance, verified.counts)
    session.flush()
    return data


def _set_counts(provenance: Provenance, counts: InputCounts) -> None:
    provenance.counts_json = json.dumps(dataclasses.asdict(counts), sort_keys=True)


def _counts(provenance: Provenance) -> InputCounts:
    if not provenance.counts_json:
        return InputCounts()
    return InputCounts(**json.loads(provenance.counts_json))


def _decimal_equal(value: object, expected: str) -> bool:
    try:
        return Decimal(str(value)) == Decimal(expected)
    except ArithmeticError:
        return False


def _figures_match(pcf: Mapping[str, Any], totals: Mapping[str, Any]) -> bool:
    """The PACT figures of a derived footprint are the computed totals (as the draft put them)."""
    fossil, land_use = Decimal(totals["fossil"]), Decimal(totals["landUse"])
    return (
        _decimal_equal(pcf.get("pcfIncludingBiogenicUptake"), totals["total"])
        and _decimal_equal(pcf.get("pcfExcludingBiogenicUptake"), totals[engine.HEADLINE])
        and _decimal_equal(pcf.get("fossilGhgEmissions"), quantities.text(max(fossil, engine.ZERO)))
        and _decimal_equal(
            pcf.get("landUseChangeGhgEmissions", "0"), quantities.text(max(land_use, engine.ZERO))
        )
    )


def bind(
    session: Session, record: FootprintRecord, footprint: Mapping[str, Any]
) -> Provenance | None:
    """A new record carrying our provenance extension, for one of its owner's products: it
    must carry exactly the provenance prepared for its id, with the computed figures.

    Returns the bound provenance; None when the extension names no product of the record's
    owner (another programme's, say: not ours to link). A record of the owner's with the
    old cleartext extension, or with a provenance the exchange did not prepare for this id,
    is refused (a :class:`ValidationFailed` that rolls the submission back).
    """
    for extension in footprint.get("extensions") or ():
        cleartext = commitments.is_provenance_extension(
            extension, commitments.CLEARTEXT_PROVENANCE_PATH
        )
        if not cleartext and not commitments.is_provenance_extension(extension):
            continue
        data = extension.get("data") if isinstance(extension, Mapping) else None
        product_id = str(data.get("productId", "")) if isinstance(data, Mapping) else ""
        product = session.get(Product, product_id)
        if product is None or product.owner_id != record.owner_id:
            continue
        if cleartext:
            raise ValidationFailed(
                "a derived footprint no longer carries its inputs in clear: fetch a new "
                "draft, whose provenance holds commitments",
                details=[{"field": "extensions", "message": "cleartext provenance"}],
            )
        provenance = session.get(Provenance, record.id)
        if (
            provenance is None
            or provenance.kind != commitments.COMMITTED
            or provenance.product_id != product.id
            or provenance.bound_at is not None
        ):
            raise ValidationFailed(
                f"the provenance of {record.id} was not prepared by this exchange for this "
                "footprint id: fetch a new draft and sign it unchanged",
                details=[{"field": "extensions", "message": "unknown provenance"}],
            )
        assert isinstance(data, Mapping)
        if signing.canonical_json(data).decode("utf-8") != provenance.data_json:
            raise ValidationFailed(
                "the provenance differs from the one prepared for this footprint: sign the "
                "draft unchanged",
                details=[{"field": "extensions", "message": "provenance changed"}],
            )
        if not _figures_match(footprint.get("pcf") or {}, data["totals"]):
            raise ValidationFailed(
                "the footprint's figures are not the computed totals its provenance states",
                details=[{"field": "pcf", "message": "not the computed totals"}],
            )
        provenance.bound_at = utcnow()
        session.flush()
        return provenance
    return None


# --- the attestation ----------------------------------------------------------------------


def signed_attestation(attestation: Attestation) -> dict[str, Any]:
    return attestation.signed()


def _statement(
    session: Session,
    record: FootprintRecord,
    provenance: Provenance,
    *,
    origin: str,
    now: dt.datetime,
) -> dict[str, Any]:
    data = json.loads(provenance.data_json)
    assert provenance.verified_at is not None
    migrated = provenance.kind == commitments.MIGRATED
    document: dict[str, Any] = {
        "exchange": origin,
        "record": record.id,
        "owner": record.owner_id,
        "footprintDigest": commitments.footprint_digest(json.loads(record.footprint_json)),
        "provenance": provenance.kind,
        "commitmentRoot": provenance.commitment_root,
        "lines": _counts(provenance).to_json(len(data["commitments"])),
        "totals": data["totals"],
        "checks": list(commitments.MIGRATED_CHECKS if migrated else commitments.CHECKS),
        "verifiedAt": provenance.verified_at.isoformat(),
        "issuedAt": now.isoformat(),
    }
    if migrated:
        served = footprints.withheld_forms(session, [record.id])[record.id]
        entry = session.get(LogEntry, record.log_index)
        assert entry is not None
        document |= {
            "servedFootprintDigest": commitments.footprint_digest(json.loads(served)),
            "ownerSignature": {"kid": record.signature_kid},
            "logLeafHash": b64(entry.leaf_hash),
        }
    return document


def attest(
    session: Session,
    record: FootprintRecord,
    provenance: Provenance,
    *,
    key: ExchangeKey,
    origin: str,
    now: dt.datetime | None = None,
) -> Attestation:
    """Sign and log the exchange's attestation of a verified derived footprint."""
    now = now or utcnow()
    document = _statement(session, record, provenance, origin=origin, now=now)
    attestation = Attestation(
        record_id=record.id,
        document_json=signing.canonical_json(document).decode("utf-8"),
        kid=key.kid,
        signature=key.sign(context=commitments.ATTESTATION_CONTEXT, payload=document),
        log_index=-1,
        issued_at=now,
    )
    Attestation.log.append(session, [attestation])
    session.add(attestation)
    session.flush()
    return attestation


def attest_accepted(
    session: Session,
    created: Sequence[footprints.NewRecord],
    *,
    key: ExchangeKey,
    origin: str,
) -> int:
    """Submission hook (after :func:`bind`): attest every derived record just bound.

    It runs once the records are logged, with the log head locked, so a record that
    carries no provenance extension of ours (nearly every one) costs no query.
    """
    attested = 0
    for item in created:
        if PROVENANCE_EXTENSION_PREFIX not in item.record.footprint_json:
            continue  # only a record bind() could have bound has a provenance to attest
        provenance = session.get(Provenance, item.record.id)
        if (
            provenance is not None
            and provenance.kind == commitments.COMMITTED
            and provenance.bound_at is not None
            and session.scalar(
                sa.select(Attestation.id).where(Attestation.record_id == item.record.id)
            )
            is None
        ):
            attest(
                session,
                item.record,
                provenance,
                key=key,
                origin=origin,
            )
            attested += 1
    return attested


def attestation_of(session: Session, record_id: str) -> Attestation | None:
    return session.scalar(sa.select(Attestation).where(Attestation.record_id == record_id))


def ensure_attestation(
    session: Session,
    record: FootprintRecord,
    provenance: Provenance,
    *,
    key: ExchangeKey,
    origin: str,
) -> Attestation | None:
    """The record's attestation, issued now if it has none yet (a migrated record's first
    reader); None when its inputs do not verify (the reason is kept for the view).

    The record's row is locked first, so two readers never attest one record twice.
    """
    found = attestation_of(session, record.id)
    if found is not None:
        return found
    session.execute(
        sa.select(FootprintRecord.id).where(FootprintRecord.id == record.id).with_for_update()
    )
    found = attestation_of(session, record.id)
    if found is not None:
        return found
    if provenance.kind == commitments.MIGRATED and provenance.verified_at is None:
        from exchange.aggregation.services.cleartext import verify_migrated

        if verify_migrated(session, record, provenance):
            return None  # the view shows no attestation; nothing is claimed
    if provenance.verified_at is None or provenance.bound_at is None:
        return None
    return attest(session, record, provenance, key=key, origin=origin)


# --- who may open what ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """Who asks for openings: an organisation (None: anonymous) and whether it regulates."""

    organisation_id: str | None
    regulator: bool = False

    @classmethod
    def of(cls, principal: Principal | None) -> Reader:
        if principal is None:
            return cls(None)
        return cls(principal.organisation_id, principal.has_role(Role.REGULATOR))


def _certifies(session: Session, organisation_id: str, record_id: str) -> bool:
    """An accredited body that certified the record, or that its owner shared the record
    itself with (to certify it). A product share never makes a certifier."""
    if labels.accreditation_status(session, organisation_id) != AccreditationStatus.GRANTED:
        return False
    certified = session.scalar(
        sa.select(Certificate.id).where(
            Certificate.record_id == record_id, Certificate.body_id == organisation_id
        )
    )
    if certified is not None:
        return True
    shared = session.scalar(
        sa.select(Share.id).where(Share.record_id == record_id, Share.grantee_id == organisation_id)
    )
    return shared is not None


@dataclasses.dataclass(frozen=True, slots=True)
class LineGrant:
    grant: Grant
    share_id: int | None = None


def may_open(
    session: Session, reader: Reader, provenance: Provenance, lines: Sequence[ProvenanceLine]
) -> dict[int, LineGrant]:
    """Index -> why ``reader`` may open that line; lines it may not open are absent.

    The chain-owner that computed the footprint, the regulator and a certification body
    certifying it open every line; anyone else a line whose input it may see itself: a
    supplier record it owns or that its owner shared with it (or published), or another
    chain-owner's product it owns or was given a product share of. The chain-owner's own
    lines (factors with its quantities, its own sub-products) open to no one else.
    """
    me = reader.organisation_id
    if me is not None and me == provenance.owner_id:
        return {line.position: LineGrant(Grant.COMPUTATION) for line in lines}
    if reader.regulator:
        return {line.position: LineGrant(Grant.REGULATOR) for line in lines}
    if me is not None and _certifies(session, me, provenance.footprint_id):
        return {line.position: LineGrant(Grant.CERTIFICATION) for line in lines}
    granted: dict[int, LineGrant] = {}
    record_ids = sorted({line.input_record_id for line in lines if line.input_record_id})
    visible: dict[str, tuple[str, Disclosure]] = {}
    if record_ids:
        clause = (
            footprints.visible_to(me)
            if me is not None
            else FootprintRecord.disclosure == Disclosure.PUBLIC
        )
        for chunk in chunked(record_ids):
            visible.update(
                (record_id, (owner, disclosure))
                for record_id, owner, disclosure in session.execute(
                    sa.select(
                        FootprintRecord.id, FootprintRecord.owner_id, FootprintRecord.disclosure
                    ).where(FootprintRecord.id.in_(chunk), clause)
                )
            )
    shares = flows.shares_granting(session, me, record_ids) if me is not None and record_ids else {}
    for line in lines:
        if line.input_record_id is not None and line.input_record_id in visible:
            owner, disclosure = visible[line.input_record_id]
            if owner == me:
                granted[line.position] = LineGrant(Grant.OWNERSHIP)
            elif line.input_record_id in shares:
                granted[line.position] = LineGrant(Grant.SHARE, shares[line.input_record_id])
            elif disclosure == Disclosure.PUBLIC:
                granted[line.position] = LineGrant(Grant.PUBLIC)
        elif line.input_product_id is not None and me is not None:
            child = session.get(Product, line.input_product_id)
            if child is None or child.owner_id == provenance.owner_id:
                continue  # the chain-owner's own sub-product
            if child.owner_id == me:
                granted[line.position] = LineGrant(Grant.OWNERSHIP)
                continue
            share = session.scalar(
                sa.select(Share.id).where(
                    Share.owner_id == child.owner_id,
                    Share.grantee_id == me,
                    Share.product_id == child.product_urn,
                )
            )
            if share is not None:
                granted[line.position] = LineGrant(Grant.SHARE, share)
    return granted


# --- what a reader is shown -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Opened:
    """A derived record's provenance as one reader may see it."""

    record: FootprintRecord
    provenance: Provenance
    data: dict[str, Any]
    lines: list[ProvenanceLine]
    grants: dict[int, LineGrant]
    attestation: Attestation | None
    problems: dict[int, str]

    def openings(self) -> list[dict[str, Any]]:
        """The openings the reader may have that open the signed commitments."""
        return [
            {"index": line.position, "salt": line.salt, "line": json.loads(line.line_json)}
            for line in self.lines
            if line.position in self.grants and line.position not in self.problems
        ]


def provenance_of_record(session: Session, record: FootprintRecord) -> Provenance | None:
    """The provenance a derived record carries (bound, or migrated), if any."""
    provenance = session.get(Provenance, record.id)
    if provenance is None:
        return None
    if provenance.kind == commitments.COMMITTED and provenance.bound_at is None:
        return None
    return provenance


def signed_data(
    session: Session, record: FootprintRecord, provenance: Provenance
) -> dict[str, Any]:
    """The provenance data the reader can hold against: the owner's signed extension, or
    for a migrated record the commitments of its withheld form (the exchange's attestation
    vouches for those)."""
    if provenance.kind == commitments.COMMITTED:
        data = commitments.provenance_of(json.loads(record.footprint_json))
        assert data is not None
        return data
    served: dict[str, Any] = json.loads(provenance.data_json)
    return served


def open_for(
    session: Session,
    reader: Reader,
    record: FootprintRecord,
    provenance: Provenance,
    *,
    key: ExchangeKey,
    origin: str,
    reference: str,
) -> Opened:
    """What ``reader`` may see of the provenance; the openings it is given are recorded as
    data flows (``reference`` says through which view)."""
    attestation = ensure_attestation(session, record, provenance, key=key, origin=origin)
    lines = list(
        session.scalars(
            sa.select(ProvenanceLine)
            .where(ProvenanceLine.footprint_id == provenance.footprint_id)
            .order_by(ProvenanceLine.position)
        )
    )
    data = signed_data(session, record, provenance)
    grants = may_open(session, reader, provenance, lines)
    problems: dict[int, str] = {}
    for line in lines:
        if line.position not in grants:
            continue
        # The stored opening must open what the owner signed: a damaged row is not served.
        opening = {"index": line.position, "salt": line.salt, "line": json.loads(line.line_json)}
        try:
            commitments.check_opening(data, opening)
        except commitments.OpeningRefused as exc:
            problems[line.position] = str(exc)
    opened = Opened(record, provenance, data, lines, grants, attestation, problems)
    if reader.organisation_id is not None:
        flows.record_openings(
            session,
            flows.Recipient(reader.organisation_id, regulator=reader.regulator),
            [
                flows.Opening(
                    record_id=line.input_record_id or record.id,
                    owner_id=(line.input_owner_id if line.input_record_id else None)
                    or provenance.owner_id,
                    grant=grants[line.position].grant,
                    reference=f"{reference}:{record.id}#{line.position}",
                    share_id=grants[line.position].share_id,
                )
                for line in lines
                if line.position in grants and line.position not in problems
            ],
        )
    return opened


def withheld_summary(lines: Sequence[ProvenanceLine], opened: Mapping[int, Any]) -> dict[str, Any]:
    """How many lines the reader may not open, by whose they are, in words."""
    closed = [line for line in lines if line.position not in opened]
    suppliers = sum(1 for line in closed if line.kind != SourceKind.FACTOR.value)
    own = len(closed) - suppliers
    parts = []
    if suppliers:
        parts.append(
            f"{suppliers} input{'s' if suppliers != 1 else ''} from suppliers who have not "
            "shared them with you"
        )
    if own:
        parts.append(f"{own} line{'s' if own != 1 else ''} of the chain-owner's own activity data")
    return {
        "count": len(closed),
        "suppliers": suppliers,
        "own": own,
        "summary": (" and ".join(parts) + f" \u2014 {WITHHELD_SUMMARY}") if parts else "",
    }


def signed_attestation_json(attestation: Attestation) -> dict[str, Any]:
    return {**signed_attestation(attestation), "logIndex": attestation.log_index}


def view_of_record(
    session: Session,
    principal: Principal | None,
    record: FootprintRecord,
    *,
    key: ExchangeKey,
    origin: str,
) -> dict[str, Any] | None:
    """:func:`view` of a record the caller has already read; None when it is not derived."""
    provenance = provenance_of_record(session, record)
    if provenance is None:
        return None
    return _view(session, principal, record, provenance, key=key, origin=origin)


def view(
    session: Session,
    principal: Principal | None,
    record_id: str,
    *,
    key: ExchangeKey,
    origin: str,
) -> dict[str, Any]:
    """The provenance of a derived record the caller may read: its commitments and totals,
    the lines the caller may open (each opening checked against the signed commitment),
    how many it may not, and the exchange's attestation."""
    if principal is not None:
        principal.require_scope("footprints:read")
    record = footprints.get_record(session, principal, record_id)
    provenance = provenance_of_record(session, record)
    if provenance is None:
        raise NotFound(f"footprint {record_id} is not a derived footprint with provenance")
    return _view(session, principal, record, provenance, key=key, origin=origin)


def _view(
    session: Session,
    principal: Principal | None,
    record: FootprintRecord,
    provenance: Provenance,
    *,
    key: ExchangeKey,
    origin: str,
) -> dict[str, Any]:
    opened = open_for(
        session,
        Reader.of(principal),
        record,
        provenance,
        key=key,
        origin=origin,
        reference="provenance",
    )
    lines: list[dict[str, Any]] = []
    for line in opened.lines:
        item: dict[str, Any] = {"index": line.position, "commitment": line.commitment}
        if line.position in opened.problems:
            item |= {"opened": False, "problem": opened.problems[line.position]}
        elif line.position in opened.grants:
            item |= {
                "opened": True,
                "grant": opened.grants[line.position].grant.value,
                "opening": {
                    "index": line.position,
                    "salt": line.salt,
                    "line": json.loads(line.line_json),
                },
            }
        else:
            item |= {"opened": False}
        lines.append(item)
    attestation = opened.attestation
    return {
        "record": record.id,
        "owner": record.owner_id,
        "provenance": provenance.kind,
        "format": opened.data.get("format"),
        "totals": opened.data.get("totals"),
        "commitments": opened.data.get("commitments"),
        "commitmentRoot": opened.data.get("commitmentRoot"),
        "lines": lines,
        "withheld": withheld_summary(
            opened.lines, {i: g for i, g in opened.grants.items() if i not in opened.problems}
        ),
        "attestation": None if attestation is None else signed_attestation_json(attestation),
    }


# --- the verification bundle ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BundlePart:
    """A derived record's provenance in a verification bundle, made before the bundle's
    checkpoint so that an attestation issued for it falls under that checkpoint."""

    opened: Opened

    def to_json(self, session: Session, size: int) -> dict[str, Any]:
        attestation = self.opened.attestation
        proof = None
        if attestation is not None and attestation.log_index < size:
            found = log.inclusion_proof(session, attestation.log_index, size)
            proof = {
                "index": found.index,
                "size": found.size,
                "leafHash": b64(found.leaf_hash),
                "proof": [b64(value) for value in found.proof],
                "rootHash": b64(found.root_hash),
            }
        return {
            "provenance": self.opened.provenance.kind,
            # The commitments the openings open (for a migrated record read as signed, the
            # footprint itself holds none).
            "commitments": {
                name: self.opened.data.get(name)
                for name in ("commitments", "commitmentRoot", "totals")
            },
            "attestation": None if attestation is None else signed_attestation_json(attestation),
            "attestationProof": proof,
            "openings": self.opened.openings(),
            "withheld": withheld_summary(
                self.opened.lines,
                {i: g for i, g in self.opened.grants.items() if i not in self.opened.problems},
            ),
        }


def bundle_part(
    session: Session,
    principal: Principal | None,
    record: FootprintRecord,
    *,
    key: ExchangeKey,
    origin: str,
) -> BundlePart | None:
    """The provenance part of ``record``'s bundle for its reader, if it is a derived record."""
    provenance = provenance_of_record(session, record)
    if provenance is None:
        return None
    return BundlePart(
        open_for(
            session,
            Reader.of(principal),
            record,
            provenance,
            key=key,
            origin=origin,
            reference="verification-bundle",
        )
    )
