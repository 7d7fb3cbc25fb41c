"""The PACT v3 host over the Flask test client: list, get, events and requests."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
import rfc8785
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import pact_wire, signing
from exchange.db import transaction
from exchange.footprints.models import FootprintRecord
from exchange.jobs.models import Job
from exchange.log import services as log_services
from exchange.organisations.models import Role
from exchange.pact import services
from exchange.pact.models import ReceivedEvent
from exchange.pact_wire import parse_product_footprint
from exchange.pact_wire.filters import criteria_from_query, terms_of
from exchange.pact_wire.host import SIGNATURE_EXTENSION_PATH, Host
from tests.factories import Member, add_member, cloud_event, json_of, pact_example
from tests.pact.oracle import openapi_errors

HOST = Host(base_url="http://localhost")


def push(
    client: FlaskClient, member: Member, *, drop: tuple[str, ...] = (), **changes: Any
) -> dict[str, Any]:
    footprint = member.footprint(**changes)
    for name in drop:
        footprint.pop(name)
    envelope = member.key.sign_footprint(footprint)
    response = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    footprint_sent: dict[str, Any] = envelope["footprint"]
    return footprint_sent


def share_product(client: FlaskClient, owner: Member, grantee: Member, product: str) -> None:
    response = client.post(
        "/api/v1/shares",
        json={"organisationId": grantee.organisation_id, "productId": product},
        headers=owner.headers,
    )
    assert response.status_code == 201


def pcf(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = copy.deepcopy(pact_example()["pcf"])
    for name in ("geographyCountry", "geographyCountrySubdivision", "geographyRegionOrSubregion"):
        value.pop(name, None)
    value.update(changes)
    return value


def listed(client: FlaskClient, member: Member, query: str = "") -> list[str]:
    response = client.get(f"/3/footprints?limit=1000&{query}", headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["data"]]


def queued_events(app: Flask) -> list[dict[str, Any]]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        jobs = session.scalars(
            sa.select(Job).where(Job.kind == services.DELIVER_EVENT).order_by(Job.id)
        )
        return [dict(job.payload) for job in jobs]


def received_events(app: Flask) -> list[tuple[str, str]]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        rows = session.execute(sa.select(ReceivedEvent.source, ReceivedEvent.event_id))
        return [(source, event_id) for source, event_id in rows]


def register_endpoint(client: FlaskClient, member: Member, base_url: str) -> None:
    response = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": base_url, "clientId": "us-at-their-host", "clientSecret": "s3cret"},
        headers=member.headers,
    )
    assert response.status_code == 200, response.get_json()


def event(
    event_type: str, data: dict[str, Any], source: str = "https://buyer.example"
) -> dict[str, Any]:
    return cloud_event(event_type, data, source)


def post_event(client: FlaskClient, member: Member, body: object) -> Any:
    return client.post(
        "/3/events",
        data=json.dumps(body),
        content_type="application/cloudevents+json; charset=UTF-8",
        headers=member.headers,
    )


# --- serving ------------------------------------------------------------------------------


def test_served_footprints_are_schema_valid_and_carry_a_verifiable_signature(
    app: Flask, client: FlaskClient
) -> None:
    supplier = add_member(app)
    first = push(client, supplier)
    successor = push(client, supplier, precedingPfIds=[first["id"]])

    served = client.get(f"/3/footprints/{first['id']}", headers=supplier.headers).get_json()["data"]
    assert openapi_errors(served) == []
    assert served["status"] == "Deprecated"
    listed_items = client.get("/3/footprints", headers=supplier.headers).get_json()["data"]
    assert [item["id"] for item in listed_items] == [successor["id"], first["id"]]
    for item in listed_items:
        assert openapi_errors(item) == []

    signed, extension = services.signed_footprint_of(served, HOST)
    assert signed == first
    data = extension["data"]
    assert (data["signed"], data["kid"], data["signedStatus"]) == (True, supplier.key.kid, "Active")
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=signed,
        signature=data["value"],
        public_key=supplier.key.public_key,
    )
    tampered = {**served, "pcf": {**served["pcf"], "pCfExcludingBiogenicUptake": "0"}}
    with pytest.raises(signing.SigningError):
        signing.verify(
            context=signing.FOOTPRINT_CONTEXT,
            payload=services.signed_footprint_of(tampered, HOST)[0] | {"comment": "changed"},
            signature=data["value"],
            public_key=supplier.key.public_key,
        )
    schema = client.get(SIGNATURE_EXTENSION_PATH).get_json()
    assert schema["$id"] == extension["dataSchema"]


def test_a_footprint_with_its_own_extensions_keeps_them(app: Flask, client: FlaskClient) -> None:
    supplier = add_member(app)
    theirs = {"specVersion": "2.0.0", "dataSchema": "https://example.com/x.json", "data": {"a": 1}}
    footprint = push(client, supplier, extensions=[theirs])
    served = client.get(f"/3/footprints/{footprint['id']}", headers=supplier.headers).get_json()
    assert served["data"]["extensions"][0] == theirs
    assert services.signed_footprint_of(served["data"], HOST)[0] == footprint


def test_footprints_are_served_in_their_stored_canonical_bytes(
    app: Flask, client: FlaskClient
) -> None:
    """Only ``status`` and ``extensions`` are rewritten: every other member is the stored RFC
    8785 text, not a re-serialisation of it (Python would write 0.000001 as 1e-06 and
    escape differently), so what a verifier canonicalises is what the owner signed."""
    supplier = add_member(app)
    theirs: dict[str, Any] = {
        "specVersion": "2.0.0",
        "dataSchema": "https://example.com/x.json",
        "data": {"share": 0.000001, "big": 1e21, "note": "海南\u2028\u001f"},
    }
    footprint = push(client, supplier, extensions=[theirs], comment="éclair \u007f")
    with transaction(app.extensions["exchange.sessions"]) as session:
        stored = session.get(FootprintRecord, footprint["id"])
        assert stored is not None
        canonical = json.loads(stored.footprint_json)
    for response in (
        client.get(f"/3/footprints/{footprint['id']}", headers=supplier.headers),
        client.get("/3/footprints", headers=supplier.headers),
    ):
        text = response.get_data(as_text=True)
        for name in ("comment", "pcf", "productIds", "companyName"):
            member = rfc8785.dumps({name: canonical[name]}).decode()[1:-1]
            assert member in text
        assert rfc8785.dumps(theirs).decode() in text
        assert "1e-06" not in text
    served = client.get(f"/3/footprints/{footprint['id']}", headers=supplier.headers).get_json()
    assert services.signed_footprint_of(served["data"], HOST)[0] == footprint


# --- access ---------------------------------------------------------------------------------


def test_get_is_404_for_unknown_or_unseen_and_403_only_when_the_id_is_known(
    app: Flask, client: FlaskClient
) -> None:
    supplier, customer, stranger = add_member(app), add_member(app), add_member(app)
    old = push(client, supplier)
    new = push(client, supplier, precedingPfIds=[old["id"]])
    grant = client.post(
        "/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": new["id"]},
        headers=supplier.headers,
    )
    assert grant.status_code == 201

    assert client.get(f"/3/footprints/{new['id']}", headers=customer.headers).status_code == 200
    denied = client.get(f"/3/footprints/{old['id']}", headers=customer.headers)
    assert denied.status_code == 403 and denied.get_json()["code"] == "AccessDenied"
    for member, record_id in [(stranger, old["id"]), (stranger, new["id"]),
                              (customer, str(uuid.uuid4())), (customer, "not-a-uuid")]:  # fmt: skip
        missing = client.get(f"/3/footprints/{record_id}", headers=member.headers)
        assert missing.status_code == 404 and missing.get_json()["code"] == "NotFound"
    assert listed(client, stranger) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/3/footprints"),
        ("GET", "/3/footprints/1de2bd58-43c0-4a8b-9c9e-4f0c3e6a2a11"),
        ("POST", "/3/events"),
    ],
)
def test_every_action_refuses_a_bad_token_with_401(
    client: FlaskClient, method: str, path: str
) -> None:
    for headers in ({"Authorization": "Bearer forged"}, {}):
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401
        assert response.get_json()["code"] == "BadRequest"
        assert response.get_json()["message"]


def test_token_endpoint_and_discovery(app: Flask, client: FlaskClient) -> None:
    member = add_member(app)
    configuration = client.get("/.well-known/openid-configuration").get_json()
    assert configuration["token_endpoint"] == "http://localhost/auth/token"
    good = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(member.client_id, member.client_secret),
    )
    assert good.status_code == 200
    assert set(good.get_json()) >= {"access_token", "token_type", "expires_in"}
    assert good.get_json()["token_type"] == "Bearer"
    bad = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, auth=(member.client_id, "wrong")
    )
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_client"
    in_body = client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": member.client_id,
            "client_secret": member.client_secret,
        },
    )
    assert in_body.status_code == 200 and in_body.get_json()["token_type"] == "Bearer"
    wrong_in_body = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": member.client_id},
    )
    assert wrong_in_body.status_code == 401


def test_behind_a_tls_proxy_plain_http_is_refused(app: Flask, client: FlaskClient) -> None:
    member = add_member(app)
    app.config["REQUIRE_HTTPS"] = True
    plain = client.get("/3/footprints", headers=member.headers)
    assert plain.status_code == 403 and plain.get_json()["code"] == "AccessDenied"
    token = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(member.client_id, member.client_secret),
    )
    assert token.status_code == 403
    assert client.get("/healthz").status_code == 200
    secure = client.get("/3/footprints", headers=member.headers, base_url="https://localhost")
    assert secure.status_code == 200


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def population(app: Flask, client: FlaskClient) -> tuple[Member, dict[str, dict[str, Any]]]:
    supplier = add_member(app)
    made = {
        "cn": push(
            client,
            supplier,
            drop=("validityPeriodStart", "validityPeriodEnd"),
            productIds=["urn:gtin:06901234500017"],
            productClassifications=["urn:pact:productclassification:un-cpc:2131"],
            pcf=pcf(geographyCountry="CN", referencePeriodEnd="2024-12-31T00:00:00Z"),
        ),
        "hainan": push(
            client,
            supplier,
            productIds=["urn:GTIN:06901234500024", "urn:pact:sanya:coconut"],
            productClassifications=["urn:pact:productclassification:un-cpc:2131"],
            pcf=pcf(geographyCountrySubdivision="CN-HI", referencePeriodEnd="2023-06-30T00:00:00Z"),
            validityPeriodStart="2023-07-01T00:00:00Z",
            validityPeriodEnd="2025-07-01T00:00:00Z",
        ),
        "asia": push(
            client,
            supplier,
            drop=("validityPeriodStart", "validityPeriodEnd"),
            productIds=["urn:gtin:06901234500031"],
            productClassifications=["urn:pact:productclassification:un-cpc:0111"],
            pcf=pcf(geographyRegionOrSubregion="Asia", referencePeriodEnd="2025-12-31T00:00:00Z"),
        ),
    }
    made["old"] = push(
        client,
        supplier,
        drop=("validityPeriodStart", "validityPeriodEnd"),
        productIds=["urn:gtin:06901234500031"],
        pcf=pcf(geographyCountry="VN", referencePeriodEnd="2022-12-31T00:00:00Z"),
    )
    made["new"] = push(
        client,
        supplier,
        drop=("validityPeriodStart", "validityPeriodEnd"),
        productIds=["urn:gtin:06901234500048"],
        precedingPfIds=[made["old"]["id"]],
        pcf=pcf(geographyCountry="VN", referencePeriodEnd="2025-12-31T00:00:00Z"),
    )
    return supplier, made


FILTER_CASES = [
    ("productId=urn:gtin:06901234500017", {"cn"}),
    ("productId=URN:GTIN:06901234500024", {"hainan"}),  # case-insensitive
    ("productid=urn:gtin:06901234500031", {"asia", "old"}),  # parameter names too
    ("companyId={company}", {"cn", "hainan", "asia", "old", "new"}),
    ("geography=cn", {"cn", "hainan"}),  # a country holds its subdivisions
    ("geography=CN-HI", {"hainan"}),
    ("geography=CN-H", set()),  # ... but a code is no prefix of another
    ("geography=C", set()),
    ("geography=HI", set()),
    ("geography=%25", set()),  # no LIKE pattern gets through: "%" and "_" are literal
    ("geography=c_", set()),
    ("geography=%25-hi", set()),
    ("geography=asia", {"asia"}),
    ("classification=urn:pact:productclassification:un-cpc:2131", {"cn", "hainan"}),
    # default validity: three years from the end of the reference period, ends included
    ("validOn=2027-12-31T00:00:00Z", {"cn", "asia", "new"}),
    ("validOn=2025-07-01T00:00:00Z", {"cn", "hainan", "old"}),
    ("validAfter=2024-12-31T00:00:00Z", {"asia", "new"}),
    ("validBefore=2026-01-01T00:00:00Z", {"hainan", "old"}),
    ("status=Deprecated", {"old"}),
    ("status=active", {"cn", "hainan", "asia", "new"}),
    # AND across criteria, OR within one
    ("geography=CN&geography=VN", {"cn", "hainan", "old", "new"}),
    ("geography=CN&geography=VN&status=Active", {"cn", "hainan", "new"}),
    ("productId=urn:gtin:06901234500031&status=Deprecated", {"old"}),
    ("classification=urn:pact:productclassification:un-cpc:2131&geography=CN-HI", {"hainan"}),
    # an empty value is no filter (the official tool sends "classification=" when the
    # footprint it builds the filter from has none); a non-empty alternative still holds
    ("classification=", {"cn", "hainan", "asia", "old", "new"}),
    (
        "geography=&productId=&companyId=&validOn=&validAfter=&validBefore=&status=",
        {"cn", "hainan", "asia", "old", "new"},
    ),
    ("geography=&geography=VN", {"old", "new"}),
    ("classification=&status=Deprecated", {"old"}),
    # bogus values match nothing rather than fail
    ("productId=urn:pact:null", set()),
    ("companyId=urn:pact:null&companyId=urn:bogus", set()),
    ("geography=XX", set()),
    ("classification=urn:bogus", set()),
    ("validOn=1900-01-01T00:00:00Z", set()),
    ("validAfter=2099-01-01T00:00:00Z", set()),
    ("validBefore=1900-01-01T00:00:00Z", set()),
    ("validOn=yesterday", set()),
    ("status=BogusStatusXXXX", set()),
    ("geography=XX&status=Bogus", set()),
]


@pytest.mark.parametrize(("query", "expected"), FILTER_CASES)
def test_each_filter_alone_and_combined(
    client: FlaskClient,
    population: tuple[Member, dict[str, dict[str, Any]]],
    query: str,
    expected: set[str],
) -> None:
    supplier, made = population
    found = listed(client, supplier, query.format(company=supplier.company_ids[0].upper()))
    assert sorted(found) == sorted(made[name]["id"] for name in expected)


def test_the_database_filter_and_the_request_matcher_agree(
    client: FlaskClient, population: tuple[Member, dict[str, dict[str, Any]]]
) -> None:
    supplier, made = population
    status = {footprint["id"]: "Active" for footprint in made.values()}
    status[made["old"]["id"]] = "Deprecated"
    for query, _ in FILTER_CASES:
        query = query.format(company=supplier.company_ids[0])
        pairs = [tuple(part.split("=", 1)) for part in query.split("&")]
        criteria = criteria_from_query(pairs)  # type: ignore[arg-type]
        by_matcher = {
            footprint["id"]
            for footprint in made.values()
            if criteria.matches(
                terms_of(parse_product_footprint(footprint)), status[footprint["id"]]
            )
        }
        assert set(listed(client, supplier, query)) == by_matcher, query


def test_pagination_links_are_absolute_on_the_request_host_and_repeatable(
    client: FlaskClient, population: tuple[Member, dict[str, dict[str, Any]]]
) -> None:
    supplier, made = population
    seen: list[str] = []
    url = "/3/footprints?limit=2&geography=CN&geography=VN&geography=asia&geography=cn-hi"
    pages = 0
    while url:
        response = client.get(url, headers={**supplier.headers, "Host": "pact.example.org"})
        assert response.status_code == 200
        page = [item["id"] for item in response.get_json()["data"]]
        assert len(page) <= 2
        seen += page
        pages += 1
        link = response.headers.get("Link")
        if link is None:
            break
        assert link.startswith("<http://pact.example.org/3/footprints?") and link.endswith(
            '>; rel="next"'
        )
        url = link[1 : link.index(">")]
        again = client.get(url, headers=supplier.headers)
        assert [item["id"] for item in again.get_json()["data"]] == [
            item["id"] for item in client.get(url, headers=supplier.headers).get_json()["data"]
        ]
    assert pages == 3
    assert sorted(seen) == sorted(item["id"] for item in made.values())


def test_limit_must_be_a_positive_integer(app: Flask, client: FlaskClient) -> None:
    member = add_member(app)
    for value in ("0", "-1", "ten"):
        response = client.get(f"/3/footprints?limit={value}", headers=member.headers)
        assert response.status_code == 400 and response.get_json()["code"] == "BadRequest"
    push(client, member)
    assert (
        len(json_of(client.get("/3/footprints?limit=100000", headers=member.headers))["data"]) == 1
    )
    for extreme in (
        "validBefore=0001-01-01T00:00:00%2B05:00",
        "validAfter=9999-12-31T23:59:59.999999Z",
        "validOn=9999-12-31T23:59:59-05:00",
    ):
        found = client.get(f"/3/footprints?{extreme}", headers=member.headers)
        assert found.status_code == 200 and found.json == {"data": []}, extreme


# --- events ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"type": "org.wbcsd.pact.ProductFootprint.Unknown.3"},
        {"specversion": "0.3"},
        {"time": "yesterday"},
        {"data": {"pfIds": ["urn:gtin:4712345060507"]}},
        {"data": {"pfIds": []}},
        {"data": "not an object"},
        {"id": ""},
    ],
)
def test_malformed_events_are_400_and_change_nothing(
    app: Flask, client: FlaskClient, change: dict[str, Any]
) -> None:
    member = add_member(app)
    body = event(pact_wire.PUBLISHED, {"pfIds": [str(uuid.uuid4())]}) | change
    response = post_event(client, member, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "BadRequest"
    assert queued_events(app) == []
    assert received_events(app) == []


def test_published_events_are_accepted_once(app: Flask, client: FlaskClient) -> None:
    member = add_member(app)
    body = event(pact_wire.PUBLISHED, {"pfIds": [str(uuid.uuid4())]})
    for _ in range(2):
        response = post_event(client, member, body)
        assert response.status_code == 200 and response.data == b""
    assert received_events(app) == [(body["source"], body["id"])]


def test_a_request_is_answered_with_one_fulfilled_event(app: Flask, client: FlaskClient) -> None:
    supplier, buyer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    wanted = push(client, supplier, productIds=["urn:gtin:06901234500017"])
    push(client, supplier, productIds=["urn:gtin:06901234500024"])
    share_product(client, supplier, buyer, "urn:gtin:06901234500017")
    register_endpoint(client, buyer, "https://buyer.example/")
    queued_before = len(queued_events(app))

    request = event(pact_wire.REQUEST_CREATED, {"productId": ["urn:gtin:06901234500017"]})
    assert post_event(client, buyer, request).status_code == 200
    answers = queued_events(app)[queued_before:]
    assert len(answers) == 1
    answer = answers[0]["event"]
    assert answers[0]["recipient"] == buyer.organisation_id
    assert openapi_errors(answer, "RequestFulfilledEvent") == []
    assert answer["type"] == pact_wire.REQUEST_FULFILLED
    assert answer["data"]["requestEventId"] == request["id"]
    assert [pf["id"] for pf in answer["data"]["pfs"]] == [wanted["id"]]
    for pf in answer["data"]["pfs"]:
        assert openapi_errors(pf) == []

    # the same event again is not a second request
    assert post_event(client, buyer, request).status_code == 200
    assert len(queued_events(app)) == queued_before + 1


def test_a_request_answered_by_a_push_is_sent_with_the_log_index_the_log_gave(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push's listeners run before the log head is locked, so the answer is queued
    before its record has a log index: none is stored with it (never a provisional
    number), and the worker sends the index the record was committed with."""
    import requests

    from exchange import outbound
    from exchange.jobs.services import JobContext, run_due_jobs

    supplier, buyer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    register_endpoint(client, buyer, "https://buyer.example")
    push(client, supplier)  # so that the answer's record is not entry 0
    request = event(pact_wire.REQUEST_CREATED, {"companyId": supplier.company_ids[:1]})
    assert post_event(client, buyer, request).status_code == 200
    (opened,) = client.get("/api/v1/requests", headers=buyer.headers).get_json()["data"]
    assert opened["status"] == "open"  # the supplier's first record is not shared with it
    # The first record answers nothing: it was there before the request.
    footprint = push(client, supplier, productIds=["urn:gtin:06901234500017"])
    (answer,) = [item["event"] for item in queued_events(app)]
    (queued_pf,) = answer["data"]["pfs"]
    (ours,) = [
        e for e in queued_pf["extensions"] if e["dataSchema"].endswith(SIGNATURE_EXTENSION_PATH)
    ]
    assert "logIndex" not in ours["data"]

    stored = client.get(f"/api/v1/footprints/{footprint['id']}", headers=supplier.headers)
    log_index = stored.get_json()["exchange"]["logIndex"]
    assert log_index > 0
    sent: list[dict[str, Any]] = []

    class Answer:
        def __init__(self, body: dict[str, Any]) -> None:
            self.status_code, self.body = 200, body

        def json(self) -> dict[str, Any]:
            return self.body

    def post(url: str, **kwargs: Any) -> Answer:
        if url.endswith("/3/events"):
            sent.append(json.loads(kwargs["data"]))
        return Answer({"access_token": "theirs"})

    monkeypatch.setattr(outbound, "resolve", lambda _name: ["93.184.216.34"])
    monkeypatch.setattr(requests, "post", post)
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    report = run_due_jobs(context, {services.DELIVER_EVENT: services.deliver_event})
    assert report.claimed == 1 and report.retried == 0
    (delivered,) = sent
    assert delivered["id"] == answer["id"]
    (pf,) = delivered["data"]["pfs"]
    assert pf["id"] == footprint["id"]
    assert openapi_errors(pf) == []
    (ours,) = [e for e in pf["extensions"] if e["dataSchema"].endswith(SIGNATURE_EXTENSION_PATH)]
    assert ours["data"]["logIndex"] == log_index
    served = client.get(f"/3/footprints/{footprint['id']}", headers=buyer.headers)
    assert served.get_json()["data"] == pf | {"status": served.get_json()["data"]["status"]}


