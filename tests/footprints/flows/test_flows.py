"""Data flows: each kind of transfer is recorded (who, what, when, under which grant), the
owner's and the regulator's views and who may see them, and a withdrawn share stopping the
next delivery."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import pact_wire
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints.flows.models import DataFlow
from exchange.jobs.models import Job, JobStatus
from exchange.jobs.services import JobContext, enqueue, run_due_jobs
from exchange.organisations import services as organisations
from exchange.organisations.models import Role
from exchange.pact import services as pact_services
from exchange.pact_wire.host import Host
from tests.factories import Member, add_member
from tests.mutual_recognition.builders import agreement_body, partner_envelope
from tests.mutual_recognition.conftest import register


def push(client: FlaskClient, member: Member, **changes: Any) -> str:
    response = client.post(
        "/api/v1/footprints", json=member.envelope(**changes), headers=member.headers
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def share(client: FlaskClient, owner: Member, grantee: Member, **target: str) -> int:
    response = client.post(
        "/api/v1/shares",
        json={"organisationId": grantee.organisation_id, **target},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def disclose(client: FlaskClient, owner: Member, record_id: str, disclosure: str) -> None:
    response = client.put(
        f"/api/v1/footprints/{record_id}/disclosure",
        json={"disclosure": disclosure},
        headers=owner.headers,
    )
    assert response.status_code == 200, response.get_json()


def flows(app: Flask, **where: Any) -> list[DataFlow]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        query = sa.select(DataFlow).filter_by(**where).order_by(DataFlow.id)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def outbound(client: FlaskClient, member: Member, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/flows/outbound?{query}", headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]  # type: ignore[no-any-return]


def assert_recent(moment: dt.datetime) -> None:
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - moment < dt.timedelta(minutes=5)


# --- reads ------------------------------------------------------------------------------------


def test_an_api_read_of_a_shared_record_is_recorded_with_its_share(
    app: Flask, client: FlaskClient
) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    record_id = push(client, owner)
    share_id = share(client, owner, customer, recordId=record_id)
    before = len(flows(app))
    # the owner reading its own record is not a transfer
    assert client.get(f"/api/v1/footprints/{record_id}", headers=owner.headers).status_code == 200
    assert len(flows(app)) == before

    assert (
        client.get(f"/api/v1/footprints/{record_id}", headers=customer.headers).status_code == 200
    )
    [flow] = flows(app, kind="api-read")
    assert (flow.record_id, flow.owner_id, flow.recipient_id) == (
        record_id,
        owner.organisation_id,
        customer.organisation_id,
    )
    assert (flow.grant.value, flow.share_id, flow.country) == ("share", share_id, "CN")
    assert_recent(flow.occurred_at)


def test_a_pact_list_page_is_one_batched_insert_and_public_records_record_nothing(
    app: Flask, client: FlaskClient
) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    product = "urn:gtin:06901234500017"
    shared = [push(client, owner, productIds=[product]) for _ in range(3)]
    share_id = share(client, owner, customer, productId=product)
    public = push(client, owner, productIds=["urn:gtin:06901234500024"])
    disclose(client, owner, public, "public")

    engine = app.extensions["exchange.engine"]
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO DATA_FLOWS"):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        listed = client.get(
            "/3/footprints?productId=urn:gtin:06901234500024", headers=customer.headers
        )
        assert [pf["id"] for pf in listed.get_json()["data"]] == [public]
        assert inserts == [] and flows(app, kind="pact-list") == []

        listed = client.get(f"/3/footprints?productId={product}", headers=customer.headers)
        assert sorted(pf["id"] for pf in listed.get_json()["data"]) == sorted(shared)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(inserts) == 1
    recorded = flows(app, kind="pact-list")
    assert sorted(flow.record_id for flow in recorded) == sorted(shared)
    assert {(f.recipient_id, f.grant.value, f.share_id) for f in recorded} == {
        (customer.organisation_id, "share", share_id)
    }


def test_a_pact_get_is_recorded(app: Flask, client: FlaskClient) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    record_id = push(client, owner)
    share_id = share(client, owner, customer, recordId=record_id)
    assert client.get(f"/3/footprints/{record_id}", headers=customer.headers).status_code == 200
    [flow] = flows(app, kind="pact-get")
    assert (flow.record_id, flow.recipient_id, flow.grant.value, flow.share_id) == (
        record_id,
        customer.organisation_id,
        "share",
        share_id,
    )


def test_the_regulator_reading_a_record_disclosed_to_it_is_recorded_under_its_role(
    app: Flask, client: FlaskClient
) -> None:
    owner, regulator = add_member(app), add_member(app, Role.REGULATOR)
    record_id = push(client, owner)
    disclose(client, owner, record_id, "regulator")
    assert (
        client.get(f"/api/v1/footprints/{record_id}", headers=regulator.headers).status_code == 200
    )
    [flow] = flows(app, kind="api-read")
    assert (flow.recipient_id, flow.grant.value, flow.share_id) == (
        regulator.organisation_id,
        "regulator",
        None,
    )


def test_a_verification_bundle_is_recorded(app: Flask, client: FlaskClient) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    record_id = push(client, owner)
    share_id = share(client, owner, customer, recordId=record_id)
    url = f"/api/v1/footprints/{record_id}/verification"
    assert client.get(url, headers=customer.headers).status_code == 200
    [flow] = flows(app, kind="verification-bundle")
    assert (flow.record_id, flow.recipient_id, flow.share_id) == (
        record_id,
        customer.organisation_id,
        share_id,
    )


# --- shares -----------------------------------------------------------------------------------


def test_granting_and_withdrawing_a_share_are_recorded(app: Flask, client: FlaskClient) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    product = "urn:gtin:06901234500017"
    records = sorted(push(client, owner, productIds=[product]) for _ in range(2))
    share_id = share(client, owner, customer, productId=product)
    granted = flows(app, kind="share-granted")
    assert sorted(flow.record_id for flow in granted) == records
    assert {(f.recipient_id, f.grant.value, f.share_id) for f in granted} == {
        (customer.organisation_id, "share", share_id)
    }
    deleted = client.delete(f"/api/v1/shares/{share_id}", headers=owner.headers)
    assert deleted.status_code == 204
    withdrawn = flows(app, kind="share-withdrawn")
    assert sorted(flow.record_id for flow in withdrawn) == records
    assert {(f.recipient_id, f.share_id) for f in withdrawn} == {
        (customer.organisation_id, share_id)
    }
    # another company cannot withdraw it, and a public record's share records nothing
    public = push(client, owner, productIds=["urn:gtin:06901234500024"])
    disclose(client, owner, public, "public")
    share(client, owner, customer, recordId=public)
    assert len(flows(app, kind="share-granted")) == 2


# --- PACT deliveries by the outbox ------------------------------------------------------------


@dataclasses.dataclass
class FakeHost:
    """The recipient's PACT host: answers the token request and takes events."""

    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    calls: int = 0

    def post(self, url: str, **kwargs: Any) -> Any:
        self.calls += 1
        if url.endswith("/auth/token"):
            return _Answer(200, {"access_token": "t", "token_type": "bearer"})
        self.events.append(json.loads(kwargs["data"]))
        return _Answer(200, {})


