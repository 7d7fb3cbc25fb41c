"""A PACT conformance walk over a real TLS server, with a second real server as the
requester's PACT host that receives the callbacks delivered by ``exchange worker``."""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from exchange import pact_wire
from exchange.jobs.models import Job, JobStatus
from exchange.organisations.models import Role
from tests.e2e.conftest import TLSServer, command_app, run_command
from tests.e2e.receiver import PartnerHost, partner_host
from tests.factories import Member, add_member, cloud_event
from tests.pact import test_conformance as conformance
from tests.pact.oracle import openapi_errors

pytestmark = pytest.mark.e2e


@pytest.fixture
def partner(tls_server: TLSServer) -> Iterator[PartnerHost]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_server.ca.issue_cert("127.0.0.1").configure_cert(context)
    with partner_host(context) as host:
        yield host


def move_past_backoff(app: Flask, *, at_most: dt.timedelta) -> None:
    """The clock moves past the backoff of the pending jobs: each is made due now, after
    checking its backoff was no longer than ``at_most`` (instead of sleeping it out)."""
    now = dt.datetime.now(dt.UTC)
    with app.extensions["exchange.sessions"].begin() as session:
        pending = list(session.scalars(sa.select(Job).where(Job.status == JobStatus.PENDING)))
        assert pending
        for job in pending:
            assert job.next_attempt_at <= now + at_most, job.next_attempt_at
            job.next_attempt_at = now


def run_worker(tls_server: TLSServer, database_url: str, **extra: str) -> str:
    """``exchange worker --once`` beside the server, trusting the test CA; its stderr."""
    app = command_app(tls_server.instance, database_url, **extra)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_file))
            done = run_command(app, "worker", "--once")
    finally:
        for engine in app.extensions["exchange.engines"]:
            engine.dispose()
    assert done.returncode == 0, done.stderr
    return done.stderr


class Pact:
    """A PACT client as a conformance tester is one: token first, then the actions."""

    def __init__(self, server: TLSServer, member: Member) -> None:
        self.base_url = server.base_url
        self.verify = str(server.ca_file)
        token = requests.post(
            f"{self.base_url}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(member.client_id, member.client_secret),
            verify=self.verify,
            timeout=30,
        )
        assert token.status_code == 200
        self.token = token.json()["access_token"]

    def get(self, path: str, token: str | None = None) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.base_url}{path}"
        return requests.get(
            url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            verify=self.verify,
            timeout=30,
        )

    def event(self, body: object, token: str | None = None) -> requests.Response:
        return requests.post(
            f"{self.base_url}/3/events",
            json=body,
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Content-Type": "application/cloudevents+json; charset=UTF-8",
            },
            verify=self.verify,
            timeout=30,
        )


def register_partner(server: TLSServer, member: Member, partner: PartnerHost, secret: str) -> None:
    """The member tells the exchange where its PACT host is and how to log in there."""
    response = requests.put(
        f"{server.base_url}/api/v1/events-endpoint",
        json={"baseUrl": partner.base_url, "clientId": partner.client_id, "clientSecret": secret},
        headers=member.headers,
        verify=str(server.ca_file),
        timeout=30,
    )
    assert response.status_code == 200, response.text


