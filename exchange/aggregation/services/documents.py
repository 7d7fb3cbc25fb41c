"""What a computed result shows: the reproducible result document, the explanation tree,
the CSV export, footprint requests for missing supplier data, and the derived footprint
(its draft and, when it arrives, its link to the product)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import quantities, signing
from exchange.aggregation import commitments, engine
from exchange.aggregation.engine import SourceKind
from exchange.aggregation.models import DerivedRecord, Product, Result
from exchange.aggregation.services import provenance
from exchange.aggregation.services.common import (
    PROVENANCE_EXTENSION_PATH,
    READ_SCOPE,
    derived_records_of,
    own_product,
    pact_unit,
    product_json,
    visible_record_ids,
)
from exchange.aggregation.services.loading import load_graph
from exchange.db import utcnow
from exchange.errors import Conflict, ValidationFailed
from exchange.footprints.models import FootprintRecord, RecordStatus
from exchange.organisations.models import CompanyIdentifier, Organisation
from exchange.organisations.principals import Principal
from exchange.pact import services as pact
from exchange.pact_wire.filters import Criteria
from exchange.pact_wire.host import Host

# --- explaining ------------------------------------------------------------------------------

# A component's share of the root's headline figure (pcfExcludingBiogenicUptake).
TO_ROOT_HEADLINE = "contributionToRootExcludingBiogenicUptake"


def _detailed(session: Session, product: Product) -> engine.NodeResult:
    loaded = load_graph(session, [product.id], pinned=True)
    try:
        return engine.compute_node(
            loaded.nodes[product.id], {**loaded.sources, **loaded.known}, detail=True
        )
    except engine.AggregationError as exc:
        raise ValidationFailed(exc.message, details=exc.details) from exc


def _computed(session: Session, product: Product) -> Result:
    result = session.get(Result, product.id)
    if result is None:
        raise Conflict(f"product {product.code} has not been computed yet; compute it first")
    return result


def result_document(session: Session, principal: Principal, product_id: str) -> dict[str, Any]:
    """The reproducible computation result of one of the caller's products."""
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    _computed(session, product)
    return _owner_document(session, product)


def _owner_document(session: Session, product: Product) -> dict[str, Any]:
    """The result document as its owner may see it now (unshared inputs withheld)."""
    document = engine.result_document(product_json(product), _detailed(session, product))
    _withhold_unshared(session, product.owner_id, document["inputs"])
    return document


