"""The owner's outbound flows and the regulator's summary over HTTP and the CLI: who may see
what, filters, pages, and the summary's counts without confidential content."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.footprints.flows.models import DataFlow
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.footprints.flows.test_flows import push, share


def get(client: FlaskClient, url: str, member: Member | None = None) -> Any:
    return client.get(url, headers=member.headers if member else {})


def scenario(app: Flask, client: FlaskClient) -> tuple[Member, Member, Member, str, str]:
    """An owner with two records read by two customers (one each)."""
    owner = add_member(app)
    first, second = add_member(app, Role.CHAIN_OWNER), add_member(app, Role.CHAIN_OWNER)
    record_a, record_b = push(client, owner), push(client, owner)
    share(client, owner, first, recordId=record_a)
    share(client, owner, second, recordId=record_b)
    assert get(client, f"/api/v1/footprints/{record_a}", first).status_code == 200
    assert get(client, f"/3/footprints/{record_b}", second).status_code == 200
    return owner, first, second, record_a, record_b


def test_the_owner_sees_who_received_its_records_and_filters_them(
    app: Flask, client: FlaskClient
) -> None:
    owner, first, second, record_a, record_b = scenario(app, client)
    everything = get(client, "/api/v1/flows/outbound", owner).get_json()["data"]
    assert [(f["kind"], f["recordId"], f["recipient"]) for f in everything] == [
        ("pact-get", record_b, second.organisation_id),
        ("api-read", record_a, first.organisation_id),
        ("share-granted", record_b, second.organisation_id),
        ("share-granted", record_a, first.organisation_id),
    ]
    read = everything[1]
    assert read["grant"]["kind"] == "share" and read["grant"]["shareId"] is not None
    assert dt.datetime.fromisoformat(read["occurredAt"]).tzinfo is not None

    def ids(query: str) -> list[tuple[str, str]]:
        data = get(client, f"/api/v1/flows/outbound?{query}", owner).get_json()["data"]
        return [(f["kind"], f["recordId"]) for f in data]

    assert ids(f"recordId={record_a.upper()}") == [
        ("api-read", record_a),
        ("share-granted", record_a),
    ]
    assert ids(f"recipient={second.organisation_id}") == [
        ("pact-get", record_b),
        ("share-granted", record_b),
    ]
    assert ids("kind=api-read,pact-get") == [("pact-get", record_b), ("api-read", record_a)]
    assert ids("kind=pact-get&kind=share-granted&recordId=" + record_b) == [
        ("pact-get", record_b),
        ("share-granted", record_b),
    ]
    assert ids("from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z") == []
    assert len(ids("from=2000-01-01T00:00:00%2B08:00")) == 4

    # pages, newest first, joined by the cursor
    pages: list[str] = []
    url = "/api/v1/flows/outbound?limit=3"
    while url:
        response = get(client, url, owner)
        body = response.get_json()
        pages.append(",".join(f["kind"] for f in body["data"]))
        url = body.get("next", "").replace("http://localhost", "")
        assert ("Link" in response.headers) == bool(url)
    assert pages == ["pact-get,api-read,share-granted", "share-granted"]


def test_recipients_and_strangers_see_no_one_elses_flows(app: Flask, client: FlaskClient) -> None:
    owner, first, _second, record_a, _ = scenario(app, client)
    # a recipient's outbound holds only flows of its own records: none here
    assert get(client, "/api/v1/flows/outbound", first).get_json()["data"] == []
    stranger = add_member(app)
    assert get(client, f"/api/v1/flows/outbound?recordId={record_a}", stranger).get_json() == {
        "data": []
    }
    assert get(client, "/api/v1/flows/outbound").status_code == 401
    for query, field in (
        ("kind=stolen", "kind"),
        ("from=yesterday", "from"),
        ("to=2026-01-01T00:00:00", "to"),  # no zone
    ):
        response = get(client, f"/api/v1/flows/outbound?{query}", owner)
        assert response.status_code == 400, query
        assert response.get_json()["details"][0]["field"] == field
    bad_cursor = get(client, "/api/v1/flows/outbound?cursor=%%%", owner)
    assert bad_cursor.status_code == 400


def test_the_regulator_sees_counts_by_pair_and_country_without_content(
    app: Flask, client: FlaskClient
) -> None:
    owner, first, second, record_a, record_b = scenario(app, client)
    foreign = add_member(app, Role.CHAIN_OWNER, country="VN")
    share(client, owner, foreign, recordId=record_a)
    assert get(client, "/3/footprints", foreign).status_code == 200
    assert get(client, "/3/footprints", foreign).status_code == 200
    regulator = add_member(app, Role.REGULATOR)
    response = get(client, "/api/v1/flows/summary?period=day", regulator)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    pairs = {
        (p["owner"], p["recipient"], p["kind"]): (p["count"], p["period"]) for p in body["byPair"]
    }
    assert pairs == {
        (owner.organisation_id, first.organisation_id, "share-granted"): (1, today),
        (owner.organisation_id, first.organisation_id, "api-read"): (1, today),
        (owner.organisation_id, second.organisation_id, "share-granted"): (1, today),
        (owner.organisation_id, second.organisation_id, "pact-get"): (1, today),
        (owner.organisation_id, foreign.organisation_id, "share-granted"): (1, today),
        (owner.organisation_id, foreign.organisation_id, "pact-list"): (2, today),
    }
    countries = {(c["country"], c["kind"]): c["count"] for c in body["byCountry"]}
    assert countries == {
        ("CN", "share-granted"): 2,
        ("CN", "api-read"): 1,
        ("CN", "pact-get"): 1,
        ("VN", "share-granted"): 1,
        ("VN", "pact-list"): 2,
    }
    text = response.get_data(as_text=True)
    assert record_a not in text and record_b not in text and "pcf" not in text

    monthly = get(client, "/api/v1/flows/summary", regulator).get_json()
    assert {p["period"] for p in monthly["byPair"]} == {today[:7]}
    assert (
        get(client, "/api/v1/flows/summary?period=year", regulator).get_json()["byPair"][0][
            "period"
        ]
        == today[:4]
    )
    assert (
        get(client, "/api/v1/flows/summary?to=2000-01-01T00:00:00Z", regulator).get_json()["byPair"]
        == []
    )
    assert get(client, "/api/v1/flows/summary?period=week", regulator).status_code == 400


def test_only_the_regulator_gets_the_summary(app: Flask, client: FlaskClient) -> None:
    owner, first, *_ = scenario(app, client)
    for member in (owner, first):
        response = get(client, "/api/v1/flows/summary", member)
        assert response.status_code == 403
        assert response.get_json()["code"] == "AccessDenied"
    assert get(client, "/api/v1/flows/summary").status_code == 401


def test_the_summary_buckets_by_utc_period(app: Flask, client: FlaskClient) -> None:
    scenario(app, client)
    with transaction(app.extensions["exchange.sessions"]) as session:
        session.execute(
            sa.update(DataFlow)
            .where(DataFlow.kind == "api-read")
            .values(occurred_at=dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC))
        )
        session.execute(
            sa.update(DataFlow)
            .where(DataFlow.kind == "pact-get")
            # 2026-01-01 07:30 in Haikou is 2025-12-31 23:30 UTC
            .values(
                occurred_at=dt.datetime(
                    2026, 1, 1, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))
                )
            )
        )
    regulator = add_member(app, Role.REGULATOR)
    body = get(
        client,
        "/api/v1/flows/summary?period=month&from=2025-12-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        regulator,
    ).get_json()
    assert sorted((p["kind"], p["period"], p["count"]) for p in body["byPair"]) == [
        ("api-read", "2025-12", 1),
        ("pact-get", "2025-12", 1),
    ]


def test_the_cli_prints_the_summary_and_an_owners_outbound_flows(
    app: Flask, client: FlaskClient
) -> None:
    owner, first, _second, record_a, _ = scenario(app, client)
    runner = app.test_cli_runner()
    summary = runner.invoke(args=["flows", "summary", "--period", "day"])
    assert summary.exit_code == 0, summary.output
    document = json.loads(summary.output)
    assert document["period"] == "day"
    assert sum(p["count"] for p in document["byPair"]) == 4
    listed = runner.invoke(args=["flows", "outbound", owner.organisation_id, "--kind", "api-read"])
    assert listed.exit_code == 0, listed.output
    [flow] = json.loads(listed.output)["data"]
    assert (flow["recordId"], flow["recipient"]) == (record_a, first.organisation_id)
    wrong = runner.invoke(args=["flows", "summary", "--period", "week"])
    assert wrong.exit_code != 0