def push(app: Flask, server: TLSServer, member: Member, **changes: Any) -> dict[str, Any]:
    envelope = member.envelope(**changes)
    response = requests.post(
        f"{server.base_url}/api/v1/footprints",
        json=envelope,
        headers=member.headers,
        verify=str(server.ca_file),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    footprint_sent: dict[str, Any] = envelope["footprint"]
    return footprint_sent


def test_the_pact_conformance_walk(
    app: Flask, tls_server: TLSServer, partner: PartnerHost, database_url: str
) -> None:
    supplier = add_member(app)
    buyer = add_member(app, Role.CHAIN_OWNER)
    verify = str(tls_server.ca_file)
    footprints = [
        push(app, tls_server, supplier, productIds=[f"urn:gtin:0690123450{n:04d}"])
        for n in range(3)
    ]
    for footprint in footprints:
        shared = requests.post(
            f"{tls_server.base_url}/api/v1/shares",
            json={"organisationId": buyer.organisation_id, "recordId": footprint["id"]},
            headers=supplier.headers,
            verify=verify,
            timeout=30,
        )
        assert shared.status_code == 201

    # authentication: discovery, good and bad credentials, plain HTTP refused
    discovery = requests.get(
        f"{tls_server.base_url}/.well-known/openid-configuration", verify=verify, timeout=30
    ).json()
    assert discovery["token_endpoint"] == f"{tls_server.base_url}/auth/token"
    client = Pact(tls_server, buyer)
    bad = requests.post(
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(buyer.client_id, "not the secret"),
        verify=verify,
        timeout=30,
    )
    assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"
    plain = tls_server.base_url.replace("https://", "http://")
    for method, path in [("POST", "/auth/token"), ("GET", "/3/footprints"), ("POST", "/3/events")]:
        with pytest.raises(requests.ConnectionError):
            requests.request(method, f"{plain}{path}", timeout=10)

    # get, list, pagination, unknown id, invalid token on each action
    one = client.get(f"/3/footprints/{footprints[0]['id']}")
    assert one.status_code == 200 and one.json()["data"]["id"] == footprints[0]["id"]
    assert openapi_errors(one.json()["data"]) == []
    everything = client.get("/3/footprints")
    assert len(everything.json()["data"]) == 3 and "Link" not in everything.headers
    first_page = client.get("/3/footprints?limit=1")
    link = first_page.headers["Link"]
    assert link.startswith(f"<{tls_server.base_url}/3/footprints?") and link.endswith('rel="next"')
    walked = [item["id"] for item in first_page.json()["data"]]
    while "Link" in first_page.headers:
        link = first_page.headers["Link"]
        first_page = client.get(link[1 : link.index(">")])
        assert first_page.status_code == 200
        walked += [item["id"] for item in first_page.json()["data"]]
    assert sorted(walked) == sorted(f["id"] for f in footprints)
    unknown = client.get(f"/3/footprints/{uuid.uuid4()}")
    assert unknown.status_code == 404 and unknown.json()["code"] == "NotFound"
    for response in (
        client.get("/3/footprints", token="invalid"),
        client.get(f"/3/footprints/{footprints[0]['id']}", token="invalid"),
        client.event(cloud_event(pact_wire.PUBLISHED, {"pfIds": [str(uuid.uuid4())]}, "x"), "bad"),
    ):
        assert response.status_code == 401 and response.json()["code"] == "BadRequest"

    # filters over HTTP: alone, AND, OR, and bogus values
    product = footprints[1]["productIds"][0]
    assert [i["id"] for i in client.get(f"/3/footprints?productId={product}").json()["data"]] == [
        footprints[1]["id"]
    ]
    both = f"productId={product}&productId={footprints[2]['productIds'][0]}&status=Active"
    assert len(client.get(f"/3/footprints?{both}").json()["data"]) == 2
    company = supplier.company_ids[0]
    assert len(client.get(f"/3/footprints?companyId={company}").json()["data"]) == 3
    # every footprint here is example-1's US-TX, CAS 1456 record, valid 2024-12-31..2027-12-31
    for alone in (
        "geography=US-TX",
        "classification=urn:pact:productclassification:cas:1456",
        "validOn=2025-06-01T00:00:00Z",
        "validAfter=2024-12-01T00:00:00Z",
        "validBefore=2028-01-01T00:00:00Z",
        "status=Active",
        f"companyId={company}&companyId=urn:pact:null",
    ):
        assert len(client.get(f"/3/footprints?{alone}").json()["data"]) == 3, alone
    for bogus in (
        "productId=urn:pact:null",
        "companyId=urn:pact:null",
        "geography=XX",
        "classification=urn:pact:null",
        "validOn=1900-01-01T00:00:00Z",
        "validAfter=2099-01-01T00:00:00Z",
        "validBefore=1900-01-01T00:00:00Z",
        "status=BogusStatusXXXX",
        "geography=XX&status=Active",
    ):
        assert client.get(f"/3/footprints?{bogus}").json() == {"data": []}, bogus

    # events: the buyer's PACT host is registered, then it asks for footprints
    register_partner(tls_server, buyer, partner, partner.client_secret)
    wanted = cloud_event(pact_wire.REQUEST_CREATED, {"productId": [product]}, partner.base_url)
    nothing = cloud_event(
        pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]}, partner.base_url
    )
    for body in (wanted, nothing):
        accepted = client.event(body)
        assert accepted.status_code == 200 and accepted.content == b""
    published = cloud_event(pact_wire.PUBLISHED, {"pfIds": [str(uuid.uuid4())]}, partner.base_url)
    assert client.event(published).status_code == 200
    malformed = cloud_event(pact_wire.PUBLISHED, {"pfIds": ["urn:gtin:4712345060507"]}, "x")
    assert client.event(malformed).status_code == 400

    assert partner.events == []  # nothing is sent until the worker runs
    run_worker(tls_server, database_url)
    by_request = {item.body["data"]["requestEventId"]: item for item in partner.events}
    assert len(partner.events) == 2 and set(by_request) == {wanted["id"], nothing["id"]}
    fulfilled = by_request[wanted["id"]].body
    assert by_request[wanted["id"]].content_type == "application/cloudevents+json"
    assert openapi_errors(fulfilled, "RequestFulfilledEvent") == []
    assert [pf["productIds"] for pf in fulfilled["data"]["pfs"]] == [[product]]
    rejected = by_request[nothing["id"]].body
    assert openapi_errors(rejected, "RequestRejectedEvent") == []
    assert rejected["data"]["error"]["code"] == "NotFound"

    # delivered once: a second worker run sends nothing again
    run_worker(tls_server, database_url)
    assert len(partner.events) == 2