def digest_of(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(signing.canonical_json(document)).hexdigest()


def _document_digest_or_none(session: Session, product: Product) -> str | None:
    if session.get(Result, product.id) is None:
        return None
    try:
        return digest_of(_owner_document(session, product))
    except ValidationFailed:
        return None


def _withhold_unshared(session: Session, viewer_id: str, inputs: list[dict[str, Any]]) -> None:
    """Record inputs the viewer may no longer see keep their figures but lose their identity."""
    ids = {item["input"]["recordId"] for item in inputs if item["kind"] == SourceKind.RECORD.value}
    visible = visible_record_ids(session, viewer_id, ids)
    for item in inputs:
        if item["kind"] == SourceKind.RECORD.value and item["input"]["recordId"] not in visible:
            item["input"] = {"withheld": True, "reason": "no longer shared with you"}


def explain(session: Session, principal: Principal, product_id: str) -> dict[str, Any]:
    """The breakdown tree: by tier, by component, down to every input the caller may see.

    The caller's own sub-products are opened; another chain-owner's product is an opaque
    input (its figures and its signed derived record if any, never its lines).
    """
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    by_tier: dict[int, tuple[Decimal, Decimal]] = {}
    tree = _explain_node(session, principal.organisation_id, product, 1, engine.ONE, by_tier, [])
    return {
        "product": product_json(product),
        "tree": tree,
        "byTier": [
            {
                "tier": tier,
                engine.HEADLINE: quantities.rounded_text(excluding),
                "total": quantities.rounded_text(total),
            }
            for tier, (excluding, total) in sorted(by_tier.items())
        ],
    }


def _explain_node(
    session: Session,
    viewer_id: str,
    product: Product,
    tier: int,
    factor: Decimal,
    by_tier: dict[int, tuple[Decimal, Decimal]],
    path: list[str],
) -> dict[str, Any]:
    result = _computed(session, product)
    detailed = _detailed(session, product)
    document = engine.result_document(product_json(product), detailed)
    _withhold_unshared(session, viewer_id, document["inputs"])
    for item, line_result in zip(document["inputs"], detailed.lines, strict=True):
        scale = engine.CONTEXT.divide(
            line_result.converted_quantity, line_result.source.declared_amount
        )
        share = engine.CONTEXT.multiply(factor, line_result.contribution[0])
        share_excluding = engine.CONTEXT.multiply(factor, engine.headline(line_result.contribution))
        item["tier"] = tier + 1
        item[TO_ROOT_HEADLINE] = quantities.rounded_text(share_excluding)
        item["contributionToRoot"] = quantities.rounded_text(share)
        child_id = item["input"].get("productId") if item["kind"] == "product" else None
        child = session.get(Product, child_id) if child_id else None
        if child is not None and child.owner_id == viewer_id and child.id not in path:
            item["breakdown"] = _explain_node(
                session,
                viewer_id,
                child,
                tier + 1,
                engine.CONTEXT.multiply(factor, scale),
                by_tier,
                [*path, product.id],
            )
        else:
            excluding, total = by_tier.get(tier + 1, (engine.ZERO, engine.ZERO))
            by_tier[tier + 1] = (excluding + share_excluding, total + share)
            if child is not None:
                item["opaque"] = True
                item["derivedRecords"] = [
                    link.record_id
                    for link in derived_records_of(session, child.id)
                    if visible_record_ids(session, viewer_id, [link.record_id])
                ]
    return {
        "tier": tier,
        "product": document["product"],
        "pcf": document["pcf"],
        "quality": document["quality"],
        "stale": result.stale,
        "staleReason": result.stale_reason,
        "components": document["inputs"],
    }


def export_rows(session: Session, principal: Principal, product_id: str) -> list[dict[str, str]]:
    """Every input of the tree the caller may see, one flat row each (for CSV)."""
    explanation = explain(session, principal, product_id)
    rows: list[dict[str, str]] = []

    def walk(node: dict[str, Any], path: str) -> None:
        for item in node["components"]:
            reference = item["input"]
            rows.append(
                {
                    "path": f"{path}/{item['position']}",
                    "tier": str(item["tier"]),
                    "product": node["product"]["code"],
                    "category": item["category"],
                    "label": item["label"],
                    "kind": item["kind"],
                    "secondary": "yes" if item["secondary"] else "no",
                    "quantity": item["quantity"],
                    "unit": item["unit"],
                    "input": str(
                        reference.get("recordId")
                        or reference.get("factorId")
                        or reference.get("productId")
                        or "withheld"
                    ),
                    "owner": str(reference.get("owner") or ""),
                    "kid": str(reference.get("kid") or ""),
                    "logIndex": str(reference.get("logIndex", "")),
                    "factorVersion": str(reference.get("version", "")),
                    # PACT's headline figure first, then the total with biogenic uptake.
                    "contributionExcludingBiogenicUptake": item["contribution"][engine.HEADLINE],
                    "contribution": item["contribution"]["total"],
                    TO_ROOT_HEADLINE: item[TO_ROOT_HEADLINE],
                    "contributionToRoot": item["contributionToRoot"],
                }
            )
            if "breakdown" in item:
                walk(item["breakdown"], f"{path}/{item['position']}")

    walk(explanation["tree"], node_path := explanation["product"]["code"])
    del node_path
    return rows


# --- missing data ----------------------------------------------------------------------------


def request_missing(
    session: Session, principal: Principal, product_id: str, *, host: Host
) -> list[dict[str, Any]]:
    """One PACT footprint request to each supplier whose data the result lacks."""
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    document = engine.result_document(product_json(product), _detailed(session, product))
    wanted: dict[str, set[str]] = {}
    for missing in document["missingSupplierData"]:
        if "productId" in missing:
            wanted.setdefault(missing["supplierId"], set()).add(missing["productId"])
    sent = []
    for supplier_id, product_ids in sorted(wanted.items()):
        request = pact.create_request(
            session,
            principal,
            supplier_id=supplier_id,
            criteria=Criteria(product_ids=frozenset(product_ids)),
            comment=f"footprint needed for {product.name} ({product.code})",
            host=host,
        )
        sent.append(
            {
                "requestId": request.id,
                "supplierId": supplier_id,
                "productIds": sorted(product_ids),
                "status": request.status.value,
            }
        )
    return sent


# --- derived footprints ----------------------------------------------------------------------


def provenance_schema_url(host: Host) -> str:
    return host.base_url + PROVENANCE_EXTENSION_PATH


def derived_draft(
    session: Session,
    principal: Principal,
    product_id: str,
    *,
    host: Host,
    reference_year: int | None = None,
) -> dict[str, Any]:
    """The PACT footprint of a computed product, ready for its owner to sign and submit.

    Its confidential provenance - the totals by part and a salted commitment to each input
    line, never the lines - rides in a ``DataModelExtension``, so the owner's signature
    covers it. Making the draft verifies every input and recomputes every total
    (:func:`exchange.aggregation.services.provenance.prepare`), and stores the openings:
    the caller's transaction must be committed.
    """
    principal.require_scope(READ_SCOPE)
    product = own_product(session, principal, product_id)
    stored = _computed(session, product)
    if stored.stale:
        raise Conflict(
            f"the result of {product.code} is stale ({stored.stale_reason}); recompute it first"
        )
    document = _owner_document(session, product)
    organisation = session.get(Organisation, principal.organisation_id)
    assert organisation is not None
    company_ids = sorted(
        session.scalars(
            sa.select(CompanyIdentifier.urn).where(
                CompanyIdentifier.organisation_id == organisation.id
            )
        )
    ) or [f"urn:uuid:{organisation.id}"]
    year = reference_year or stored.computed_at.year
    # Packaging is in the boundary when a line is packaging or a component brings some.
    packaging_included = stored.packaging != 0 or any(
        item["category"] == engine.PACKAGING for item in document["inputs"]
    )
    total, fossil, biogenic, land_use, packaging = (
        stored.total,
        stored.fossil,
        stored.biogenic,
        stored.land_use,
        stored.packaging,
    )
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": pact_unit(product.declared_unit),
        "declaredUnitAmount": quantities.rounded_text(product.declared_amount),
        "productMassPerDeclaredUnit": quantities.rounded_text(
            product.mass_per_declared_unit or engine.ZERO
        ),
        "referencePeriodStart": f"{year}-01-01T00:00:00Z",
        "referencePeriodEnd": f"{year + 1}-01-01T00:00:00Z",
        "pcfExcludingBiogenicUptake": quantities.rounded_text(total - biogenic),
        "pcfIncludingBiogenicUptake": quantities.rounded_text(total),
        "fossilCarbonContent": "0",
        "fossilGhgEmissions": quantities.rounded_text(max(fossil, engine.ZERO)),
        "landUseChangeGhgEmissions": quantities.rounded_text(max(land_use, engine.ZERO)),
        "packagingEmissionsIncluded": packaging_included,
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["ISO14067", "PACT-3.0"],
        "exemptedEmissionsPercent": "0",
    }
    if biogenic <= 0:
        pcf["biogenicCO2Uptake"] = quantities.rounded_text(biogenic)
    if packaging_included and packaging >= 0:  # PACT: a positive-or-zero decimal
        pcf["packagingGhgEmissions"] = quantities.rounded_text(packaging)
    if stored.primary_data_share is not None:
        pcf["primaryDataShare"] = quantities.rounded_text(stored.primary_data_share)
    if stored.dqr_technological is not None:
        assert stored.dqr_geographical is not None and stored.dqr_temporal is not None
        pcf["dqi"] = {
            "technologicalDQR": quantities.rounded_text(stored.dqr_technological),
            "geographicalDQR": quantities.rounded_text(stored.dqr_geographical),
            "temporalDQR": quantities.rounded_text(stored.dqr_temporal),
        }
    factor_sources = sorted(
        {
            (item["input"]["source"][:200] or item["input"]["code"], str(item["input"]["version"]))
            for item in document["inputs"]
            if item["kind"] == SourceKind.FACTOR.value
        }
    )
    if factor_sources:
        pcf["secondaryEmissionFactorSources"] = [
            {"name": name, "version": version} for name, version in factor_sources
        ]
    footprint_id = str(uuid.uuid4())
    data = provenance.prepare(
        session, product, stored, footprint_id, result_digest=digest_of(document)
    )
    draft: dict[str, Any] = {
        "id": footprint_id,
        "specVersion": "3.0.0",
        "created": utcnow().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "status": "Active",
        "companyName": organisation.name,
        "companyIds": company_ids,
        "productDescription": product.name,
        "productIds": [product.product_urn],
        "productNameCompany": product.name,
        "comment": "Derived on the Footprint Exchange from its bill of materials; "
        "see the provenance extension.",
        "pcf": pcf,
        "extensions": [
            {
                "specVersion": "2.0.0",
                "dataSchema": provenance_schema_url(host),
                "data": data,
            }
        ],
    }
    preceding = current_derived_records(session, product)
    if preceding:
        # The new record supersedes the last one: its users' results go stale, up every
        # tier and across companies, and whoever was given it is given this one.
        draft["precedingPfIds"] = preceding
    return draft