def test_a_request_nobody_can_answer_is_rejected_with_not_found(
    app: Flask, client: FlaskClient
) -> None:
    buyer = add_member(app, Role.CHAIN_OWNER)
    register_endpoint(client, buyer, "https://buyer.example")
    request = event(pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]})
    assert post_event(client, buyer, request).status_code == 200
    (answer,) = [item["event"] for item in queued_events(app)]
    assert openapi_errors(answer, "RequestRejectedEvent") == []
    assert answer["data"]["requestEventId"] == request["id"]
    assert answer["data"]["error"]["code"] == "NotFound"


def test_an_events_endpoint_must_be_https(app: Flask, client: FlaskClient) -> None:
    member = add_member(app)
    for url in (
        "http://buyer.example",
        "ftp://buyer.example",
        "https://",
        "not a url",
        "https://127.0.0.1:8443",
        "https://[::1]",
        "https://10.0.0.5",
        "https://169.254.169.254/latest",
        "https://user:pw@buyer.example",
        "https://buyer.example#fragment",
        "https://buyer.example:99999",
        "https://" + "b" * 500 + ".example",
    ):
        response = client.put(
            "/api/v1/events-endpoint",
            json={"baseUrl": url, "clientId": "c", "clientSecret": "s"},
            headers=member.headers,
        )
        assert response.status_code == 400, url
        assert response.get_json()["details"][0]["field"] == "baseUrl"
    assert client.get("/api/v1/events-endpoint", headers=member.headers).status_code == 404


