"""Disclosure requirements: compliance states move as the clock passes deadlines; what a
company and the regulator each see; reminders once per state change."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.disclosure import services
from exchange.disclosure.models import DisclosureRequirement
from exchange.footprints.models import FootprintRecord, Share
from exchange.jobs.models import Job
from exchange.organisations.models import Role
from exchange.pact.services import DELIVER_EVENT
from exchange.pact_wire.host import Host
from tests.factories import Member, add_member

TEA = "urn:pact:productclassification:hainan:tea"
REQUIREMENTS = "/api/v1/disclosure/requirements"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


@dataclasses.dataclass
class World:
    app: Flask
    client: FlaskClient
    regulator: Member
    a: Member
    b: Member
    c: Member

    def push(self, member: Member, product: str, *, received: dt.datetime, **changes: Any) -> str:
        footprint = member.footprint(productIds=[product], productClassifications=[TEA])
        footprint.pop("precedingPfIds", None)
        footprint.update(changes)
        response = self.client.post(
            "/api/v1/footprints", json=member.key.sign_footprint(footprint), headers=member.headers
        )
        assert response.status_code == 201, response.get_json()
        # The exchange stamps its own receipt time; the test sets the clock back.
        with transaction(self.app.extensions["exchange.sessions"]) as session:
            session.execute(
                sa.update(FootprintRecord)
                .where(FootprintRecord.id == footprint["id"])
                .values(received_at=received)
            )
        return str(footprint["id"])

    def disclose(self, member: Member, record_id: str, level: str) -> None:
        response = self.client.put(
            f"/api/v1/footprints/{record_id}/disclosure",
            json={"disclosure": level},
            headers=member.headers,
        )
        assert response.status_code == 200

    def require(self, **body: Any) -> dict[str, Any]:
        document = {
            "title": "茶叶碳足迹年度披露",
            "basis": "海南省产品碳足迹管理办法 第二十条",
            "scope": {"category": TEA},
            "content": {"level": "total"},
            "manner": "public",
            "deadline": {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30},
            "effectiveFrom": "2026-01-01T00:00:00Z",
        }
        document.update(body)
        response = self.client.post(REQUIREMENTS, json=document, headers=self.regulator.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    def compliance(self, member: Member, at: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/v1/disclosure/compliance?asOf={at}", headers=member.headers
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]  # type: ignore[no-any-return]

    def states(self, member: Member, at: str, requirement: int) -> list[tuple[str | None, str]]:
        return [
            (item["productId"], item["state"])
            for item in self.compliance(member, at)
            if item["requirement"]["id"] == requirement
        ]


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    return World(
        app,
        client,
        regulator=add_member(app, Role.REGULATOR),
        a=add_member(app),
        b=add_member(app),
        c=add_member(app),
    )


A_TEA = "urn:gtin:06901234500011"
B_TEA = "urn:gtin:06901234500028"


def test_annual_states_move_as_the_deadline_passes(world: World) -> None:
    rule = world.require()["id"]
    r_a = world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    r_b = world.push(world.b, B_TEA, received=utc(2026, 3, 1))
    world.disclose(world.b, r_b, "public")

    assert world.states(world.a, "2026-04-01T00:00:00Z", rule) == [(A_TEA, "pending")]
    assert world.states(world.b, "2026-04-01T00:00:00Z", rule) == [(B_TEA, "met")]
    assert world.states(world.a, "2026-06-10T00:00:00Z", rule) == [(A_TEA, "due-soon")]
    # 30 June still counts; the first moment of 1 July does not.
    assert world.states(world.a, "2026-06-30T23:59:59Z", rule) == [(A_TEA, "due-soon")]
    assert world.states(world.a, "2026-07-01T00:00:00Z", rule) == [(A_TEA, "overdue")]
    # B met last year's deadline; this year's is open, then near.
    assert world.states(world.b, "2026-07-01T00:00:00Z", rule) == [(B_TEA, "pending")]
    assert world.states(world.b, "2027-06-05T00:00:00Z", rule) == [(B_TEA, "due-soon")]
    (b_item,) = world.compliance(world.b, "2027-06-05T00:00:00Z")
    assert b_item["missing"] == [
        {
            "field": "record",
            "message": "disclose a footprint record for this cycle "
            "(received after 2026-07-01T00:00:00+00:00)",
        }
    ]
    assert world.states(world.b, "2027-07-01T00:00:01Z", rule) == [(B_TEA, "overdue")]

    (item,) = world.compliance(world.a, "2026-07-02T00:00:00Z")
    assert item["dueAt"] == "2026-07-01T00:00:00+00:00"
    assert item["recordId"] == r_a
    assert item["missing"] == [
        {
            "field": "disclosure",
            "message": "publish the record (disclosure: public) for the registry",
            "recordId": r_a,
        }
    ]
    assert item["requirement"]["basis"] == "海南省产品碳足迹管理办法 第二十条"
    assert item["requirement"]["scope"]["category"] == TEA

    # A publishes a corrected record after the deadline: met for the new cycle.
    r_a2 = world.push(world.a, A_TEA, received=utc(2026, 8, 1))
    world.disclose(world.a, r_a2, "public")
    assert world.states(world.a, "2026-07-31T00:00:00Z", rule) == [(A_TEA, "overdue")]
    (met,) = world.compliance(world.a, "2026-08-02T00:00:00Z")
    assert (met["state"], met["recordId"], met["missing"]) == ("met", r_a2, [])
    assert met["dueAt"] == "2027-07-01T00:00:00+00:00"

    page = world.client.get(
        "/api/v1/disclosure/compliance.html?asOf=2026-07-02T00:00:00Z", headers=world.a.headers
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已逾期 overdue" in html and "<script" not in html


def test_after_change_with_content_and_customers(world: World) -> None:
    rule = world.require(
        title="Supplier data within 30 days of a change",
        scope={"organisationIds": [world.a.organisation_id, world.c.organisation_id]},
        content={"level": "with-data-quality", "fields": ["packagingGhgEmissions"]},
        manner="customers",
        deadline={"kind": "after-change", "withinDays": 30, "dueSoonDays": 7},
    )["id"]
    r_a = world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    assert world.states(world.a, "2026-03-20T00:00:00Z", rule) == [(A_TEA, "pending")]
    assert world.states(world.a, "2026-03-28T00:00:00Z", rule) == [(A_TEA, "due-soon")]
    (item,) = world.compliance(world.a, "2026-04-01T00:00:00Z")
    assert item["state"] == "overdue"
    assert item["dueAt"] == "2026-03-31T00:00:00+00:00"
    assert [m["field"] for m in item["missing"]] == [
        "extensions[trade-data].lifeCycleStages",
        "pcf.packagingGhgEmissions",
        "disclosure",
    ]
    # C has no record: nothing has changed, so nothing is due after a change.
    assert world.states(world.c, "2026-04-01T00:00:00Z", rule) == []

    # A new record with everything, shared with a customer: met.
    stages = {
        "rawMaterialAcquisition": "0.2",
        "mainProduction": "-1.5",
        "distribution": "0.05",
        "endOfLife": "0.02",
    }
    footprint_changes: dict[str, Any] = {
        "extensions": [
            {
                "specVersion": "2.0.0",
                "dataSchema": "https://x.example/api/v1/trade/extensions/trade-data/1.0.0/schema.json",
                "data": {"lifeCycleStages": stages},
            }
        ],
    }
    template = world.a.footprint()
    template["pcf"]["packagingGhgEmissions"] = "0.01"
    r_a2 = world.push(
        world.a, A_TEA, received=utc(2026, 4, 10), pcf=template["pcf"], **footprint_changes
    )
    (item,) = world.compliance(world.a, "2026-04-11T00:00:00Z")
    assert (item["state"], item["recordId"]) == ("pending", r_a2)
    assert [m["field"] for m in item["missing"]] == ["disclosure"]
    shared = world.client.post(
        "/api/v1/shares",
        json={"organisationId": world.b.organisation_id, "recordId": r_a2},
        headers=world.a.headers,
    )
    assert shared.status_code == 201
    with transaction(world.app.extensions["exchange.sessions"]) as session:
        session.execute(sa.update(Share).values(created_at=utc(2026, 4, 20)))
    (item,) = world.compliance(world.a, "2026-04-19T00:00:00Z")
    assert (item["state"], [m["field"] for m in item["missing"]]) == ("pending", ["disclosure"])
    (item,) = world.compliance(world.a, "2026-06-11T00:00:00Z")
    assert (item["state"], item["recordId"], item["missing"]) == ("met", r_a2, [])
    assert r_a != r_a2


def test_a_group_member_without_records_still_owes_its_annual_disclosure(world: World) -> None:
    rule = world.require(scope={"organisationIds": [world.c.organisation_id]}, manner="regulator")[
        "id"
    ]
    (item,) = world.compliance(world.c, "2026-04-01T00:00:00Z")
    assert item["requirement"]["id"] == rule
    assert (item["productId"], item["recordId"], item["state"]) == (None, None, "pending")
    assert item["missing"][0]["field"] == "record"
    assert world.states(world.c, "2026-07-02T00:00:00Z", rule) == [(None, "overdue")]
    assert world.compliance(world.a, "2026-07-02T00:00:00Z") == []


def test_overview_is_the_regulators_and_hides_what_it_may_not_see(world: World) -> None:
    rule = world.require()["id"]
    r_a = world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    r_b = world.push(world.b, B_TEA, received=utc(2026, 3, 1))
    world.disclose(world.b, r_b, "public")
    url = f"/api/v1/disclosure/overview?asOf=2026-07-02T00:00:00Z&requirement={rule}"
    response = world.client.get(url, headers=world.regulator.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["counts"] == {"overdue": 1, "pending": 1}
    by_company = {row["organisationId"]: row for row in body["data"]}
    a_row, b_row = by_company[world.a.organisation_id], by_company[world.b.organisation_id]
    assert (a_row["state"], a_row["redacted"], a_row["productId"], a_row["recordId"]) == (
        "overdue",
        True,
        None,
        None,
    )
    assert (b_row["state"], b_row["productId"], b_row["recordId"]) == ("pending", B_TEA, r_b)
    assert r_a not in response.get_data(as_text=True)
    assert A_TEA not in response.get_data(as_text=True)

    overdue = world.client.get(url + "&state=overdue", headers=world.regulator.headers)
    assert [row["organisationId"] for row in overdue.get_json()["data"]] == [
        world.a.organisation_id
    ]
    page = world.client.get(
        "/api/v1/disclosure/overview.html?asOf=2026-07-02T00:00:00Z",
        headers=world.regulator.headers,
    )
    html = page.get_data(as_text=True)
    assert "信息披露合规概览" in html and "not disclosed to the regulator" in html
    assert A_TEA not in html

    # A company sees only itself; the overview is the regulator's alone.
    assert {i["organisationId"] for i in world.compliance(world.b, "2026-07-02T00:00:00Z")} == {
        world.b.organisation_id
    }
    assert world.client.get(url, headers=world.a.headers).status_code == 403
    bad_state = world.client.get(url + "&state=late", headers=world.regulator.headers)
    assert bad_state.status_code == 400


def _count_requirements(app: Flask) -> int:
    with transaction(app.extensions["exchange.sessions"]) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(DisclosureRequirement)) or 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"deadline": {"kind": "annual", "month": 6}}, "deadline.month|day"),
        ({"deadline": {"kind": "annual", "month": 2, "day": 29}}, "deadline.day"),
        ({"deadline": {"kind": "annual", "month": 13, "day": 1}}, "deadline.month"),
        ({"deadline": {"kind": "after-change"}}, "deadline.withinDays"),
        ({"scope": {}}, "scope"),
        ({"scope": {"organisationIds": ["nobody"]}}, "scope.organisationIds.0"),
        ({"scope": {"productIds": ["gtin-1"]}}, "scope.productIds.0"),
        ({"basis": " "}, "basis"),
        ({"manner": "newspaper"}, "manner"),
        ({"content": {"level": "everything"}}, "content.level"),
        ({"content": {"level": "total", "fields": ["colour"]}}, "content.fields.0"),
    ],
)
def test_bad_requirements_are_refused_and_change_nothing(
    world: World, changes: dict[str, Any], field: str
) -> None:
    document = {
        "title": "t",
        "basis": "b",
        "scope": {"category": TEA},
        "content": {"level": "total"},
        "manner": "public",
        "deadline": {"kind": "annual", "month": 6, "day": 30},
    } | changes
    response = world.client.post(REQUIREMENTS, json=document, headers=world.regulator.headers)
    assert response.status_code == 400, response.get_json()
    assert field in {detail["field"] for detail in response.get_json()["details"]}
    assert _count_requirements(world.app) == 0


def test_only_the_regulator_defines_and_withdraws(world: World) -> None:
    body = {
        "title": "t",
        "basis": "b",
        "scope": {"category": TEA},
        "content": {"level": "total"},
        "manner": "public",
        "deadline": {"kind": "annual", "month": 6, "day": 30},
    }
    assert world.client.post(REQUIREMENTS, json=body, headers=world.a.headers).status_code == 403
    assert _count_requirements(world.app) == 0
    rule = world.require()["id"]
    world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    listed = world.client.get(REQUIREMENTS, headers=world.a.headers).get_json()["data"]
    assert [item["id"] for item in listed] == [rule]
    withdraw = f"{REQUIREMENTS}/{rule}/withdraw"
    assert world.client.post(withdraw, headers=world.a.headers).status_code == 403
    assert world.client.post(withdraw, headers=world.regulator.headers).status_code == 200
    assert world.client.post(withdraw, headers=world.regulator.headers).status_code == 409
    # Withdrawn now: nothing is required from now on.
    assert world.compliance(world.a, "2099-01-01T00:00:00Z") == []


def test_reminders_once_per_state_change(world: World) -> None:
    world.require()
    world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    r_b = world.push(world.b, B_TEA, received=utc(2026, 3, 1))
    world.disclose(world.b, r_b, "public")
    endpoint = world.client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://a-host.example", "clientId": "ex", "clientSecret": "s"},
        headers=world.a.headers,
    )
    assert endpoint.status_code == 200, endpoint.get_json()
    host = Host(base_url="https://exchange.example")

    def run(at: dt.datetime) -> services.ReminderReport:
        with transaction(world.app.extensions["exchange.sessions"]) as session:
            return services.remind(session, now=at, host=host)

    def reminder_jobs() -> list[dict[str, Any]]:
        with transaction(world.app.extensions["exchange.sessions"]) as session:
            jobs = session.scalars(sa.select(Job).where(Job.kind == DELIVER_EVENT).order_by(Job.id))
            return [dict(job.payload) for job in jobs]

    assert run(utc(2026, 4, 1)) == services.ReminderReport(
        checked=2, changed=2, reminded=0, events=0
    )
    assert run(utc(2026, 4, 1)).changed == 0
    assert run(utc(2026, 6, 10)) == services.ReminderReport(
        checked=2, changed=1, reminded=1, events=1
    )
    assert run(utc(2026, 6, 11)).reminded == 0
    report = run(utc(2026, 7, 1, 0, 0, 1))
    assert (report.changed, report.reminded) == (2, 1)  # A overdue; B back to pending

    jobs = reminder_jobs()
    assert [job["recipient"] for job in jobs] == [world.a.organisation_id] * 2
    assert [job["event"]["type"] for job in jobs] == [services.REMINDER_EVENT] * 2
    assert [job["event"]["data"]["state"] for job in jobs] == ["due-soon", "overdue"]
    assert jobs[0]["event"]["data"]["productId"] == A_TEA
    assert jobs[0]["event"]["source"] == "https://exchange.example"

    listed = world.client.get("/api/v1/disclosure/reminders", headers=world.a.headers).get_json()
    assert [(r["state"], r["dueAt"]) for r in listed["data"]] == [
        ("overdue", "2026-07-01T00:00:00+00:00"),
        ("due-soon", "2026-07-01T00:00:00+00:00"),
    ]
    assert listed["data"][0]["eventId"] == jobs[1]["event"]["id"]
    assert (
        world.client.get("/api/v1/disclosure/reminders", headers=world.b.headers).get_json()["data"]
        == []
    )

    # The command line runs the same pass; B is reminded without an events endpoint.
    result = world.app.test_cli_runner().invoke(
        args=["disclosure", "remind", "--now", "2027-06-05T00:00:00"]
    )
    assert result.exit_code == 0, result.output
    assert "1 reminder(s), 0 event(s) queued" in result.output
    b_list = world.client.get("/api/v1/disclosure/reminders", headers=world.b.headers).get_json()
    assert [r["state"] for r in b_list["data"]] == ["due-soon"]
    assert len(reminder_jobs()) == 2


def test_overview_command(world: World) -> None:
    world.require()
    world.push(world.a, A_TEA, received=utc(2026, 3, 1))
    result = world.app.test_cli_runner().invoke(
        args=["disclosure", "overview", "--now", "2026-07-02T00:00:00"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["counts"] == {"overdue": 1}
    assert document["data"][0]["organisationId"] == world.a.organisation_id