def current_derived_records(session: Session, product: Product) -> list[str]:
    """The owner's Active records that stand for the product's last derived footprint.

    A derived record its owner has since superseded by hand is followed to its newest
    version, so deriving again replaces whatever now stands in its place.
    """
    found: set[str] = set()
    for link in derived_records_of(session, product.id):
        record = session.get(FootprintRecord, link.record_id)
        seen: set[str] = set()
        while (
            record is not None
            and record.status == RecordStatus.DEPRECATED
            and record.deprecated_by_id is not None
            and record.id not in seen
        ):
            seen.add(record.id)
            record = session.get(FootprintRecord, record.deprecated_by_id)
        if (
            record is not None
            and record.owner_id == product.owner_id
            and record.status == RecordStatus.ACTIVE
        ):
            found.add(record.id)
    return sorted(found)


def provenance_schema(host: Host) -> dict[str, Any]:
    """The JSON Schema of the signed provenance extension (confidential, 2.0.0)."""
    hex64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": provenance_schema_url(host),
        "title": "Footprint Exchange aggregation provenance (confidential)",
        "description": (
            "How a chain-owner's footprint was computed, without disclosing its inputs: "
            "the totals by part, quality roll-ups, and one salted commitment per input "
            "line - the hex SHA-256 of a 32-byte salt followed by the RFC 8785 bytes of the "
            "line (its input's record id, key id, signature and log index, or factor, its "
            "quantity and unit, its contribution by part) - with their root, the hex SHA-256 "
            "of the RFC 8785 array of the commitments. The exchange opens a line to those "
            "who may see its input, and attests (footprint-exchange:aggregation-attestation:v1, "
            "logged) that it verified every input and recomputed every total."
        ),
        "type": "object",
        "required": ["format", "productId", "totals", "commitments", "commitmentRoot"],
        "properties": {
            "format": {"const": commitments.PROVENANCE_FORMAT},
            "productId": {"type": "string"},
            "totals": {"type": "object", "additionalProperties": {"type": "string"}},
            "quality": {"type": ["object", "null"]},
            "directSecondaryShare": {"type": ["string", "null"]},
            "commitments": {"type": "array", "items": hex64},
            "commitmentRoot": hex64,
        },
        "additionalProperties": False,
    }


