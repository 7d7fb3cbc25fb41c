"""Derived footprints signed before confidential provenance, with their inputs in clear.

Their signed documents stay as they are - the owner's signature, the log entry and any
certificate cover those bytes - and nothing of them is lost. The upgrade
(:func:`convert_cleartext`, run by migration 0018) commits to each cleartext line with a
fresh salt as the exchange would have, keeps the openings, and stores a *withheld form*
of the record whose provenance is those commitments: every reader but the owner, the
regulator and a certification body the record was shared with is served that form (see
:mod:`exchange.footprints.services.withheld`). On its first reading the exchange verifies
the record (:func:`verify_migrated`) and attests it, stating the digest of what it
withholds and of what it serves.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities, signing
from exchange.aggregation import commitments, engine
from exchange.aggregation.engine import SourceKind
from exchange.aggregation.models import Provenance, ProvenanceLine
from exchange.aggregation.services.loading import record_values
from exchange.aggregation.services.provenance import (
    InputCounts,
    _line_reference,
    _set_counts,
    check_input_record,
    extension_data,
)
from exchange.db import utcnow
from exchange.factors.models import Factor
from exchange.log import services as log
from exchange.organisations.models import SigningKey

_DERIVED = sa.table(
    "agg_derived_records",
    sa.column("record_id"),
    sa.column("product_id"),
    sa.column("result_digest"),
)
_RECORDS = sa.table(
    "footprint_records",
    sa.column("id"),
    sa.column("owner_id"),
    sa.column("footprint_json"),
    sa.column("received_at"),
)
_PROVENANCE = sa.table(
    "agg_provenance",
    sa.column("footprint_id"),
    sa.column("product_id"),
    sa.column("owner_id"),
    sa.column("kind"),
    sa.column("data_json"),
    sa.column("commitment_root"),
    sa.column("result_digest"),
    sa.column("verified_at"),
    sa.column("counts_json"),
    sa.column("created_at"),
    sa.column("bound_at"),
)
_LINES = sa.table(
    "agg_provenance_lines",
    sa.column("footprint_id"),
    sa.column("position"),
    sa.column("kind"),
    sa.column("salt"),
    sa.column("line_json"),
    sa.column("commitment"),
    sa.column("input_record_id"),
    sa.column("input_owner_id"),
    sa.column("input_product_id"),
)
_FORMS = sa.table(
    "footprint_withheld_forms",
    sa.column("record_id"),
    sa.column("footprint_json"),
    sa.column("created_at"),
)


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def withheld_footprint(
    footprint: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A cleartext-provenance footprint's withheld form and its lines, or None when it
    carries no cleartext provenance extension. The lines are the result's inputs as signed."""
    extensions = footprint.get("extensions")
    if not isinstance(extensions, list):
        return None
    for position, extension in enumerate(extensions):
        if not commitments.is_provenance_extension(
            extension, commitments.CLEARTEXT_PROVENANCE_PATH
        ):
            continue
        data = _object(extension.get("data"))
        result = _object(data.get("result"))
        inputs = result.get("inputs")
        lines = [
            line if isinstance(line, dict) else {"value": line}
            for line in (inputs if isinstance(inputs, list) else [])
        ]
        served = copy.deepcopy(dict(footprint))
        served["extensions"][position] = {
            "specVersion": extension.get("specVersion", "2.0.0"),
            "dataSchema": str(extension["dataSchema"]).replace(
                commitments.CLEARTEXT_PROVENANCE_PATH, commitments.PROVENANCE_PATH
            ),
            "data": {
                "productId": data.get("productId"),
                "totals": result.get("pcf"),
                "quality": result.get("quality"),
                "directSecondaryShare": result.get("directSecondaryShare"),
            },
        }
        return served, {"lines": lines, "position": position}
    return None


def convert_cleartext(connection: sa.Connection, *, now: dt.datetime | None = None) -> int:
    """Commit to the cleartext lines of every linked derived record that has no provenance
    yet and store its withheld form; how many were converted. Core only (a migration runs
    it against the schema of its own revision)."""
    now = now or utcnow()
    done = set(connection.scalars(sa.select(_PROVENANCE.c.footprint_id)))
    rows = connection.execute(
        sa.select(
            _DERIVED.c.record_id,
            _DERIVED.c.product_id,
            _DERIVED.c.result_digest,
            _RECORDS.c.owner_id,
            _RECORDS.c.footprint_json,
            _RECORDS.c.received_at,
        )
        .join_from(_DERIVED, _RECORDS, _RECORDS.c.id == _DERIVED.c.record_id)
        .where(_RECORDS.c.footprint_json.contains(commitments.CLEARTEXT_PROVENANCE_PATH))
        .order_by(_DERIVED.c.record_id)
    ).all()
    converted = 0
    for record_id, product_id, digest, owner_id, footprint_json, received_at in rows:
        if record_id in done:
            continue
        found = withheld_footprint(json.loads(footprint_json))
        if found is None:
            continue
        served, parts = found
        lines = parts["lines"]
        salts = [commitments.new_salt() for _ in lines]
        values = [commitments.commit(salt, line) for salt, line in zip(salts, lines, strict=True)]
        signed_data = served["extensions"][parts["position"]]["data"]
        data = extension_data(
            str(signed_data["productId"] or product_id),
            signed_data["totals"] or {},
            signed_data["quality"],
            signed_data["directSecondaryShare"],
            values,
        )
        served["extensions"][parts["position"]]["data"] = data
        connection.execute(
            sa.insert(_PROVENANCE).values(
                footprint_id=record_id,
                product_id=product_id,
                owner_id=owner_id,
                kind=commitments.MIGRATED,
                data_json=signing.canonical_json(data).decode("utf-8"),
                commitment_root=data["commitmentRoot"],
                result_digest=digest,
                verified_at=None,
                counts_json=None,
                created_at=now,
                bound_at=received_at,
            )
        )
        if lines:
            connection.execute(
                sa.insert(_LINES),
                [
                    {
                        "footprint_id": record_id,
                        "position": index,
                        "kind": str(line.get("kind", ""))[:16],
                        "salt": salt,
                        "line_json": signing.canonical_json(line).decode("utf-8"),
                        "commitment": value,
                        "input_record_id": reference[0],
                        "input_owner_id": reference[1],
                        "input_product_id": reference[2],
                    }
                    for index, (line, salt, value) in enumerate(
                        zip(lines, salts, values, strict=True)
                    )
                    for reference in [_line_reference(line)]
                ],
            )
        connection.execute(
            sa.insert(_FORMS).values(
                record_id=record_id,
                footprint_json=signing.canonical_json(served).decode("utf-8"),
                created_at=now,
            )
        )
        converted += 1
    return converted


