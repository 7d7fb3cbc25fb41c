"""What the routes themselves cannot tell the OpenAPI document: query parameters, request
bodies and response shapes of each operation, keyed by Flask endpoint name.

Request bodies use the areas' pydantic models where they exist; the PACT host's answers use
the PACT ``ProductFootprint`` model. An endpoint missing here is still documented (path,
method, path parameters, security, the error body) with a JSON object as its answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from exchange import limits
from exchange.db import ROW_ID_MAX
from exchange.disclosure.schemas import RequirementRequest
from exchange.footprints.schemas import EnvelopeSignature, SignedEnvelope
from exchange.labels.schemas import (
    AccreditationChange,
    CertificateChange,
    LabelRequest,
    SchemeRequest,
    VerifyRequest,
)
from exchange.organisations.schemas import KeyRegistration, KeyRevocation
from exchange.pact_wire import ProductFootprint
from exchange.sites.schemas import ProductionRequest, SiteRequest

Schema = type[BaseModel] | dict[str, Any]
JSON: Final = ("application/json",)
OBJECT: Final[dict[str, Any]] = {"type": "object"}
TEXT: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}
_WHOLE: Final = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_ID: Final = {"type": "integer", "minimum": 1, "maximum": ROW_ID_MAX}


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation's documentation beyond its route."""

    summary: str = ""
    query: tuple[dict[str, Any], ...] = ()
    paged: bool = False
    body: Schema | None = None
    body_media: tuple[str, ...] = JSON
    # status -> (media types, schema); no media types: an empty body
    ok: Mapping[int, tuple[tuple[str, ...], Any]] = dataclasses.field(
        default_factory=lambda: {200: (JSON, OBJECT)}
    )
    errors: frozenset[int] = frozenset()
    # error statuses whose body is not the exchange's Error (OAuth2's own)
    raw_errors: Mapping[int, tuple[tuple[str, ...], Any]] = dataclasses.field(default_factory=dict)


def q(
    name: str, schema: Mapping[str, Any] | None = None, *, required: bool = False
) -> dict[str, Any]:
    """A query parameter (a string unless said otherwise)."""
    parameter: dict[str, Any] = {"name": name, "in": "query", "schema": dict(schema or TEXT)}
    if required:
        parameter["required"] = True
    return parameter


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def listed(items: Schema) -> dict[str, Any]:
    """``{"data": [...]}``."""
    item = items if isinstance(items, dict) else {"$ref": f"#/components/schemas/{items.__name__}"}
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": item}},
    }


_SIGNED_STATEMENT: Final = {
    "type": "object",
    "required": ["attestation", "signature", "logIndex"],
    "properties": {
        "attestation": OBJECT,
        "signature": OBJECT,
        "logIndex": _WHOLE,
    },
}
# GET /api/v1/footprints/<id>/provenance (see docs/topics/privacy-model.md).
PROVENANCE_VIEW: Final = {
    "type": "object",
    "required": [
        "record",
        "owner",
        "provenance",
        "totals",
        "commitments",
        "commitmentRoot",
        "lines",
        "withheld",
        "attestation",
    ],
    "properties": {
        "record": TEXT,
        "owner": TEXT,
        "provenance": {"type": "string", "enum": ["committed", "migrated"]},
        "format": {"type": ["string", "null"]},
        "totals": OBJECT,
        "commitments": {"type": "array", "items": TEXT},
        "commitmentRoot": TEXT,
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "commitment", "opened"],
                "properties": {
                    "index": _WHOLE,
                    "commitment": TEXT,
                    "opened": {"type": "boolean"},
                    "grant": TEXT,
                    "opening": OBJECT,
                    "problem": TEXT,
                },
            },
        },
        "withheld": OBJECT,
        "attestation": {"oneOf": [{"type": "null"}, _SIGNED_STATEMENT]},
    },
}


def ok(status: int = 200, schema: Any = OBJECT, media: tuple[str, ...] = JSON) -> dict[int, Any]:
    return {status: (media, schema)}


def created(schema: Any = OBJECT) -> dict[int, Any]:
    """200 when the same thing was already there, 201 when it is new."""
    return {200: (JSON, schema), 201: (JSON, schema)}


