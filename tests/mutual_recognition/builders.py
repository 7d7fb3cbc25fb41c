"""Builders shared by the mutual-recognition tests: agreements, partner bodies, records."""

from __future__ import annotations

from typing import Any

from tests.factories import Member

SCOPE = "urn:pact:productclassification:un-cpc:2131"
OUT_OF_SCOPE = "urn:pact:productclassification:un-cpc:9999"


def agreement_body(partner_id: str, **changes: Any) -> dict[str, Any]:
    """An agreement the PACT example record meets (12.9 % primary data, DQR ≤ 3.2)."""
    body: dict[str, Any] = {
        "partnerId": partner_id,
        "title": "Hainan-Laos mutual recognition of product carbon footprints",
        "scope": [SCOPE],
        "acceptedStandards": ["GHGP-Product", "ISO14067"],
        "acceptedGwpSets": ["AR5", "AR6"],
        "minPrimaryDataShare": "10",
        "maxDqr": "3.5",
        "maxExemptedShare": "5",
        "maxReferenceAgeDays": 3650,
        "requiredVerification": "none",
        "validFrom": "2025-01-01T00:00:00Z",
        "validUntil": "2030-01-01T00:00:00Z",
        "reviewDate": "2027-06-30T00:00:00Z",
        "texts": {
            "zh": "双方认可对方项目内经签名、记录在案的产品碳足迹。",
            "en": "Each party recognises the other's signed and logged product carbon footprints.",
            "partner": {"language": "lo", "text": "ທັງສອງຝ່າຍຮັບຮູ້ຮອຍຕີນກາກບອນຂອງກັນແລະກັນ."},
        },
    }
    body.update(changes)
    return body


def partner_envelope(member: Member, **pcf_changes: Any) -> dict[str, Any]:
    """A signed record of ``member`` in the agreement's scope, ``pcf`` members changed."""
    footprint = member.footprint(productClassifications=[SCOPE])
    classifications = pcf_changes.pop("productClassifications", None)
    if classifications is not None:
        footprint["productClassifications"] = classifications
    footprint["pcf"].update(pcf_changes)
    return member.key.sign_footprint(footprint)
