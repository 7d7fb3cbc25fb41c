"""Revoking a company key invalidates only what was signed after it: records received before
stay served and verifiable (their verification bundles say the key was good then), records
submitted after are refused, and a submission racing the revocation is not let through."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints.models import FootprintRecord
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations import services
from exchange.organisations.models import Role
from tests.factories import Member, add_member


def push(client: FlaskClient, member: Member, envelope: dict[str, Any]) -> Any:
    return client.post("/api/v1/footprints", json=envelope, headers=member.headers)


def bundle_of(client: FlaskClient, member: Member, record_id: str) -> Any:
    response = client.get(f"/api/v1/footprints/{record_id}/verification", headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def revoke(client: FlaskClient, member: Member, **body: Any) -> Any:
    response = client.post(
        f"/api/v1/keys/{member.key.kid}/revoke",
        json={"reason": "laptop stolen", **body},
        headers=member.headers,
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def record_count(app: Flask) -> int:
    with app.extensions["exchange.sessions"]() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(FootprintRecord)) or 0)


def test_a_revocation_invalidates_only_what_was_signed_after_it(
    app: Flask, client: FlaskClient
) -> None:
    origin = app.config["EXCHANGE_ORIGIN"]
    supplier = add_member(app, Role.SUPPLIER)
    before = supplier.envelope()
    accepted = push(client, supplier, before)
    assert accepted.status_code == 201, accepted.get_json()
    record_id = accepted.get_json()["id"]
    assert bundle_of(client, supplier, record_id)["bundle"]["signer"]["status"] == "valid"

    revoked = revoke(client, supplier)
    assert revoked["revoked"]["reason"] == "laptop stolen"

    # after: refused, alone or in a batch, and nothing is stored
    stored = record_count(app)
    single = push(client, supplier, supplier.envelope())
    assert (single.status_code, single.get_json()["code"]) == (400, "SignatureInvalid")
    assert "revoked at" in single.get_json()["message"]
    batch = client.post(
        "/api/v1/footprints",
        json={"items": [supplier.envelope(), supplier.envelope()]},
        headers=supplier.headers,
    )
    assert batch.status_code == 207
    assert [item["status"] for item in batch.get_json()["results"]] == ["rejected"] * 2
    assert record_count(app) == stored

    # before: still served unchanged, its signature verifies, its bundle says so
    served = client.get(f"/api/v1/footprints/{record_id}", headers=supplier.headers).get_json()
    assert served["footprint"] == before["footprint"]
    jwks = client.get(f"/api/v1/organisations/{supplier.organisation_id}/jwks.json").get_json()
    [jwk] = [key for key in jwks["keys"] if key["kid"] == supplier.key.kid]
    assert "revoked" in jwk
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=served["footprint"],
        signature=served["signature"]["value"],
        public_key=signing.public_key_from_jwk({n: jwk[n] for n in ("kty", "crv", "x")}),
    )
    document = bundle_of(client, supplier, record_id)
    signer = document["bundle"]["signer"]
    assert (signer["status"], signer["statusAtReceipt"]) == ("revoked", "valid")
    assert signer["revokedAt"] is not None
    exchange_keys = client.get("/.well-known/jwks.json").get_json()
    verdict = verify_bundle(document, pinned=exchange_keys, origin=origin)
    assert verdict.ok, verdict.problems
    assert verdict.key_status == "revoked"

    # the company goes on with a new key; the revocation is in the log and the audit holds
    with transaction(app.extensions["exchange.sessions"]) as session:
        supplier.key = LocalKey.generate()
        services.register_key(
            session,
            organisation_id=supplier.organisation_id,
            public_jwk=supplier.key.public_jwk(),
        )
    assert push(client, supplier, supplier.envelope()).status_code == 201
    audit = app.test_cli_runner().invoke(args=["audit"])
    assert audit.output.startswith("audit ok:"), audit.output


def test_a_backdated_revocation_invalidates_records_received_after_it(
    app: Flask, client: FlaskClient
) -> None:
    origin = app.config["EXCHANGE_ORIGIN"]
    supplier = add_member(app, Role.SUPPLIER)
    first = push(client, supplier, supplier.envelope()).get_json()["id"]
    second = push(client, supplier, supplier.envelope()).get_json()["id"]
    received = [
        dt.datetime.fromisoformat(
            client.get(f"/api/v1/footprints/{record}", headers=supplier.headers).get_json()[
                "exchange"
            ]["receivedAt"]
        )
        for record in (first, second)
    ]
    assert received[0] < received[1]
    # the key leaked between the two: the company revokes it from then
    revoke(client, supplier, revokedAt=(received[1] - dt.timedelta(microseconds=1)).isoformat())
    exchange_keys = client.get("/.well-known/jwks.json").get_json()

    kept = bundle_of(client, supplier, first)
    assert kept["bundle"]["signer"]["statusAtReceipt"] == "valid"
    assert verify_bundle(kept, pinned=exchange_keys, origin=origin).ok

    lost = bundle_of(client, supplier, second)
    assert lost["bundle"]["signer"]["statusAtReceipt"] == "revoked"
    verdict = verify_bundle(lost, pinned=exchange_keys, origin=origin)
    assert not verdict.ok
    assert any("outside the key's revokedAt" in problem for problem in verdict.problems)

    # a plain read says the same, one record at a time and in a list
    def read_status(record: str) -> Any:
        answer = client.get(f"/api/v1/footprints/{record}", headers=supplier.headers)
        return answer.get_json()["exchange"]["keyStatusAtReceipt"]

    assert (read_status(first), read_status(second)) == ("valid", "revoked")
    listed = client.get("/api/v1/footprints?owner=me", headers=supplier.headers).get_json()
    statuses = {
        item["exchange"]["id"]: item["exchange"]["keyStatusAtReceipt"] for item in listed["data"]
    }
    assert statuses == {first: "valid", second: "revoked"}


def _waiting_on_a_lock(app: Flask) -> bool:
    """Whether some PostgreSQL backend of the test database waits for a row lock."""
    with app.extensions["exchange.engine"].connect() as connection:
        waiting = connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def test_a_submission_racing_a_revocation_is_refused(app: Flask) -> None:
    """The revocation has locked the key (not committed yet) when a submission arrives: the
    submission waits, then sees the revocation, and is refused. Without the lock it would
    read the key as still good and store a record received after the revocation time."""
    supplier = add_member(app, Role.SUPPLIER)
    envelope = supplier.envelope()
    answers: list[Any] = []
    revocation = app.extensions["exchange.sessions"]()
    try:
        services.revoke_key(
            revocation,
            organisation_id=supplier.organisation_id,
            kid=supplier.key.kid,
            reason="leaked",
        )

        def submit() -> None:
            response = app.test_client().post(
                "/api/v1/footprints", json=envelope, headers=supplier.headers
            )
            answers.append((response.status_code, response.get_json()))

        thread = threading.Thread(target=submit)
        thread.start()
        if app.extensions["exchange.engine"].dialect.name == "postgresql":
            deadline = time.monotonic() + 60
            while not _waiting_on_a_lock(app) and time.monotonic() < deadline:
                time.sleep(0.05)
        else:
            # SQLite: the submission's BEGIN IMMEDIATE waits for the revocation's write lock.
            time.sleep(0.5)
        assert answers == [], "the submission did not wait for the revocation"
        revocation.commit()
    finally:
        revocation.close()
    thread.join(timeout=60)
    [(status, body)] = answers
    assert (status, body.get("code")) == (400, "SignatureInvalid"), body
    assert record_count(app) == 0