@dataclasses.dataclass
class _Answer:
    status_code: int
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return self.body


@pytest.fixture
def fake_host(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHost]:
    host = FakeHost()
    # the outbox posts through requests: the recipient's host answers here instead
    monkeypatch.setattr(requests, "post", host.post)
    app.config["EVENTS_ALLOW_PRIVATE_HOSTS"] = True
    yield host


def run_worker(app: Flask) -> None:
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    run_due_jobs(context, app.extensions["exchange.job_handlers"])


def register_endpoint(client: FlaskClient, member: Member) -> None:
    response = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://buyer.example", "clientId": "us", "clientSecret": "s3cret"},
        headers=member.headers,
    )
    assert response.status_code == 200, response.get_json()


def delivery_jobs(app: Flask) -> list[Job]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        jobs = list(session.scalars(sa.select(Job).where(Job.kind == pact_services.DELIVER_EVENT)))
        session.expunge_all()
        return jobs


def test_a_delivered_published_event_is_recorded_with_its_event_id(
    app: Flask, client: FlaskClient, fake_host: FakeHost
) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    register_endpoint(client, customer)
    record_id = push(client, owner)
    share_id = share(client, owner, customer, recordId=record_id)
    [job] = delivery_jobs(app)
    run_worker(app)
    [event] = fake_host.events
    assert event["type"] == pact_wire.PUBLISHED and event["data"]["pfIds"] == [record_id]
    [flow] = flows(app, kind="pact-delivery")
    assert (flow.record_id, flow.recipient_id, flow.grant.value, flow.share_id) == (
        record_id,
        customer.organisation_id,
        "share",
        share_id,
    )
    assert flow.reference == job.payload["event"]["id"] == event["id"]
    assert_recent(flow.occurred_at)


def test_a_withdrawn_share_stops_the_queued_delivery_and_later_reads(
    app: Flask, client: FlaskClient, fake_host: FakeHost
) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    register_endpoint(client, customer)
    record_id = push(client, owner)
    share_id = share(client, owner, customer, recordId=record_id)
    [job] = delivery_jobs(app)
    assert job.payload["event"]["data"]["pfIds"] == [record_id]

    assert client.delete(f"/api/v1/shares/{share_id}", headers=owner.headers).status_code == 204
    run_worker(app)

    assert fake_host.calls == 0 and fake_host.events == []  # nothing left the exchange
    [done] = delivery_jobs(app)
    assert done.status == JobStatus.DONE  # cancelled, not retried
    assert flows(app, kind="pact-delivery") == []
    [refused] = flows(app, kind="pact-delivery-refused")
    assert (refused.record_id, refused.recipient_id, refused.grant.value) == (
        record_id,
        customer.organisation_id,
        "none",
    )
    assert refused.reference == job.payload["event"]["id"]
    # and no further reads
    for url in (f"/api/v1/footprints/{record_id}", f"/3/footprints/{record_id}"):
        assert client.get(url, headers=customer.headers).status_code == 404
    listed = client.get("/3/footprints", headers=customer.headers).get_json()["data"]
    assert listed == []
    assert flows(app, kind="api-read") == flows(app, kind="pact-get") == []


