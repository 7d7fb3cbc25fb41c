"""Wire formats of accreditations, certificates, grading schemes, grades and labels."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from exchange.db import ROW_ID_MAX, iso_or_none
from exchange.errors import ValidationFailed, field_errors
from exchange.footprints.schemas import EnvelopeSignature
from exchange.labels import claims as label_claims
from exchange.labels.models import (
    AccreditationEvent,
    AccreditationStatus,
    CertificateEvent,
    Grade,
    GradingMethod,
    GradingScheme,
)


class CertificateDocument(BaseModel):
    """What a certification body signs (``footprint-exchange:certificate:v1``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._:-]+$")
    body: str = Field(min_length=1, max_length=36)
    record: str = Field(min_length=1, max_length=36)
    footprint_digest: str = Field(alias="footprintDigest", pattern=r"^[0-9a-f]{64}$")
    gtin: str = Field(min_length=8, max_length=14)
    category: str = Field(min_length=1, max_length=300)
    issued: AwareDatetime
    valid_until: AwareDatetime = Field(alias="validUntil")
    standard: str | None = Field(default=None, max_length=300)
    statement: str | None = Field(default=None, max_length=2000)


class ParsedCertificate(BaseModel):
    model_config = ConfigDict(frozen=True)

    document: CertificateDocument
    raw_document: dict[str, Any]
    signature: EnvelopeSignature


def parse_certificate_envelope(value: object) -> ParsedCertificate:
    """``{"certificate": {...}, "signature": {"alg", "kid", "value"}}``, checked."""
    if not isinstance(value, dict) or set(value) != {"certificate", "signature"}:
        raise ValidationFailed(
            'send {"certificate": {...}, "signature": {"alg": "Ed25519", "kid": ..., "value": ...}}'
        )
    raw = value["certificate"]
    try:
        document = CertificateDocument.model_validate(raw)
        signature = EnvelopeSignature.model_validate(value["signature"])
    except ValidationError as exc:
        raise ValidationFailed(
            "the certificate is not valid", details=field_errors(exc, "certificate")
        ) from exc
    assert isinstance(raw, dict)
    return ParsedCertificate(document=document, raw_document=raw, signature=signature)


class AccreditationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AccreditationStatus
    reason: str = Field(min_length=1, max_length=500)


class CertificateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class SchemeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=300)
    method: GradingMethod
    unit: str
    parameters: dict[str, Any]


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # a row id: a larger number would overflow the database's integer (a 500)
    certificate: int = Field(gt=0, le=ROW_ID_MAX)
    lot: str | None = Field(default=None, min_length=1, max_length=20)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=label_claims.MAX_TEXT)


def accreditation_event_json(event: AccreditationEvent) -> dict[str, Any]:
    return {
        "status": event.status.value,
        "reason": event.reason,
        "decidedBy": event.decided_by,
        "at": iso_or_none(event.decided_at),
    }


def certificate_event_json(event: CertificateEvent) -> dict[str, Any]:
    return {
        "status": event.status.value,
        "reason": event.reason,
        "actor": event.decided_by,
        "at": iso_or_none(event.decided_at),
    }


def scheme_json(scheme: GradingScheme) -> dict[str, Any]:
    return {
        "id": scheme.id,
        "category": scheme.category,
        "version": scheme.version,
        "method": scheme.method.value,
        "unit": scheme.unit,
        "parameters": json.loads(scheme.parameters_json),
        "createdAt": iso_or_none(scheme.created_at),
    }


def grade_json(grade: Grade | None) -> dict[str, Any] | None:
    """A grade with the scheme version it was computed under and, for percentiles, the
    population (size and SHA-256 of its sorted values)."""
    if grade is None:
        return None
    scheme = grade.scheme
    return {
        "grade": grade.grade,
        "scheme": {
            "id": scheme.id,
            "category": scheme.category,
            "version": scheme.version,
            "method": scheme.method.value,
        },
        "value": str(grade.value.normalize()),
        "population": None
        if grade.population_size is None
        else {"size": grade.population_size, "sha256": grade.population_digest},
        "gradedAt": iso_or_none(grade.graded_at),
        "supersededAt": iso_or_none(grade.superseded_at),
    }