def _envelope_schema() -> dict[str, Any]:
    signature = EnvelopeSignature.model_json_schema(by_alias=True)
    return {
        "type": "object",
        "required": ["footprint", "signature", "exchange"],
        "properties": {
            "footprint": {"type": "object"},
            "signature": {"anyOf": [signature, {"type": "null"}]},
            "exchange": {
                "type": "object",
                "required": ["id", "signed", "owner", "status", "disclosure", "logIndex"],
                "properties": {
                    "id": {"type": "string"},
                    "signed": {"type": "boolean"},
                    # The signing key's status when the record arrived; null when unsigned.
                    "keyStatusAtReceipt": {
                        "enum": ["valid", "revoked", "not-yet-valid", "expired", None]
                    },
                    "owner": {"type": "string"},
                    "status": enum("Active", "Deprecated"),
                    "disclosure": {"type": "string"},
                    "receivedAt": {"type": "string"},
                    "deprecatedBy": {"type": ["string", "null"]},
                    "logIndex": {"type": ["integer", "null"]},
                },
            },
        },
    }


ENVELOPE: Final = _envelope_schema()
_PF: Final = {"$ref": "#/components/schemas/ProductFootprint"}
PACT_LIST: Final = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "array", "items": _PF}},
}
PACT_ONE: Final = {"type": "object", "required": ["data"], "properties": {"data": _PF}}
_PACT_FILTERS: Final = (
    q("productId", {"type": "array", "items": {"type": "string"}}),
    q("companyId", {"type": "array", "items": {"type": "string"}}),
    q("geography", {"type": "array", "items": {"type": "string"}}),
    q("classification", {"type": "array", "items": {"type": "string"}}),
    q("validOn", _TIME),
    q("validAfter", _TIME),
    q("validBefore", _TIME),
    q("status", {"type": "array", "items": enum("Active", "Deprecated")}),
)
TOKEN: Final = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "scope": {"type": "string"},
    },
}
OAUTH_ERROR: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
JWKS: Final = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}
_HTML: Final = ("text/html",)
_OUTPUT: Final = q("format", enum("json", "csv", "html"))
_FORMATTED: Final = {200: (("application/json", "text/csv", "text/html"), OBJECT)}

_ERROR: Final = {"$ref": "#/components/schemas/Error"}
_NULLABLE_TIME: Final = {"type": ["string", "null"]}
_WITNESS: Final = {
    "type": "object",
    "required": ["name", "verifierKey", "submissionPrefix", "logs"],
    "properties": {
        "name": {"type": "string"},
        "verifierKey": {"type": "string"},
        "submissionPrefix": {"type": "string"},
        "logs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["origin", "originHash", "treeSize", "cosignedAt"],
                "properties": {
                    "origin": {"type": "string"},
                    "originHash": {"type": "string"},
                    "partnerId": {"type": ["string", "null"]},
                    "treeSize": {"type": "integer"},
                    "cosignedAt": _NULLABLE_TIME,
                },
            },
        },
    },
}
_LOG_WITNESSES: Final = {
    "type": "object",
    "required": ["quorum", "witnesses"],
    "properties": {
        "quorum": {"type": "integer", "minimum": 0},
        "witnesses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "verifierKey", "operator", "kind", "url", "cosignedSize"],
                "properties": {
                    "name": {"type": "string"},
                    "verifierKey": {"type": "string"},
                    "operator": {"type": "string"},
                    "kind": enum("partner-programme", "independent"),
                    "url": {"type": "string"},
                    "addedAt": {"type": "string"},
                    "cosignedSize": {"type": "integer"},
                    "lastAttemptAt": _NULLABLE_TIME,
                    "lastSuccessAt": _NULLABLE_TIME,
                    "lastError": {"type": ["string", "null"]},
                    "failures": {"type": "integer"},
                },
            },
        },
    },
}
_LABEL_LOG: Final = {
    "type": "object",
    "required": ["label", "entry", "logIndex", "checkpoint", "inclusionProof", "witnessedBy"],
    "properties": {
        "label": {"type": "integer"},
        "entry": {
            "type": "object",
            "required": ["label", "url"],
            "properties": {"label": {"type": "integer"}, "url": {"type": "string"}},
        },
        "logIndex": {"type": "integer"},
        "checkpoint": {"type": "string"},
        "inclusionProof": {"type": "object"},
        "witnessedBy": {"type": "array", "items": {"type": "string"}},
    },
}