def test_a_request_needs_a_registered_host_named_as_its_source(
    app: Flask, client: FlaskClient
) -> None:
    buyer = add_member(app, Role.CHAIN_OWNER)
    request = event(pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]})
    assert post_event(client, buyer, request).status_code == 400
    register_endpoint(client, buyer, "https://buyer.example")
    elsewhere = event(
        pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]}, "https://evil.example"
    )
    response = post_event(client, buyer, elsewhere)
    assert response.status_code == 400 and response.get_json()["details"][0]["field"] == "source"
    assert queued_events(app) == []


# --- in-hub requests and notifications -----------------------------------------------------


def test_an_in_hub_request_is_answered_by_the_suppliers_next_matching_push(
    app: Flask, client: FlaskClient
) -> None:
    supplier, brand = add_member(app), add_member(app, Role.CHAIN_OWNER)
    created = client.post(
        "/api/v1/requests",
        json={
            "supplierId": supplier.organisation_id,
            "criteria": {"productId": ["urn:gtin:06901234500017"]},
            "comment": "for our 2026 label",
        },
        headers=brand.headers,
    )
    assert created.status_code == 201, created.get_json()
    request_id = created.get_json()["id"]
    assert created.get_json()["status"] == "open"
    incoming = client.get(
        "/api/v1/requests?direction=incoming&status=open", headers=supplier.headers
    ).get_json()["data"]
    assert [item["id"] for item in incoming] == [request_id]
    assert incoming[0]["comment"] == "for our 2026 label"

    push(client, supplier, productIds=["urn:gtin:06901234500099"])  # not what was asked
    footprint = push(client, supplier, productIds=["urn:gtin:06901234500017"])
    mine = client.get("/api/v1/requests", headers=brand.headers).get_json()["data"]
    assert mine[0]["status"] == "fulfilled"
    assert mine[0]["answer"] == {"pfIds": [footprint["id"]]}
    assert client.get(f"/3/footprints/{footprint['id']}", headers=brand.headers).status_code == 200
    # no PACT host registered: nothing to send
    assert queued_events(app) == []