def cleartext_provenance_schema(host: Host) -> dict[str, Any]:
    """The schema of the provenance extension records signed before confidential
    provenance carry (1.0.0): their inputs in clear, served now to few readers."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": host.base_url + commitments.CLEARTEXT_PROVENANCE_PATH,
        "title": "Footprint Exchange aggregation provenance (cleartext, no longer issued)",
        "description": (
            "How a chain-owner's footprint was computed, as derived footprints signed before "
            "confidential provenance state it: the reproducible result (its SHA-256 over the "
            "RFC 8785 form is resultDigest) listing every input with its contribution, and "
            "the breakdown tree. The exchange serves such records in this form only to their "
            "owner, the regulator and a certification body they were shared with; everyone "
            "else gets the confidential (2.0.0) form."
        ),
        "type": "object",
        "required": ["productId", "resultDigest", "result"],
        "properties": {
            "productId": {"type": "string"},
            "resultDigest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "result": {"type": "object"},
            "explanation": {"type": "object"},
        },
    }


def link_derived(session: Session, record: FootprintRecord) -> None:
    """A new record that carries our provenance for one of its owner's products is bound to
    the provenance prepared for it (or refused: see
    :func:`exchange.aggregation.services.provenance.bind`) and linked to the product."""
    bound = provenance.bind(session, record, json.loads(record.footprint_json))
    if bound is None:
        return
    product = session.get(Product, bound.product_id)
    assert product is not None
    current = _document_digest_or_none(session, product)
    session.add(
        DerivedRecord(
            record_id=record.id,
            product_id=product.id,
            result_digest=str(bound.result_digest),
            matched_result=current == bound.result_digest,
            linked_at=utcnow(),
        )
    )
    session.flush()