def test_a_delivery_to_a_host_that_is_down_is_retried_until_it_answers(
    app: Flask, tls_server: TLSServer, partner: PartnerHost, database_url: str
) -> None:
    buyer = add_member(app, Role.CHAIN_OWNER)
    client = Pact(tls_server, buyer)
    register_partner(tls_server, buyer, partner, "wrong")
    request = cloud_event(
        pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]}, partner.base_url
    )
    assert client.event(request).status_code == 200

    fast = {"EXCHANGE_RETRY_BASE_SECONDS": "0.5"}
    output = run_worker(tls_server, database_url, **fast)
    assert "1 to retry" in output and partner.events == []
    # the partner fixes the credentials it gave us; the queued answer goes out, once
    register_partner(tls_server, buyer, partner, partner.client_secret)
    move_past_backoff(app, at_most=dt.timedelta(seconds=1))
    run_worker(tls_server, database_url, **fast)
    assert [item.body["data"]["requestEventId"] for item in partner.events] == [request["id"]]


@pytest.mark.parametrize("bare", [True, False], ids=["bare", "every-optional-field"])
def test_the_official_tools_list_and_filter_cases_over_tls(
    app: Flask, tls_server: TLSServer, bare: bool
) -> None:
    """tests/pact/test_conformance.py's cases against a TLS deployment, as the official tool
    ran them; "bare" is the run that failed (``classification=`` matched nothing)."""
    supplier, buyer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    for footprint in conformance.population(supplier, bare=bare):
        pushed = requests.post(
            f"{tls_server.base_url}/api/v1/footprints",
            json=supplier.key.sign_footprint(footprint),  # as it is: bare stays bare
            headers=supplier.headers,
            verify=str(tls_server.ca_file),
            timeout=30,
        )
        assert pushed.status_code == 201, pushed.text
        shared = requests.post(
            f"{tls_server.base_url}/api/v1/shares",
            json={"organisationId": buyer.organisation_id, "recordId": footprint["id"]},
            headers=supplier.headers,
            verify=str(tls_server.ca_file),
            timeout=30,
        )
        assert shared.status_code == 201
    client = Pact(tls_server, buyer)

    def get(path: str) -> tuple[Any, Mapping[str, str]]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        return response.json(), response.headers

    conformance.check_every_case(get)
