"""The rule for hosts the exchange connects to, as an attacker registering a callback
URL would try to get round it: loopback in every spelling the resolver accepts, names that
resolve to private addresses, IPv6 and IPv4 inside IPv6. Registration and the worker use
the same function, so what one refuses the other refuses."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange import outbound
from exchange.errors import ValidationFailed
from tests.factories import add_member

LOOPBACK_FORMS = [
    "localhost",
    "LOCALHOST.",
    "127.0.0.1",
    "127.1",
    "127.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "0177.0.0.1",
    "017700000001",
    "0",
    "0.0.0.0",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
    "::",
]
PRIVATE_FORMS = [
    "10.0.0.5",
    "167772165",  # 10.0.0.5
    "0xa000005",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0xa9fea9fe",  # the same
    "100.64.0.1",  # carrier-grade NAT
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.5",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:5",
    "2002:a00:5::1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
]


def resolver_giving(*addresses: str) -> outbound.Resolver:
    def resolve(_name: str) -> Iterable[str]:
        return addresses

    return resolve


def no_dns(name: str) -> Iterable[str]:
    raise OSError(f"{name}: no DNS here")


@pytest.mark.parametrize("host", LOOPBACK_FORMS + PRIVATE_FORMS)
@pytest.mark.parametrize("must_resolve", [False, True])
def test_every_spelling_of_a_private_address_is_refused(host: str, must_resolve: bool) -> None:
    # The real resolver: what the HTTP client would connect to.
    with pytest.raises(ValidationFailed) as refused:
        outbound.check_public_host(host, allow_private=False, must_resolve=must_resolve)
    assert refused.value.details == [{"field": "baseUrl", "message": "must be a public host"}]


@pytest.mark.parametrize("host", [*LOOPBACK_FORMS[2:], *PRIVATE_FORMS])
def test_numeric_forms_are_refused_without_any_resolver(host: str) -> None:
    if host in ("localhost", "LOCALHOST."):
        return
    with pytest.raises(ValidationFailed):
        outbound.check_public_host(host, allow_private=False, must_resolve=False, resolver=no_dns)


@pytest.mark.parametrize(
    "addresses",
    [
        ("93.184.216.34", "127.0.0.1"),  # one bad address among good ones is enough
        ("2606:2800:220:1::1", "::ffff:10.1.2.3"),
        ("10.0.0.5",),
        ("fd00::5",),
    ],
)
def test_a_name_is_refused_when_any_address_it_gives_is_private(
    addresses: tuple[str, ...],
) -> None:
    for must_resolve in (False, True):
        with pytest.raises(ValidationFailed):
            outbound.check_public_host(
                "partner.example",
                allow_private=False,
                must_resolve=must_resolve,
                resolver=resolver_giving(*addresses),
            )


def test_public_hosts_pass_and_a_silent_name_passes_only_at_registration() -> None:
    for host in ("93.184.216.34", "2606:2800:220:1::1", "8.8.8.8", "::ffff:8.8.8.8"):
        outbound.check_public_host(host, allow_private=False, must_resolve=True)
    public = resolver_giving("93.184.216.34", "2606:2800:220:1::1")
    outbound.check_public_host(
        "partner.example", allow_private=False, must_resolve=True, resolver=public
    )
    # Registered before its DNS records exist: let in, and checked at each connection.
    outbound.check_public_host(
        "partner.example", allow_private=False, must_resolve=False, resolver=no_dns
    )
    with pytest.raises(ValidationFailed) as refused:
        outbound.check_public_host(
            "partner.example", allow_private=False, must_resolve=True, resolver=no_dns
        )
    assert "does not resolve" in refused.value.message
    # Tests and on-site partners may allow private hosts explicitly.
    outbound.check_public_host("127.1", allow_private=True, must_resolve=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost",
        "https://localhost:8443/pact",
        "https://127.1",
        "https://2130706433",
        "https://0x7f000001",
        "https://0177.0.0.1",
        "https://[::ffff:127.0.0.1]",
        "https://[::1]:443",
        "https://[fe80::1]",
        "https://169.254.169.254",
        "https://0xa9fea9fe",
        "//127.1",
    ],
)
def test_registering_an_events_endpoint_on_a_private_host_is_refused(
    app: Flask, client: FlaskClient, url: str
) -> None:
    member = add_member(app)
    response = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": url, "clientId": "c", "clientSecret": "s"},
        headers=member.headers,
    )
    assert response.status_code == 400, url
    body = response.get_json()
    assert body["code"] == "BadRequest" and body["details"] == [
        {"field": "baseUrl", "message": "must be a public host"}
    ]
    assert client.get("/api/v1/events-endpoint", headers=member.headers).status_code == 404


def test_a_name_that_resolves_privately_is_refused_at_registration(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = add_member(app)
    monkeypatch.setattr(outbound, "resolve", resolver_giving("93.184.216.34", "10.0.0.7"))
    response = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://pact.partner.example", "clientId": "c", "clientSecret": "s"},
        headers=member.headers,
    )
    assert response.status_code == 400
    monkeypatch.setattr(outbound, "resolve", resolver_giving("93.184.216.34"))
    response = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://pact.partner.example", "clientId": "c", "clientSecret": "s"},
        headers=member.headers,
    )
    assert response.status_code == 200, response.get_json()


def test_the_worker_refuses_a_name_that_now_resolves_privately(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered while the name was public; by delivery time it points at loopback (DNS
    rebinding). The worker applies the same rule and posts nothing, not even for a token."""
    import requests

    from exchange import pact_wire
    from exchange.db import transaction
    from exchange.jobs.models import Job
    from exchange.jobs.services import JobContext, run_due_jobs
    from exchange.organisations.models import Role
    from exchange.pact import services as pact
    from tests.factories import cloud_event

    buyer = add_member(app, Role.CHAIN_OWNER)
    monkeypatch.setattr(outbound, "resolve", resolver_giving("93.184.216.34"))
    registered = client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://buyer.example", "clientId": "c", "clientSecret": "s"},
        headers=buyer.headers,
    )
    assert registered.status_code == 200
    request = cloud_event(
        pact_wire.REQUEST_CREATED, {"productId": ["urn:pact:null"]}, "https://buyer.example"
    )
    posted = client.post(
        "/3/events",
        json=request,
        headers={**buyer.headers, "Content-Type": "application/cloudevents+json"},
    )
    assert posted.status_code == 200, posted.get_json()
    sent: list[str] = []
    monkeypatch.setattr(requests, "post", lambda url, **_kwargs: sent.append(url))
    monkeypatch.setattr(outbound, "resolve", resolver_giving("127.0.0.1"))
    context = JobContext(
        sessions=app.extensions["exchange.sessions"],
        exchange_key=app.extensions["exchange.key"],
        config=app.config,
    )
    report = run_due_jobs(context, {pact.DELIVER_EVENT: pact.deliver_event})
    assert report.claimed == 1 and report.retried == 1
    assert sent == []
    with transaction(app.extensions["exchange.sessions"]) as session:
        job = session.query(Job).one()
        assert "not a public address" in (job.last_error or "")