# --- verifying a migrated record ------------------------------------------------------------


def _parts(values: tuple[Decimal, ...], scale: Decimal, packaging_line: bool) -> list[Decimal]:
    """A line's contribution by part (total, fossil, biogenic, land use, packaging), unrounded,
    as :func:`exchange.aggregation.engine.compute_node` makes it."""
    total, fossil, biogenic, land_use, packaging = (value * scale for value in values)
    packed = total - biogenic if packaging_line else packaging
    return [total, fossil, biogenic, land_use, packed]


def _stated(line: Mapping[str, Any]) -> list[Decimal]:
    contribution = line["contribution"]
    return [Decimal(contribution[name]) for name in engine.PART_NAMES]


def _line_parts(
    session: Session,
    line: Mapping[str, Any],
    record_documents: Mapping[str, Mapping[str, Any]],
) -> tuple[list[Decimal], str | None]:
    """A line's contribution recomputed from its verified input, or the stated one (a product
    line); with the reason it cannot be recomputed, if any."""
    kind = line.get("kind")
    if kind == SourceKind.PRODUCT.value:
        return _stated(line), None
    scale = engine.CONTEXT.divide(
        Decimal(line["convertedQuantity"]), Decimal(line["declaredAmount"])
    )
    packaging_line = line.get("category") == engine.PACKAGING
    reference = line.get("input") or {}
    if kind == SourceKind.RECORD.value:
        document = record_documents.get(str(reference.get("recordId")))
        if document is None:
            return _stated(line), "its input record could not be verified"
        values = record_values(document)
        vector = tuple(
            values[name] for name in ("total", "fossil", "biogenic", "land_use", "packaging")
        )
        if Decimal(values["declared_amount"]) != Decimal(line["declaredAmount"]):
            return _stated(line), "its declared amount is not its input's"
        return _parts(vector, scale, packaging_line), None
    factor = session.get(Factor, str(reference.get("factorId", "")))
    if factor is None or factor.version != reference.get("version"):
        return _stated(line), "its factor is not the one it names"
    value = factor.value
    zero = engine.ZERO
    return _parts((value, value, zero, zero, zero), scale, packaging_line), None


def verify_migrated(session: Session, record: Any, provenance: Provenance) -> list[str]:
    """Verify a migrated derived record from its signed document: its owner's signature, each
    supplier record it names (signature, key, status when the derived record was received,
    log inclusion), each line's contribution recomputed from its input and the totals from
    the lines. On success ``verified_at`` and the counts are set; the problems otherwise."""
    problems: list[str] = []
    key = session.get(SigningKey, record.signature_kid) if record.signature_kid else None
    if key is None or record.signature is None:
        problems.append("the record is not signed by its owner")
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
            problems.append(f"the owner's signature does not verify: {exc}")
        if not key.valid_at(record.received_at):
            problems.append("the owner's key was not valid when the record was received")
    counts = InputCounts()
    size = log.tree_size(session)
    lines = [
        json.loads(row.line_json)
        for row in session.scalars(
            sa.select(ProvenanceLine)
            .where(ProvenanceLine.footprint_id == provenance.footprint_id)
            .order_by(ProvenanceLine.position)
        )
    ]
    documents: dict[str, Mapping[str, Any]] = {}
    for line in lines:
        kind = line.get("kind")
        if kind == SourceKind.RECORD.value:
            input_record, found = check_input_record(
                session,
                line.get("input") or {},
                at=record.received_at,
                counts=counts,
                proof_size=size,
            )
            problems += found
            if input_record is not None and not found:
                documents[input_record.id] = json.loads(input_record.footprint_json)
        elif kind == SourceKind.FACTOR.value:
            counts.factors += 1
        else:
            counts.products += 1
    sums = [engine.ZERO] * len(engine.PART_NAMES)
    for index, line in enumerate(lines):
        try:
            parts, why = _line_parts(session, line, documents)
        except (KeyError, TypeError, ArithmeticError) as exc:
            problems.append(f"line {index} cannot be read: {exc}")
            continue
        if why is not None:
            problems.append(f"line {index}: {why}")
        elif [quantities.rounded(part) for part in parts] != _stated(line):
            problems.append(f"line {index}: its contribution is not its input's")
        sums = [engine.CONTEXT.add(left, right) for left, right in zip(sums, parts, strict=True)]
    totals = json.loads(provenance.data_json)["totals"]
    try:
        stated = [Decimal(totals[name]) for name in engine.PART_NAMES]
    except (KeyError, TypeError, ArithmeticError):
        stated = []
    if [quantities.rounded(value) for value in sums] != stated:
        problems.append("the totals are not the sum of the lines")
    if not problems:
        provenance.verified_at = utcnow()
        _set_counts(provenance, counts)
        session.flush()
    return problems