def test_a_request_by_product_alone_never_reaches_into_private_records(
    app: Flask, client: FlaskClient
) -> None:
    supplier, stranger = add_member(app), add_member(app, Role.CHAIN_OWNER)
    push(client, supplier, productIds=["urn:gtin:06901234500011"])
    register_endpoint(client, stranger, "https://buyer.example")
    request = event(pact_wire.REQUEST_CREATED, {"productId": ["urn:gtin:06901234500011"]})
    assert post_event(client, stranger, request).status_code == 200
    (mine,) = client.get("/api/v1/requests", headers=stranger.headers).get_json()["data"]
    # rejected like a product nobody holds: no supplier named, nothing left open
    assert (mine["status"], mine["supplier"]) == ("rejected", None)
    newer = push(client, supplier, productIds=["urn:gtin:06901234500011"])
    assert client.get(f"/3/footprints/{newer['id']}", headers=stranger.headers).status_code == 404


def test_answers_from_what_the_requester_sees_grant_nothing_more(
    app: Flask, client: FlaskClient
) -> None:
    supplier, brand = add_member(app), add_member(app, Role.CHAIN_OWNER)
    seen = push(client, supplier, productIds=["urn:gtin:06901234500011"])
    share_product(client, supplier, brand, "urn:gtin:06901234500011")
    asked = client.post(
        "/api/v1/requests",
        json={
            "supplierId": supplier.organisation_id,
            "criteria": {"productId": ["urn:gtin:06901234500011"]},
        },
        headers=brand.headers,
    )
    assert asked.get_json()["answer"] == {"pfIds": [seen["id"]]}
    shares = client.get("/api/v1/shares", headers=supplier.headers).get_json()["data"]
    assert [(grant["recordId"], grant["productId"]) for grant in shares] == [
        (None, "urn:gtin:06901234500011")
    ]