DEFAULT: Final = Op()

OPERATIONS: Final[dict[str, Op]] = {
    # --- tokens, directory, keys -----------------------------------------------------------
    "organisations.token": Op(
        summary="OAuth2 client credentials grant: a bearer token",
        body={
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"const": "client_credentials"},
                "scope": {"type": "string"},
                "client_id": {"type": "string"},
                "client_secret": {"type": "string"},
            },
        },
        body_media=("application/x-www-form-urlencoded",),
        ok=ok(schema=TOKEN),
        raw_errors={400: (JSON, OAUTH_ERROR), 401: (JSON, OAUTH_ERROR)},
        errors=frozenset({401}),
    ),
    "organisations.list_organisations": Op(paged=True, query=(q("q"), q("uscc"))),
    "organisations.register_key": Op(body=KeyRegistration, ok=ok(201)),
    "organisations.revoke_key": Op(body=KeyRevocation),
    "organisations.organisation_jwks": Op(ok=ok(schema=JWKS)),
    "system.jwks": Op(ok=ok(schema=JWKS)),
    # --- footprint records -----------------------------------------------------------------
    "footprints.submit": Op(
        body=SignedEnvelope,
        ok={**created(), 207: (JSON, OBJECT)},
    ),
    "footprints.import_unsigned": Op(
        body=ProductFootprint,
        body_media=("application/json", "application/cloudevents+json"),
        ok={**created(), 207: (JSON, OBJECT)},
    ),
    "footprints.get_footprint": Op(ok=ok(schema=ENVELOPE)),
    "footprints.list_footprints": Op(
        paged=True,
        query=(q("owner", enum("me")), q("cursor"), *_PACT_FILTERS),
        ok=ok(schema=listed(ENVELOPE)),
    ),
    "footprints.put_disclosure": Op(
        body={
            "type": "object",
            "required": ["disclosure"],
            "properties": {"disclosure": enum("private", "regulator", "public")},
        },
        ok=ok(schema=ENVELOPE),
    ),
    "footprints.create_share": Op(
        body={
            "type": "object",
            "required": ["organisationId"],
            "properties": {
                "organisationId": {"type": "string"},
                "recordId": {"type": "string"},
                "productId": {"type": "string", "maxLength": limits.URN},
            },
        },
        ok=ok(201),
    ),
    "footprints.list_shares": Op(ok=ok(schema=listed(OBJECT))),
    "footprints.delete_share": Op(ok={204: ((), None)}),
    # --- PACT host -------------------------------------------------------------------------
    "pact.list_footprints": Op(
        query=(q("limit", {"type": "integer", "minimum": 1}), q("cursor"), *_PACT_FILTERS),
        ok=ok(schema=PACT_LIST),
    ),
    "pact.get_footprint": Op(ok=ok(schema=PACT_ONE)),
    "pact.events": Op(
        body=OBJECT,
        body_media=("application/cloudevents+json", "application/json"),
        ok={200: ((), None)},
    ),
    "pact.put_events_endpoint": Op(
        body={
            "type": "object",
            "required": ["baseUrl", "clientId", "clientSecret"],
            "properties": {
                "baseUrl": {"type": "string"},
                "clientId": {"type": "string"},
                "clientSecret": {"type": "string"},
            },
        },
    ),
    "pact.create_request": Op(body=OBJECT, ok=ok(201)),
    "pact.list_requests": Op(
        query=(
            q("direction", enum("incoming", "outgoing")),
            q("status", enum("open", "fulfilled", "rejected")),
        ),
        ok=ok(schema=listed(OBJECT)),
    ),
    "pact.fulfil_request": Op(body=OBJECT),
    "pact.reject_request": Op(body=OBJECT),
    # --- log -------------------------------------------------------------------------------
    "log.checkpoint": Op(
        query=(
            q("format", enum("text", "json")),
            q("size", _WHOLE),
            q("witnessed", enum("true", "false")),
        ),
        ok={200: (("text/plain", "application/json"), OBJECT)},
        errors=frozenset({404}),
    ),
    "log.inclusion": Op(
        query=(q("index", _WHOLE, required=True), q("size", _WHOLE)), errors=frozenset({404})
    ),
    "log.consistency": Op(
        query=(q("first", _WHOLE, required=True), q("second", _WHOLE)), errors=frozenset({404})
    ),
    "log.entries": Op(query=(q("start", _WHOLE), q("end", _WHOLE))),
    # --- witnessing (C2SP tlog-witness; submission and monitoring prefix /api/v1/witness) ---
    "witness.add_checkpoint": Op(
        summary="C2SP tlog-witness add-checkpoint: cosign a checkpoint consistent with the last",
        body=TEXT,
        body_media=("text/plain",),
        ok={200: (("text/plain",), TEXT)},
        errors=frozenset({403, 409, 413, 422}),
        # The specification's own answer: the size last cosigned, as text/x.tlog.size.
        raw_errors={409: (("text/x.tlog.size", "application/json"), _ERROR)},
    ),
    "witness.latest_checkpoint": Op(ok={200: (("text/plain",), TEXT)}),
    "witness.witness": Op(ok=ok(schema=_WITNESS)),
    "witness.log_witnesses": Op(ok=ok(schema=_LOG_WITNESSES)),
    # --- factors and rules -----------------------------------------------------------------
    "factors.list_factors": Op(
        paged=True,
        query=(
            q("q"),
            q("code"),
            q("region"),
            q("year", {"type": "integer"}),
            q("category"),
            q("gwpSet"),
            q("status"),
            q("offset", _WHOLE),
        ),
        ok=ok(schema=listed(OBJECT)),
    ),
    "factors.export_factors": Op(
        query=(q("format", enum("json", "csv")),),
        ok={200: (("application/json", "text/csv"), OBJECT)},
    ),
    "factors.get_factor": Op(query=(q("unit"), q("gwpSet"))),
    "factors.declare_factor": Op(body=OBJECT, ok=ok(201)),
    "factors.review_factor": Op(body=OBJECT),
    "factors.import_factors": Op(
        # ?mapping=<shipped mapping>: the body is a published dataset in its own layout;
        # multipart/form-data: the parts "file" and "mapping" (TOML or JSON).
        query=(q("mapping"),),
        body=OBJECT,
        body_media=("application/json", "text/csv", "multipart/form-data"),
        ok={200: (JSON, OBJECT), 207: (JSON, OBJECT)},
    ),
    "rules.list_rules": Op(query=(q("status"), q("q")), ok=ok(schema=listed(OBJECT))),
    "rules.propose_rule": Op(body=OBJECT, ok=ok(201)),
    "rules.list_demands": Op(
        query=(q("open", enum("true", "false")),), ok=ok(schema=listed(OBJECT))
    ),
    "rules.add_demand": Op(body=OBJECT, ok=ok(201)),
    "rules.transition_rule": Op(body=OBJECT),
    # --- certification and labels ----------------------------------------------------------
    "labels.trust_list": Op(),
    "labels.decide_accreditation": Op(body=AccreditationChange, ok=created()),
    "labels.certify": Op(body=OBJECT, ok=created()),
    "labels.change_certificate": Op(body=CertificateChange),
    "labels.registry": Op(paged=True, query=(q("q"), q("category"), q("gtin"), q("status"))),
    "labels.grading_schemes": Op(query=(q("category"),)),
    "labels.publish_scheme": Op(body=SchemeRequest, ok=created()),
    "labels.issue_label": Op(body=LabelRequest, ok=created()),
    "labels.label_png": Op(ok={200: (("image/png",), TEXT)}),
    "labels.label_svg": Op(ok={200: (("image/svg+xml",), TEXT)}),
    "labels.label_log": Op(ok=ok(schema=_LABEL_LOG)),
    "labels.verify": Op(body=VerifyRequest, body_media=("application/json", "text/plain")),
    # --- aggregation -----------------------------------------------------------------------
    "aggregation.define_product": Op(body=OBJECT, ok=ok(201)),
    "aggregation.list_notices": Op(paged=True),
    "aggregation.put_bom": Op(body=OBJECT, body_media=("application/json", "text/csv")),
    "aggregation.compute": Op(),
    "aggregation.export": Op(
        query=(q("format", enum("csv", "json")),),
        ok={200: (("text/csv", "application/json"), OBJECT)},
    ),
    "aggregation.derived_footprint": Op(query=(q("year", {"type": "integer"}),)),
    "aggregation.provenance": Op(
        summary="A derived footprint's provenance: the lines you may open, the attestation",
        ok=ok(schema=PROVENANCE_VIEW),
    ),
    # --- disclosure ------------------------------------------------------------------------
    "disclosure.define": Op(body=RequirementRequest, ok=ok(201)),
    "disclosure.compliance": Op(query=(q("asOf", _TIME),)),
    "disclosure.compliance_page": Op(query=(q("asOf", _TIME),), ok=ok(media=_HTML, schema=TEXT)),
    "disclosure.overview": Op(
        query=(q("asOf", _TIME), q("state"), q("requirement", _ID)),
    ),
    "disclosure.overview_page": Op(
        query=(q("asOf", _TIME), q("state"), q("requirement", _ID)),
        ok=ok(media=_HTML, schema=TEXT),
    ),
    "disclosure.reminders": Op(paged=True),
    # --- trade, sites, scenarios, flows ----------------------------------------------------
    "trade.export_json": Op(errors=frozenset({422})),
    "trade.export_page": Op(
        ok=ok(media=_HTML, schema=TEXT),
        errors=frozenset({422}),
        raw_errors={422: (_HTML, TEXT)},
    ),
    "sites.register": Op(body=SiteRequest, ok=ok(201)),
    "sites.record_production": Op(body=ProductionRequest, ok=ok(201)),
    "sites.rollup": Op(query=(q("from", _TIME), q("to", _TIME))),
    "sites.rollup_page": Op(
        query=(q("from", _TIME), q("to", _TIME)), ok=ok(media=_HTML, schema=TEXT)
    ),
    "scenarios.procurement": Op(
        query=(
            q("category", required=True),
            q("grade", {"type": "integer", "minimum": 1, "maximum": 9}, required=True),
            q("rule"),
            q("region"),
            q("asOf", _TIME),
            _OUTPUT,
        ),
        ok=_FORMATTED,
    ),
    "scenarios.disclosure": Op(
        query=(q("includeDeprecated", enum("true", "false")), _OUTPUT), ok=_FORMATTED
    ),
    "scenarios.reductions": Op(
        query=(q("record"), q("certificate", _ID), q("category"), q("quantity"), _OUTPUT),
        ok=_FORMATTED,
    ),
    "flows.outbound": Op(
        paged=True,
        query=(
            q("recordId"),
            q("recipient"),
            q("kind", {"type": "array", "items": {"type": "string"}}),
            q("from", _TIME),
            q("to", _TIME),
            q("cursor"),
        ),
    ),
    "flows.summary": Op(
        query=(q("period", enum("day", "month", "year")), q("from", _TIME), q("to", _TIME))
    ),
    # --- mutual recognition ----------------------------------------------------------------
    "mutual_recognition.register_partner": Op(body=OBJECT, ok=ok(201)),
    "mutual_recognition.partner_status": Op(body=OBJECT),
    "mutual_recognition.revoke_anchor": Op(body=OBJECT),
    "mutual_recognition.sync_partner": Op(),
    "mutual_recognition.upload_records": Op(body=OBJECT),
    "mutual_recognition.list_recognitions": Op(paged=True, query=(q("decision"), q("partner"))),
    "mutual_recognition.list_agreements": Op(
        query=(q("inForce", enum("true", "false")), q("status"), q("partner"))
    ),
    "mutual_recognition.create_agreement": Op(body=OBJECT, ok=ok(201)),
    "mutual_recognition.amend_agreement": Op(body=OBJECT),
    "mutual_recognition.agreement_status": Op(body=OBJECT),
}
