"""A regulator, a partner programme whose own key signs its records, and an agreement."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.client.keys import LocalKey
from exchange.log import merkle, note
from exchange.mutual_recognition.services.recognition import envelope_entry
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.mutual_recognition.builders import agreement_body

PARTNER_ORIGIN = "pcf.partner.example"


@dataclasses.dataclass
class Partnership:
    app: Flask
    client: FlaskClient
    regulator: Member
    supplier: Member  # a company of the partner's programme (its key is not an anchor)
    anchor: LocalKey  # the partner programme's own key, pinned at onboarding
    partner_id: str
    agreement_id: int

    def upload(self, *items: dict[str, Any], member: Member | None = None) -> Any:
        return self.client.post(
            f"/api/v1/partners/{self.partner_id}/records",
            json={"items": list(items)},
            headers=(member or self.regulator).headers,
        )

    def decide(self, envelope: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = self.upload({"envelope": envelope, **extra})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"][0]  # type: ignore[no-any-return]

    def anchor_signed(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """The same footprint signed by the partner programme's own (pinned) key."""
        return self.anchor.sign_footprint(envelope["footprint"])

    def set_agreement(self, status: str, reason: str = "decided") -> Any:
        return self.client.post(
            f"/api/v1/agreements/{self.agreement_id}/status",
            json={"status": status, "reason": reason},
            headers=self.regulator.headers,
        )


def register(client: FlaskClient, regulator: Member, anchor: LocalKey, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "name": "ASEAN Carbon Footprint Network",
        "country": "TH",
        "operator": "Thailand Greenhouse Gas Management Organization",
        "contact": "pcf@example.th",
        "pactBaseUrl": "https://pcf.partner.example",
        "jwks": {"keys": [anchor.public_jwk()]},
    }
    body.update(changes)
    return client.post("/api/v1/partners", json=body, headers=regulator.headers)


@pytest.fixture
def partnership(app: Flask, client: FlaskClient) -> Partnership:
    regulator = add_member(app, Role.REGULATOR)
    supplier = add_member(app, Role.SUPPLIER, country="TH")
    anchor = LocalKey.generate()
    registered = register(client, regulator, anchor)
    assert registered.status_code == 201, registered.get_json()
    partner_id = registered.get_json()["id"]
    drafted = client.post(
        "/api/v1/agreements", json=agreement_body(partner_id), headers=regulator.headers
    )
    assert drafted.status_code == 201, drafted.get_json()
    result = Partnership(
        app, client, regulator, supplier, anchor, partner_id, drafted.get_json()["id"]
    )
    assert result.set_agreement("granted", "signed 2026-11-20").status_code == 200
    return result


def log_proof(
    anchor: LocalKey, envelopes: list[dict[str, Any]], index: int, origin: str = PARTNER_ORIGIN
) -> dict[str, Any]:
    """A partner log holding ``envelopes``: its signed checkpoint and one inclusion proof."""
    import base64

    leaves = [merkle.leaf_hash(envelope_entry(envelope)) for envelope in envelopes]
    levels = merkle.levels_of(leaves)
    size = len(leaves)
    checkpoint = note.sign_checkpoint(
        note.Checkpoint(origin, size, merkle.root_of(leaves)),
        name=origin,
        private_key=anchor.private_key,
    )
    proof = merkle.inclusion_proof(index, size, merkle.fetcher_of(levels))
    return {
        "checkpoint": checkpoint,
        "inclusionProof": {
            "index": index,
            "size": size,
            "proof": [base64.b64encode(value).decode() for value in proof],
        },
    }