def test_a_supplier_rejects_or_answers_with_records_it_holds(
    app: Flask, client: FlaskClient
) -> None:
    supplier, brand = add_member(app), add_member(app, Role.CHAIN_OWNER)
    held = push(client, supplier, productIds=["urn:gtin:06901234500017"])
    other = push(client, supplier, productIds=["urn:gtin:06901234500024"])

    def ask(product: str) -> str:
        response = client.post(
            "/api/v1/requests",
            json={"supplierId": supplier.organisation_id, "criteria": {"productId": [product]}},
            headers=brand.headers,
        )
        assert response.status_code == 201
        return str(response.get_json()["id"])

    first = ask("urn:gtin:06901234500017")
    wrong = client.post(
        f"/api/v1/requests/{first}/fulfil",
        json={"recordIds": [other["id"]]},
        headers=supplier.headers,
    )
    assert wrong.status_code == 400 and wrong.get_json()["details"][0]["field"] == "recordIds.0"
    assert (
        client.post(
            f"/api/v1/requests/{first}/fulfil",
            json={"recordIds": [held["id"]]},
            headers=brand.headers,
        ).status_code
        == 404
    )
    done = client.post(
        f"/api/v1/requests/{first}/fulfil",
        json={"recordIds": [held["id"]]},
        headers=supplier.headers,
    )
    assert done.status_code == 200 and done.get_json()["status"] == "fulfilled"
    assert client.get(f"/3/footprints/{held['id']}", headers=brand.headers).status_code == 200

    second = ask("urn:gtin:06901234500031")
    rejected = client.post(
        f"/api/v1/requests/{second}/reject",
        json={"message": "not made any more"},
        headers=supplier.headers,
    )
    assert rejected.get_json()["answer"]["error"] == {
        "code": "NotFound",
        "message": "not made any more",
    }
    again = client.post(f"/api/v1/requests/{second}/reject", json={}, headers=supplier.headers)
    assert again.status_code == 409


