"""Recognised means still recognisable, between two live exchanges on loopback (issue 18).

Exchange A (Hainan) recognises the records of exchange B (a programme running the same
software). A supplier on B revokes its key back-dated before a push: A judges the key at
B's receipt and refuses. A key B's supplier revokes later flags, at A's next sync, every
recognition under it; so does the regulator revoking B's pinned anchor key. An agreement
past its ``validUntil`` ends its recognitions at that moment, on read and by the worker.
Two exchanges federate both ways even when both are in CN, and neither is served its own
records back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa

from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from exchange.organisations.uscc import check_character
from exchange.partners.models import Agreement, Recognition
from tests.e2e.test_mutual_recognition import (  # noqa: F401 (the fixture)
    B_ORIGIN,
    Exchange,
    decisions,
    exchanges,
    module_exchanges,
    push_public,
    sync,
)
from tests.factories import Member, add_member
from tests.mutual_recognition.builders import SCOPE, agreement_body, partner_envelope

# The two exchanges' databases are built from EXCHANGE_TEST_DATABASE_URL (fresh_database).
pytestmark = pytest.mark.database


def uscc(number: int) -> str:
    body = f"9146000{number:010d}"
    return body + check_character(body)


def onboard(
    a: Exchange, b: Exchange, regulator: Member, partner_on_b: Member, **changes: Any
) -> tuple[str, int]:
    """A registers B (pinning B's published keys) and grants an agreement: (partner, agreement)."""
    origin = b.get("/api/v1/log/checkpoint", format="json").json()["origin"]
    body = {
        "name": "Lao Carbon Footprint Programme",
        "country": "LA",
        "operator": "Ministry of Natural Resources and Environment",
        "contact": "pcf@example.la",
        "pactBaseUrl": b.url,
        "jwks": b.get("/.well-known/jwks.json").json(),
        "logOrigin": origin,
        "clientId": partner_on_b.client_id,
        "clientSecret": partner_on_b.client_secret,
        **changes,
    }
    registered = a.post("/api/v1/partners", regulator, body)
    assert registered.status_code == 201, registered.text
    partner_id = str(registered.json()["id"])
    drafted = a.post("/api/v1/agreements", regulator, agreement_body(partner_id))
    assert drafted.status_code == 201, drafted.text
    agreement_id = int(drafted.json()["id"])
    granted = a.post(
        f"/api/v1/agreements/{agreement_id}/status",
        regulator,
        {"status": "granted", "reason": "signed"},
    )
    assert granted.status_code == 200, granted.text
    return partner_id, agreement_id


def early_claimed(member: Member) -> dict[str, Any]:
    """A record whose signer claims it was created long ago (``created`` is the signer's
    word: 2025-04-30 in the PACT example)."""
    footprint = member.footprint(productClassifications=[SCOPE])
    footprint["created"] = "2025-04-30T00:00:00Z"
    return member.key.sign_footprint(footprint)


def revoke(b: Exchange, member: Member, revoked_at: dt.datetime | None = None) -> None:
    body: dict[str, Any] = {"reason": "the signing machine was stolen"}
    if revoked_at is not None:
        body["revokedAt"] = revoked_at.isoformat()
    revoked = b.post(f"/api/v1/keys/{member.key.kid}/revoke", member, body)
    assert revoked.status_code == 200, revoked.text


def test_partner_keys_are_judged_at_the_partners_receipt_and_revocations_flag(
    exchanges: tuple[Exchange, Exchange],  # noqa: F811 (the imported fixture)
) -> None:
    a, b = exchanges
    regulator = add_member(a.app, Role.REGULATOR)
    chain_owner = add_member(a.app, Role.CHAIN_OWNER)
    a_on_b = add_member(b.app, Role.PARTNER_PROGRAMME, register_key=False, country="TH")
    thief, honest = (add_member(b.app, Role.SUPPLIER, country="LA") for _ in range(2))
    partner_id, _ = onboard(a, b, regulator, a_on_b)

    # The thief pushes, then revokes its key back-dated to before the push: B itself marks
    # the record as received under a revoked key, though its ``created`` is older still.
    before_push = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    stolen = push_public(b, thief, early_claimed(thief))
    revoke(b, thief, before_push)
    on_b = b.get(f"/api/v1/footprints/{stolen}", a_on_b).json()["exchange"]
    assert on_b["keyStatusAtReceipt"] == "revoked"
    # The honest supplier's record is recognised.
    kept = push_public(b, honest, partner_envelope(honest))

    report = sync(a)
    assert (report["recognised"], report["refused"]) == (1, 1), report
    found = decisions(a, regulator, partner_id)
    assert found[stolen]["decision"] == "refused"
    assert "signer-key-revoked" in {reason["code"] for reason in found[stolen]["reasons"]}
    assert a.get(f"/api/v1/footprints/{stolen}/verification").status_code == 404
    assert found[kept]["decision"] == "recognised"
    pinned = a.get("/.well-known/jwks.json").json()
    assert verify_bundle(a.get(f"/api/v1/footprints/{kept}/verification").json(), pinned=pinned).ok

    # A chain-owner builds on the recognised record.
    product = a.post(
        "/api/v1/products",
        chain_owner,
        {
            "code": "JUICE-2",
            "name": "Mango juice",
            "declaredUnit": "kilogram",
            "lines": [{"label": "Lao sugar", "quantity": "0.5", "unit": "kg", "recordId": kept}],
        },
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    assert a.post(f"/api/v1/products/{product_id}/compute", chain_owner, {}).status_code == 200

    # The honest supplier's key leaks later; it revokes from now. A's next sync learns it
    # from B's JWKS and flags the recognition: hidden, and the product is stale.
    revoke(b, honest)
    report = sync(a)
    assert report["flagged"] == [kept], report
    flagged = decisions(a, regulator, partner_id)[kept]
    assert flagged["status"] == "flagged" and "revoked" in flagged["flagReason"]
    assert a.get(f"/api/v1/footprints/{kept}").status_code == 404
    assert a.get(f"/api/v1/products/{product_id}", chain_owner).json()["result"]["stale"] is True
    assert a.get(f"/api/v1/footprints/{kept}/verification").status_code == 404
    # Suspending and re-activating the partner does not restore it: the key stays revoked.
    for status in ("suspended", "active"):
        moved = a.post(
            f"/api/v1/partners/{partner_id}/status", regulator, {"status": status, "reason": "x"}
        )
        assert moved.status_code == 200, moved.text
    assert decisions(a, regulator, partner_id)[kept]["status"] == "flagged"


def test_the_regulator_revokes_a_pinned_partner_anchor(
    exchanges: tuple[Exchange, Exchange],  # noqa: F811 (the imported fixture)
) -> None:
    a, b = exchanges
    regulator = add_member(a.app, Role.REGULATOR)
    a_on_b = add_member(b.app, Role.PARTNER_PROGRAMME, register_key=False, country="TH")
    supplier = add_member(b.app, Role.SUPPLIER, country="LA")
    partner_id, _ = onboard(a, b, regulator, a_on_b)
    recognised = push_public(b, supplier, partner_envelope(supplier))
    assert sync(a)["recognised"] == 1
    [anchor] = a.get(f"/api/v1/partners/{partner_id}").json()["trustAnchors"]

    # Not the regulator, no reason, a revocation in the future: refused, nothing changes.
    outsider = add_member(a.app, Role.SUPPLIER)
    url = f"/api/v1/partners/{partner_id}/keys/{anchor['kid']}/revoke"
    assert a.post(url, outsider, {"reason": "x"}).status_code == 403
    assert a.post(url, regulator, {"reason": ""}).status_code == 400
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert a.post(url, regulator, {"reason": "x", "revokedAt": future}).status_code == 400
    assert decisions(a, regulator, partner_id)[recognised]["status"] == "standing"

    # The regulator revokes it (B's key leaked): the recognition B's checkpoint vouched for
    # under that key is flagged; a new sync cannot verify B's checkpoints any more.
    done = a.run(
        # "--": a key id may begin with "-" (it is base64url), which is not an option.
        "partners",
        "revoke-anchor",
        "--reason",
        "B reported a leak",
        "--",
        partner_id,
        anchor["kid"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    partner = a.get(f"/api/v1/partners/{partner_id}").json()
    assert partner["trustAnchors"][0]["revokedAt"] is not None
    assert "revoked" in partner["history"][-1]["reason"]
    assert decisions(a, regulator, partner_id)[recognised]["status"] == "flagged"
    assert a.get(f"/api/v1/footprints/{recognised}").status_code == 404
    assert a.post(url, regulator, {"reason": "again"}).status_code == 409
    push_public(b, supplier, partner_envelope(supplier))
    failed = a.run("partners", "sync")
    assert failed.returncode != 0
    assert decisions(a, regulator, partner_id)[recognised]["status"] == "flagged"


def _expire(a: Exchange, agreement_id: int) -> None:
    """Move the agreement's end to a second ago, as the clock passing it would."""
    engine = sa.create_engine(a.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(Agreement)
                .where(Agreement.id == agreement_id)
                .values(valid_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def _flagged_at(a: Exchange, record_id: str) -> dt.datetime | None:
    engine = sa.create_engine(a.database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(Recognition.flagged_at).where(Recognition.record_id == record_id)
            ).scalar_one()
    finally:
        engine.dispose()


def test_an_expired_agreement_ends_its_recognitions(
    exchanges: tuple[Exchange, Exchange],  # noqa: F811 (the imported fixture)
) -> None:
    a, b = exchanges
    regulator = add_member(a.app, Role.REGULATOR)
    a_on_b = add_member(b.app, Role.PARTNER_PROGRAMME, register_key=False, country="TH")
    supplier = add_member(b.app, Role.SUPPLIER, country="LA")
    partner_id, agreement_id = onboard(a, b, regulator, a_on_b)
    first = push_public(b, supplier, partner_envelope(supplier))
    assert sync(a)["recognised"] == 1
    assert a.get(f"/api/v1/footprints/{first}").status_code == 200

    # The agreement's validUntil passes. The first read after it already sees it ended.
    _expire(a, agreement_id)
    assert a.get(f"/api/v1/footprints/{first}").status_code == 404
    found = decisions(a, regulator, partner_id)[first]
    assert found["status"] == "flagged" and "expired" in found["flagReason"]

    # Without any reader, the worker ends them too: a second agreement, a second record.
    drafted = a.post("/api/v1/agreements", regulator, agreement_body(partner_id))
    second_agreement = int(drafted.json()["id"])
    granted = a.post(
        f"/api/v1/agreements/{second_agreement}/status",
        regulator,
        {"status": "granted", "reason": "renewed"},
    )
    assert granted.status_code == 200, granted.text
    second = push_public(b, supplier, partner_envelope(supplier))
    assert sync(a)["recognised"] == 1
    _expire(a, second_agreement)
    assert _flagged_at(a, second) is None
    worked = a.run("worker", "--once")
    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert _flagged_at(a, second) is not None
    assert a.get(f"/api/v1/footprints/{second}").status_code == 404


def test_two_domestic_exchanges_federate_both_ways(
    exchanges: tuple[Exchange, Exchange],  # noqa: F811 (the imported fixture)
) -> None:
    a, b = exchanges
    regulator_a = add_member(a.app, Role.REGULATOR)
    regulator_b = add_member(b.app, Role.REGULATOR)
    b_on_a = add_member(a.app, Role.PARTNER_PROGRAMME, register_key=False)
    a_on_b = add_member(b.app, Role.PARTNER_PROGRAMME, register_key=False)
    supplier_a = add_member(a.app, Role.SUPPLIER)
    supplier_b = add_member(b.app, Role.SUPPLIER)
    # B (another province's programme, in CN) registers Hainan; Hainan registers B.
    a_at_b, _ = onboard(b, a, regulator_b, b_on_a, name="Hainan", country="CN", uscc=uscc(900001))
    b_at_a, _ = onboard(
        a, b, regulator_a, a_on_b, name="Guangdong", country="CN", uscc=uscc(900002)
    )
    from_a = push_public(a, supplier_a, partner_envelope(supplier_a))
    from_b = push_public(b, supplier_b, partner_envelope(supplier_b))

    report_a = sync(a)
    assert (report_a["recognised"], report_a["refused"]) == (1, 0), report_a
    done = b.run("partners", "sync", origin=B_ORIGIN)
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    # B recognises A's record; B's own record, which A recognised, is not served back to B.
    assert (parsed["recognised"], parsed["refused"], parsed["own"]) == (1, 0, 0), parsed
    listed = a.get("/3/footprints", b_on_a, limit=100)
    assert listed.status_code == 200, listed.text
    served_to_b = {item["id"] for item in listed.json()["data"]}
    assert from_a in served_to_b and from_b not in served_to_b
    # Anyone else on A still reads the record A recognised from B.
    assert from_b in {item["id"] for item in a.get("/3/footprints", supplier_a).json()["data"]}
    assert decisions(b, regulator_b, a_at_b)[from_a]["decision"] == "recognised"
    assert from_b not in decisions(b, regulator_b, a_at_b)
    # And back again: A's next sync leaves its own record that B now lists, refuses nothing.
    again = sync(a)
    assert (again["recognised"], again["refused"]) == (0, 0), again
    assert from_a not in decisions(a, regulator_a, b_at_a)
