"""Wire formats of mutual recognition: partner and agreement input, and their JSON shapes.

Parsing collects every field error before refusing, so a caller sees all of them at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from exchange import quantities, signing
from exchange.db import iso_or_none
from exchange.errors import ValidationFailed
from exchange.pact_wire.footprint import parse_date_time
from exchange.partners.models import (
    Agreement,
    AgreementEvent,
    PartnerEvent,
    PartnerFork,
    PartnerKey,
    PartnerProgramme,
    Recognition,
    VerificationLevel,
)
from exchange.partners.schemas import anchor_json

GWP_SETS: Final = frozenset({"AR4", "AR5", "AR6"})
DISCLOSURES: Final = frozenset({"public", "regulator"})
# PACT list filters a sync may narrow itself by.
SYNC_FILTERS: Final = frozenset({"productId", "companyId", "geography", "classification"})

FieldErrors = list[dict[str, str]]


def _text(body: Mapping[str, Any], name: str, errors: FieldErrors, *, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        errors.append({"field": name, "message": f"a non-empty string of at most {limit}"})
        return ""
    return value.strip()


def _optional_text(body: Mapping[str, Any], name: str, errors: FieldErrors, limit: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        errors.append({"field": name, "message": f"a string of at most {limit} characters"})
        return ""
    return value.strip()


def _strings(
    body: Mapping[str, Any], name: str, errors: FieldErrors, *, required: bool = False
) -> list[str]:
    value = body.get(name, [])
    if (
        not isinstance(value, list)
        or not all(isinstance(item, str) and item.strip() and len(item) <= 300 for item in value)
        or (required and not value)
    ):
        what = "a non-empty list" if required else "a list"
        errors.append({"field": name, "message": f"{what} of strings (at most 300 characters)"})
        return []
    return list(dict.fromkeys(item.strip() for item in value))


def _moment(
    body: Mapping[str, Any], name: str, errors: FieldErrors, *, required: bool
) -> dt.datetime | None:
    value = body.get(name)
    if value is None and not required:
        return None
    moment = parse_date_time(value) if isinstance(value, str) else None
    if moment is None:
        errors.append(
            {"field": name, "message": "an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z"}
        )
    return moment


def _decimal(
    body: Mapping[str, Any], name: str, errors: FieldErrors, low: Decimal, high: Decimal
) -> Decimal | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        number = quantities.parse(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        errors.append({"field": name, "message": f"a decimal string from {low} to {high}, or null"})
        return None
    return number


# --- partners ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PartnerInput:
    name: str
    country: str
    operator: str
    contact: str
    pact_base_url: str
    jwks: Any
    log_origin: str | None
    client_id: str | None
    client_secret: str | None
    sync_filters: dict[str, list[str]]
    recognised_disclosure: str
    # The unified social credit code of a domestic programme's operator (CN needs one).
    uscc: str | None = None


def parse_partner(body: Mapping[str, Any]) -> PartnerInput:
    errors: FieldErrors = []
    name = _text(body, "name", errors, limit=300)
    country = _text(body, "country", errors, limit=2).upper()
    operator = _text(body, "operator", errors, limit=300)
    contact = _optional_text(body, "contact", errors, 500)
    base_url = _text(body, "pactBaseUrl", errors, limit=500)
    log_origin = body.get("logOrigin")
    if log_origin is not None and (
        not isinstance(log_origin, str) or not log_origin.strip() or len(log_origin) > 300
    ):
        errors.append({"field": "logOrigin", "message": "the origin line of its checkpoints"})
    client_id, client_secret = body.get("clientId"), body.get("clientSecret")
    if (client_id is None) != (client_secret is None) or not all(
        value is None or (isinstance(value, str) and value.strip() and len(value) <= 300)
        for value in (client_id, client_secret)
    ):
        errors.append(
            {"field": "clientId", "message": "clientId and clientSecret go together, as strings"}
        )
    filters = body.get("syncFilters", {})
    if not isinstance(filters, dict) or not set(filters) <= SYNC_FILTERS:
        errors.append(
            {"field": "syncFilters", "message": f"an object of {', '.join(sorted(SYNC_FILTERS))}"}
        )
        filters = {}
    sync_filters = {key: _strings(filters, key, errors, required=True) for key in sorted(filters)}
    disclosure = body.get("recognisedDisclosure", "public")
    if disclosure not in DISCLOSURES:
        errors.append({"field": "recognisedDisclosure", "message": "public or regulator"})
    if "jwks" not in body:
        errors.append({"field": "jwks", "message": "the partner's JWK Set, pinned now"})
    uscc = body.get("uscc")
    if uscc is not None and (not isinstance(uscc, str) or len(uscc) > 40):
        errors.append({"field": "uscc", "message": "a unified social credit code"})
    if errors:
        raise ValidationFailed("the partner programme is not valid", details=errors)
    return PartnerInput(
        name=name,
        country=country,
        operator=operator,
        contact=contact,
        pact_base_url=base_url,
        jwks=body["jwks"],
        log_origin=log_origin.strip() if isinstance(log_origin, str) else None,
        client_id=client_id.strip() if isinstance(client_id, str) else None,
        client_secret=client_secret if isinstance(client_secret, str) else None,
        sync_filters=sync_filters,
        recognised_disclosure=str(disclosure),
        uscc=(uscc.strip() or None) if isinstance(uscc, str) else None,
    )


def partner_event_json(event: PartnerEvent) -> dict[str, Any]:
    return {
        "status": event.status.value,
        "reason": event.reason,
        "decidedBy": event.decided_by,
        "at": event.decided_at.isoformat(),
    }


def fork_json(fork: PartnerFork) -> dict[str, Any]:
    return {
        "id": fork.id,
        "problem": fork.problem,
        "earlierCheckpoint": fork.earlier_note,
        "laterCheckpoint": fork.later_note,
        "proof": fork.proof,
        "detectedAt": fork.detected_at.isoformat(),
    }


def partner_json(
    partner: PartnerProgramme,
    *,
    anchors: list[PartnerKey],
    history: list[PartnerEvent],
    forks: Sequence[PartnerFork] = (),
) -> dict[str, Any]:
    return {
        "id": partner.id,
        "organisationId": partner.organisation_id,
        "name": partner.name,
        "country": partner.country,
        "operator": partner.operator,
        "contact": partner.contact,
        "pactBaseUrl": partner.pact_base_url,
        "logOrigin": partner.log_origin,
        "status": partner.status.value,
        "recognisedDisclosure": partner.recognised_disclosure,
        "syncFilters": partner.sync_filters,
        "trustAnchors": [anchor_json(key) for key in anchors],
        "history": [partner_event_json(event) for event in history],
        "sync": {
            "lastSyncedAt": iso_or_none(partner.last_synced_at),
            "lastError": partner.last_sync_error,
            "resumesAt": partner.sync_next_url,
        },
        "forks": [fork_json(fork) for fork in forks],
        "createdAt": partner.created_at.isoformat(),
    }


# --- agreements -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AgreementInput:
    partner_id: str
    title: str
    scope: list[str]
    accepted_standards: list[str]
    accepted_rules: list[str]
    accepted_gwp_sets: list[str]
    min_primary_data_share: Decimal | None
    max_dqr: Decimal | None
    max_exempted_share: Decimal | None
    max_reference_age_days: int | None
    required_verification: VerificationLevel
    valid_from: dt.datetime
    valid_until: dt.datetime
    review_date: dt.datetime | None
    texts: dict[str, Any]


def _texts(body: Mapping[str, Any], errors: FieldErrors) -> dict[str, Any]:
    texts = body.get("texts")
    if not isinstance(texts, dict):
        errors.append(
            {"field": "texts", "message": 'an object {"zh", "en", "partner": {"language", "text"}}'}
        )
        return {}
    result: dict[str, Any] = {}
    for language in ("zh", "en"):
        value = texts.get(language)
        if not isinstance(value, str) or not value.strip():
            errors.append({"field": f"texts.{language}", "message": "the agreement's text"})
        else:
            result[language] = value.strip()
    partner = texts.get("partner")
    if (
        not isinstance(partner, dict)
        or not isinstance(partner.get("language"), str)
        or not partner["language"].strip()
        or len(partner["language"]) > 35
        or not isinstance(partner.get("text"), str)
        or not partner["text"].strip()
    ):
        errors.append(
            {
                "field": "texts.partner",
                "message": '{"language": a BCP 47 tag such as "lo", "text": the text}',
            }
        )
    else:
        result["partner"] = {
            "language": partner["language"].strip(),
            "text": partner["text"].strip(),
        }
    return result


def parse_agreement(body: Mapping[str, Any], *, partner_id: str | None = None) -> AgreementInput:
    errors: FieldErrors = []
    partner = partner_id if partner_id is not None else _text(body, "partnerId", errors, limit=36)
    title = _text(body, "title", errors, limit=300)
    scope = _strings(body, "scope", errors, required=True)
    if any(not item.lower().startswith("urn:") for item in scope):
        errors.append({"field": "scope", "message": "product classification URNs"})
    gwp_sets = _strings(body, "acceptedGwpSets", errors)
    if not set(gwp_sets) <= GWP_SETS:
        errors.append({"field": "acceptedGwpSets", "message": "AR4, AR5 or AR6"})
    age = body.get("maxReferenceAgeDays")
    if age is not None and (not isinstance(age, int) or isinstance(age, bool) or not age > 0):
        errors.append({"field": "maxReferenceAgeDays", "message": "a positive whole number"})
        age = None
    level_text = body.get("requiredVerification", "none")
    try:
        level = VerificationLevel(level_text)
    except ValueError:
        errors.append({"field": "requiredVerification", "message": "none, limited or reasonable"})
        level = VerificationLevel.NONE
    valid_from = _moment(body, "validFrom", errors, required=True)
    valid_until = _moment(body, "validUntil", errors, required=True)
    if valid_from and valid_until and valid_until <= valid_from:
        errors.append({"field": "validUntil", "message": "must be later than validFrom"})
    result = AgreementInput(
        partner_id=partner,
        title=title,
        scope=scope,
        accepted_standards=_strings(body, "acceptedStandards", errors),
        accepted_rules=_strings(body, "acceptedRules", errors),
        accepted_gwp_sets=gwp_sets,
        min_primary_data_share=_decimal(
            body, "minPrimaryDataShare", errors, Decimal(0), Decimal(100)
        ),
        max_dqr=_decimal(body, "maxDqr", errors, Decimal(1), Decimal(5)),
        max_exempted_share=_decimal(body, "maxExemptedShare", errors, Decimal(0), Decimal(100)),
        max_reference_age_days=age,
        required_verification=level,
        valid_from=valid_from or dt.datetime.now(dt.UTC),
        valid_until=valid_until or dt.datetime.now(dt.UTC),
        review_date=_moment(body, "reviewDate", errors, required=False),
        texts=_texts(body, errors),
    )
    if errors:
        raise ValidationFailed("the agreement is not valid", details=errors)
    return result


def _decimal_or_none(value: Decimal | None) -> str | None:
    return None if value is None else quantities.text(value)


def agreement_terms(agreement: Agreement) -> dict[str, Any]:
    """The terms as they are logged and published (without the status)."""
    return {
        "id": agreement.id,
        "partnerId": agreement.partner_id,
        "title": agreement.title,
        "scope": agreement.scope,
        "acceptedStandards": agreement.accepted_standards,
        "acceptedRules": agreement.accepted_rules,
        "acceptedGwpSets": agreement.accepted_gwp_sets,
        "minPrimaryDataShare": _decimal_or_none(agreement.min_primary_data_share),
        "maxDqr": _decimal_or_none(agreement.max_dqr),
        "maxExemptedShare": _decimal_or_none(agreement.max_exempted_share),
        "maxReferenceAgeDays": agreement.max_reference_age_days,
        "requiredVerification": agreement.required_verification.value,
        "validFrom": agreement.valid_from.isoformat(),
        "validUntil": agreement.valid_until.isoformat(),
        "reviewDate": iso_or_none(agreement.review_date),
        "texts": agreement.texts,
    }


def agreement_json(agreement: Agreement, history: list[AgreementEvent]) -> dict[str, Any]:
    return {
        **agreement_terms(agreement),
        "status": agreement.status.value,
        "history": [
            {
                "status": event.status.value,
                "reason": event.reason,
                "decidedBy": event.decided_by,
                "at": event.decided_at.isoformat(),
            }
            for event in history
        ],
    }


def recognition_json(recognition: Recognition) -> dict[str, Any]:
    return {
        "id": recognition.id,
        "partnerId": recognition.partner_id,
        "agreementId": recognition.agreement_id,
        "recordId": recognition.record_id,
        "decision": recognition.decision.value,
        "reasons": recognition.reasons,
        "status": "flagged" if recognition.flagged_at is not None else "standing",
        "flaggedAt": iso_or_none(recognition.flagged_at),
        "flagReason": recognition.flag_reason,
        "source": recognition.source,
        "decidedAt": recognition.decided_at.isoformat(),
        "logIndex": recognition.log_index,
        "signed": signed_recognition(recognition),
    }


def signed_recognition(recognition: Recognition) -> dict[str, Any]:
    """The decision as the exchange signed it: the document and the signature."""
    return {
        "recognition": json.loads(recognition.document_json),
        "signature": {
            "alg": signing.ALGORITHM,
            "kid": recognition.kid,
            "value": recognition.signature,
        },
    }