def test_customers_with_a_pact_host_are_told_of_new_versions(
    app: Flask, client: FlaskClient
) -> None:
    supplier, brand, quiet = add_member(app), add_member(app), add_member(app)
    register_endpoint(client, brand, "https://brand.example")
    first = push(client, supplier, productIds=["urn:gtin:06901234500017"])
    grant = client.post(
        "/api/v1/shares",
        json={"organisationId": brand.organisation_id, "recordId": first["id"]},
        headers=supplier.headers,
    )
    assert grant.status_code == 201
    client.post(
        "/api/v1/shares",
        json={"organisationId": quiet.organisation_id, "recordId": first["id"]},
        headers=supplier.headers,
    )
    second = push(
        client, supplier, productIds=["urn:gtin:06901234500017"], precedingPfIds=[first["id"]]
    )
    events = queued_events(app)
    assert [(item["recipient"], item["event"]["data"]) for item in events] == [
        (brand.organisation_id, {"pfIds": [first["id"]]}),
        (brand.organisation_id, {"pfIds": [second["id"]]}),
    ]
    for item in events:
        assert openapi_errors(item["event"], "PublishedEvent") == []
    # the successor reached both customers of the first version
    assert client.get(f"/3/footprints/{second['id']}", headers=quiet.headers).status_code == 200


