"""Wire format of a signed footprint envelope, as a supplier sends it and the exchange serves it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange.errors import ValidationFailed, field_errors


class EnvelopeSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    alg: Literal["Ed25519"]
    kid: str = Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$")
    value: str = Field(min_length=86, max_length=86, pattern=r"^[A-Za-z0-9_-]{86}$")


class SignedEnvelope(BaseModel):
    """``{"footprint": ..., "signature": ...}``; ``exchange`` metadata of a read is ignored."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    footprint: dict[str, Any]
    signature: EnvelopeSignature
    exchange: dict[str, Any] | None = None


def parse_envelope(value: object) -> SignedEnvelope:
    try:
        return SignedEnvelope.model_validate(value)
    except ValidationError as exc:
        raise ValidationFailed(
            "not a signed footprint envelope", details=field_errors(exc)
        ) from exc


def envelope_json(
    footprint_json: str, signature: EnvelopeSignature | None, meta: dict[str, Any]
) -> str:
    """The envelope as JSON text, embedding the stored canonical footprint byte for byte.

    An imported unsigned record is served with ``"signature": null``.
    """
    return (
        '{"footprint":'
        + footprint_json
        + ',"signature":'
        + (signature.model_dump_json() if signature is not None else "null")
        + ',"exchange":'
        + json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
        + "}"
    )