def test_a_delivery_drops_only_the_withdrawn_records(
    app: Flask, client: FlaskClient, fake_host: FakeHost
) -> None:
    owner, customer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    register_endpoint(client, customer)
    product = "urn:gtin:06901234500017"
    kept, dropped = push(client, owner, productIds=[product]), push(client, owner)
    share(client, owner, customer, productId=product)
    withdrawn = share(client, owner, customer, recordId=dropped)
    # one event naming both, as a supplier's batch push would queue
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(sa.delete(Job))
        event = pact_services.new_event(
            pact_wire.PUBLISHED,
            {"pfIds": sorted([kept, dropped])},
            Host(base_url="https://exchange.example"),
        )
        enqueue(
            session,
            kind=pact_services.DELIVER_EVENT,
            payload={"recipient": customer.organisation_id, "event": event},
        )
    assert client.delete(f"/api/v1/shares/{withdrawn}", headers=owner.headers).status_code == 204
    run_worker(app)
    [sent] = fake_host.events
    assert sent["data"]["pfIds"] == [kept]
    assert [f.record_id for f in flows(app, kind="pact-delivery")] == [kept]
    assert [f.record_id for f in flows(app, kind="pact-delivery-refused")] == [dropped]


# --- federation -------------------------------------------------------------------------------


@dataclasses.dataclass
class Partner:
    regulator: Member
    supplier: Member
    anchor: LocalKey
    partner_id: str
    organisation_id: str
    agreement_id: int


@pytest.fixture
def partner(app: Flask, client: FlaskClient) -> Partner:
    regulator = add_member(app, Role.REGULATOR)
    supplier = add_member(app, Role.SUPPLIER, country="TH")
    anchor = LocalKey.generate()
    registered = register(client, regulator, anchor, recognisedDisclosure="regulator")
    assert registered.status_code == 201, registered.get_json()
    partner_id = registered.get_json()["id"]
    drafted = client.post(
        "/api/v1/agreements", json=agreement_body(partner_id), headers=regulator.headers
    )
    assert drafted.status_code == 201, drafted.get_json()
    agreement_id = drafted.get_json()["id"]
    granted = client.post(
        f"/api/v1/agreements/{agreement_id}/status",
        json={"status": "granted", "reason": "signed"},
        headers=regulator.headers,
    )
    assert granted.status_code == 200, granted.get_json()
    return Partner(
        regulator,
        supplier,
        anchor,
        partner_id,
        registered.get_json()["organisationId"],
        agreement_id,
    )


def test_a_partner_record_coming_in_is_recorded_under_its_agreement(
    app: Flask, client: FlaskClient, partner: Partner
) -> None:
    envelope = partner.anchor.sign_footprint(partner_envelope(partner.supplier)["footprint"])
    uploaded = client.post(
        f"/api/v1/partners/{partner.partner_id}/records",
        json={"items": [{"envelope": envelope}]},
        headers=partner.regulator.headers,
    )
    assert uploaded.status_code == 200, uploaded.get_json()
    assert uploaded.get_json()["data"][0]["decision"] == "recognised"
    [flow] = flows(app, kind="federation-in")
    assert flow.record_id == envelope["footprint"]["id"]
    assert (flow.owner_id, flow.partner_id, flow.country) == (
        partner.organisation_id,
        partner.partner_id,
        "TH",
    )
    assert (flow.grant.value, flow.agreement_id, flow.recipient_id) == (
        "agreement",
        partner.agreement_id,
        None,
    )


def test_a_partner_host_reading_our_record_is_a_federation_transfer(
    app: Flask, client: FlaskClient, partner: Partner
) -> None:
    owner = add_member(app)
    record_id = push(client, owner)
    with transaction(app.extensions["exchange.sessions"]) as session:
        credentials = organisations.create_client(
            session, organisation_id=partner.organisation_id, name="partner host"
        )
        token = organisations.issue_token(
            session, client_id=credentials.client_id, client_secret=credentials.client_secret
        ).access_token
    response = client.post(
        "/api/v1/shares",
        json={"organisationId": partner.organisation_id, "recordId": record_id},
        headers=owner.headers,
    )
    assert response.status_code == 201
    listed = client.get("/3/footprints", headers={"Authorization": f"Bearer {token}"})
    assert [pf["id"] for pf in listed.get_json()["data"]] == [record_id]
    [flow] = flows(app, kind="federation-out")
    assert (flow.record_id, flow.owner_id, flow.recipient_id) == (
        record_id,
        owner.organisation_id,
        partner.organisation_id,
    )
    assert (flow.partner_id, flow.country, flow.agreement_id, flow.grant.value) == (
        partner.partner_id,
        "TH",
        partner.agreement_id,
        "share",
    )