# --- unsigned imports ------------------------------------------------------------------------

EXAMPLES = [
    "example-1.json",
    "example-2.json",
    "example-3.json",
    "example-4.json",
    "get-footprint-response.json",
    "list-footprints-response.json",
    "pf-response-event.json",
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_official_examples_import_unchanged_and_come_back_schema_valid(
    app: Flask, client: FlaskClient, name: str
) -> None:
    document = pact_example(name)
    text = json.dumps(document)
    company_ids = sorted({urn for urn in _company_ids(document)})
    importer = add_member(app, company_ids=company_ids)
    response = client.post(
        "/api/v1/footprints/import",
        data=text,
        content_type="application/json",
        headers=importer.headers,
    )
    assert response.status_code in (200, 201), response.get_json()
    body = response.get_json()
    ids = [item["id"] for item in body.get("results", [body])]
    assert ids and all(item["signed"] is False for item in body.get("results", [body]))
    for record_id in ids:
        served = client.get(f"/3/footprints/{record_id}", headers=importer.headers).get_json()
        assert openapi_errors(served["data"]) == []
        original, extension = services.signed_footprint_of(served["data"], HOST)
        assert extension["data"]["signed"] is False and "value" not in extension["data"]
        assert original in list(_footprints(document))
        envelope = client.get(f"/api/v1/footprints/{record_id}", headers=importer.headers)
        assert envelope.get_json()["signature"] is None
        assert envelope.get_json()["exchange"]["signed"] is False
        assert envelope.get_json()["exchange"]["keyStatusAtReceipt"] is None


def test_the_log_audit_rebuilds_imported_unsigned_records(app: Flask, client: FlaskClient) -> None:
    document = pact_example("example-1.json")
    importer = add_member(app, company_ids=document["companyIds"])
    response = client.post("/api/v1/footprints/import", json=document, headers=importer.headers)
    assert response.status_code == 201
    sources = app.extensions["exchange.log_sources"]
    key = app.extensions["exchange.key"]
    origin = app.config["EXCHANGE_ORIGIN"]
    with transaction(app.extensions["exchange.sessions"]) as session:
        report = log_services.audit(session, key.public_key, origin, sources)
    assert report.ok, report.problem
    assert report.entries_checked == 2  # the importer's key and its record


def test_an_import_of_another_companys_footprint_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    importer = add_member(app)
    response = client.post(
        "/api/v1/footprints/import", json=pact_example("example-1.json"), headers=importer.headers
    )
    assert response.status_code == 403
    assert listed(client, importer) == []


def _footprints(document: Any) -> Any:
    if isinstance(document, dict) and "pcf" in document:
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from _footprints(value)
    elif isinstance(document, list):
        for value in document:
            yield from _footprints(value)


def _company_ids(document: Any) -> list[str]:
    return [urn for footprint in _footprints(document) for urn in footprint["companyIds"]]
