"""Concurrent writers of footprint records, as an attacker (or a retrying client) races them.

Every writer is a thread with its own test client, so its own request, session and database
connection; a barrier starts them together. On SQLite writers queue at ``BEGIN IMMEDIATE``;
on PostgreSQL (EXCHANGE_TEST_DATABASE_URL) they really overlap, which is where a check made
before another transaction's commit used to let several successors through.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from exchange.db import transaction
from exchange.footprints.flows.models import DataFlow, FlowKind
from exchange.footprints.models import FootprintRecord, RecordStatus, Share
from exchange.log.models import LogEntry
from tests.factories import Member, add_member

# Some tests here build databases of their own from EXCHANGE_TEST_DATABASE_URL.
pytestmark = pytest.mark.database

WRITERS = 16
ROUNDS = 3


@pytest.fixture
def supplier(app: Flask) -> Member:
    return add_member(app)


def _race(app: Flask, member: Member, bodies: list[Any]) -> list[tuple[int, Any]]:
    """POST each body from its own thread at once; (status, JSON) of each, in order."""
    barrier = threading.Barrier(len(bodies))

    def send(body: Any) -> tuple[int, Any]:
        client = app.test_client()
        barrier.wait(timeout=60)
        response = client.post("/api/v1/footprints", json=body, headers=member.headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def _stored(app: Flask) -> tuple[dict[str, FootprintRecord], list[str]]:
    """Every stored record by id, and the refs of the footprint log entries."""
    with transaction(app.extensions["exchange.sessions"]) as session:
        records = {record.id: record for record in session.scalars(sa.select(FootprintRecord))}
        refs = list(session.scalars(sa.select(LogEntry.ref).where(LogEntry.kind == "footprint")))
    return records, refs


def _submit(app: Flask, member: Member, envelope: dict[str, Any]) -> str:
    response = app.test_client().post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def _is_conflict(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and body.get("code") == "Conflict"
        and isinstance(body.get("message"), str)
        and isinstance(body.get("details"), list)
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_many_successors_of_one_record_at_once_exactly_one_wins(
    app: Flask, supplier: Member, round_: int
) -> None:
    original = _submit(app, supplier, supplier.envelope())
    successors = [supplier.envelope(precedingPfIds=[original]) for _ in range(WRITERS)]

    answers = _race(app, supplier, successors)

    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 1, 409: WRITERS - 1}, answers
    assert all(_is_conflict(body) for status, body in answers if status == 409), answers
    winner = next(body["id"] for status, body in answers if status == 201)
    records, refs = _stored(app)
    # Nothing of a loser is stored or logged; the original names the one winner.
    assert sorted(records) == sorted([original, winner])
    assert sorted(refs) == sorted([original, winner])
    assert records[original].status == RecordStatus.DEPRECATED
    assert records[original].deprecated_by_id == winner
    assert records[winner].status == RecordStatus.ACTIVE


def test_batches_racing_to_supersede_one_record_keep_only_one_successor(
    app: Flask, supplier: Member
) -> None:
    original = _submit(app, supplier, supplier.envelope())
    batches = [
        {"items": [supplier.envelope(), supplier.envelope(precedingPfIds=[original])]}
        for _ in range(WRITERS // 2)
    ]

    answers = _race(app, supplier, batches)

    assert all(status == 207 or status == 200 for status, _ in answers), answers
    outcomes = Counter(body["results"][1]["status"] for _, body in answers)
    assert outcomes == {"created": 1, "rejected": WRITERS // 2 - 1}, answers
    for _, body in answers:
        assert body["results"][0]["status"] == "created"  # the unrelated item is unharmed
        if body["results"][1]["status"] == "rejected":
            assert body["results"][1]["httpStatus"] == 409
            assert _is_conflict(body["results"][1]["error"])
    winner = next(
        body["results"][1]["id"] for _, body in answers if body["results"][1]["status"] == "created"
    )
    records, refs = _stored(app)
    expected = {original, winner} | {body["results"][0]["id"] for _, body in answers}
    assert set(records) == expected and len(records) == len(expected)
    assert sorted(refs) == sorted(expected)
    assert records[original].deprecated_by_id == winner
    assert [r.id for r in records.values() if r.status == RecordStatus.DEPRECATED] == [original]


def test_two_items_of_one_batch_cannot_both_supersede_a_record(
    app: Flask, supplier: Member
) -> None:
    original = _submit(app, supplier, supplier.envelope())
    first, second = (supplier.envelope(precedingPfIds=[original]) for _ in range(2))
    response = app.test_client().post(
        "/api/v1/footprints", json={"items": [first, second]}, headers=supplier.headers
    )
    body = response.get_json()
    assert [item["status"] for item in body["results"]] == ["created", "rejected"], body
    assert body["results"][1]["httpStatus"] == 409
    records, refs = _stored(app)
    assert sorted(records) == sorted([original, first["footprint"]["id"]])
    assert sorted(refs) == sorted(records)


@pytest.mark.parametrize(
    ("make", "loser_statuses"),
    [
        # the same envelope resent by a retrying client: stored once; a resend that overlapped
        # the first is told to resend (409), a later one that it is "unchanged" (200)
        (lambda member, envelope: envelope, {200, 409}),
        # different records claiming one id: one is stored, the rest are conflicts
        (
            lambda member, envelope: member.envelope(
                id=envelope["footprint"]["id"], comment=f"version {uuid.uuid4()}"
            ),
            {409},
        ),
    ],
    ids=["same-envelope", "same-id"],
)
def test_one_record_id_submitted_many_times_at_once_is_stored_once(
    app: Flask,
    supplier: Member,
    make: Callable[[Member, dict[str, Any]], dict[str, Any]],
    loser_statuses: set[int],
) -> None:
    envelope = supplier.envelope()
    bodies = [make(supplier, envelope) for _ in range(WRITERS)]

    answers = _race(app, supplier, bodies)

    statuses = [status for status, _ in answers]
    assert statuses.count(201) == 1, answers
    assert set(statuses) - {201} <= loser_statuses, answers
    assert all(_is_conflict(body) for status, body in answers if status == 409), answers
    records, refs = _stored(app)
    assert list(records) == [envelope["footprint"]["id"]]
    assert refs == [envelope["footprint"]["id"]]
    winner = next(index for index, status in enumerate(statuses) if status == 201)
    # the winner's record, not a loser's
    assert records[envelope["footprint"]["id"]].signature == bodies[winner]["signature"]["value"]


@pytest.mark.parametrize("target", ["record", "product"])
def test_one_share_granted_many_times_at_once_is_one_grant(
    app: Flask, supplier: Member, target: str
) -> None:
    customer = add_member(app)
    record_id = _submit(app, supplier, supplier.envelope())
    body = (
        {"organisationId": customer.organisation_id, "recordId": record_id}
        if target == "record"
        else {"organisationId": customer.organisation_id, "productId": "urn:x:product:1"}
    )
    barrier = threading.Barrier(WRITERS)

    def send(_: int) -> tuple[int, Any]:
        client = app.test_client()
        barrier.wait(timeout=60)
        response = client.post("/api/v1/shares", json=body, headers=supplier.headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        answers = list(pool.map(send, range(WRITERS)))

    assert {status for status, _ in answers} == {201}, answers
    assert len({body["id"] for _, body in answers}) == 1, answers  # all name the one grant
    with transaction(app.extensions["exchange.sessions"]) as session:
        grants = session.scalars(sa.select(Share).where(Share.owner_id == supplier.organisation_id))
        assert len(list(grants)) == 1
    # so withdrawing it withdraws the customer's access
    grant_id = answers[0][1]["id"]
    deleted = app.test_client().delete(f"/api/v1/shares/{grant_id}", headers=supplier.headers)
    assert deleted.status_code == 204
    seen = app.test_client().get(f"/api/v1/footprints/{record_id}", headers=customer.headers)
    assert seen.status_code == 404


def test_one_share_withdrawn_many_times_at_once_is_withdrawn_once(
    app: Flask, supplier: Member
) -> None:
    customer = add_member(app)
    record_id = _submit(app, supplier, supplier.envelope())
    granted = app.test_client().post(
        "/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": record_id},
        headers=supplier.headers,
    )
    assert granted.status_code == 201, granted.get_json()
    url = f"/api/v1/shares/{granted.get_json()['id']}"
    barrier = threading.Barrier(WRITERS)

    def send(_: int) -> tuple[int, Any]:
        client = app.test_client()
        barrier.wait(timeout=60)
        response = client.delete(url, headers=supplier.headers)
        return response.status_code, response.get_json(silent=True)

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        answers = list(pool.map(send, range(WRITERS)))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {204: 1, 404: WRITERS - 1}, answers
    assert all(body["code"] == "NotFound" for status, body in answers if status == 404)
    with transaction(app.extensions["exchange.sessions"]) as session:
        withdrawn = session.scalar(
            sa.select(sa.func.count())
            .select_from(DataFlow)
            .where(DataFlow.kind == FlowKind.SHARE_WITHDRAWN)
        )
    assert withdrawn == 1  # the supervision log records one withdrawal, not one per request


def test_pushes_racing_for_one_open_request_answer_it_once(app: Flask, supplier: Member) -> None:
    """The records' listeners run before the log head is locked, so pushes of one supplier
    overlap in them (on PostgreSQL): only one may answer a request, with one event."""
    import json

    from exchange import pact_wire
    from exchange.jobs.models import Job
    from exchange.organisations.models import Role
    from exchange.pact import services as pact
    from tests.factories import cloud_event

    brand = add_member(app, Role.CHAIN_OWNER)
    client = app.test_client()
    registered = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://brand.example", "clientId": "c", "clientSecret": "s"},
        headers=brand.headers,
    )
    assert registered.status_code == 200, registered.get_json()
    request = cloud_event(
        pact_wire.REQUEST_CREATED, {"companyId": supplier.company_ids[:1]}, "https://brand.example"
    )
    posted = client.post(
        "/3/events",
        data=json.dumps(request),
        content_type="application/cloudevents+json",
        headers=brand.headers,
    )
    assert posted.status_code == 200, posted.get_json()
    bodies = [supplier.key.sign_footprint(supplier.footprint()) for _ in range(WRITERS)]
    results = _race(app, supplier, bodies)
    assert [status for status, _ in results] == [201] * WRITERS
    with transaction(app.extensions["exchange.sessions"]) as session:
        events = [
            job.payload["event"]
            for job in session.scalars(sa.select(Job).where(Job.kind == pact.DELIVER_EVENT))
        ]
        granted = [
            str(record_id)
            for record_id in session.scalars(
                sa.select(Share.record_id).where(Share.grantee_id == brand.organisation_id)
            )
        ]
    fulfilled = [event for event in events if event["type"] == pact_wire.REQUEST_FULFILLED]
    assert len(fulfilled) == 1
    answered = [pf["id"] for pf in fulfilled[0]["data"]["pfs"]]
    assert sorted(granted) == sorted(answered)
    (mine,) = client.get("/api/v1/requests", headers=brand.headers).get_json()["data"]
    assert mine["status"] == "fulfilled" and mine["answer"] == {"pfIds": answered}
