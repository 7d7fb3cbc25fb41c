"""Pages of records agree with the filter and visibility rules written out in Python,
whichever index a page starts from (term, validity year, or the caller's own view)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.db import transaction
from exchange.footprints import services
from exchange.footprints.services import pages
from exchange.organisations.models import Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import authenticate
from exchange.pact_wire import parse_product_footprint
from exchange.pact_wire.filters import Criteria, criteria_from_query, terms_of
from tests.factories import Member, add_member, pact_example


def pcf(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = dict(pact_example()["pcf"])
    for name in ("geographyCountry", "geographyCountrySubdivision", "geographyRegionOrSubregion"):
        value.pop(name, None)
    return value | changes


def push(client: FlaskClient, member: Member, n: int) -> dict[str, Any]:
    """The n-th record of a varied population: products, places and periods cycle."""
    # Every third record names a second product, so some records are found twice over.
    products = [f"urn:gtin:0690123450{n % 5:04d}"] + (
        [f"urn:gtin:0690123450{(n + 1) % 5:04d}"] if n % 3 == 0 else []
    )
    footprint = member.footprint(
        productIds=products,
        productClassifications=[f"urn:pact:productclassification:un-cpc:{n % 3}"],
        pcf=pcf(
            **{
                ("geographyCountry", "geographyCountrySubdivision")[n % 2]: ("CN", "CN-HI")[n % 2],
                "referencePeriodEnd": f"{2016 + n % 9}-06-30T00:00:00Z",
            }
        ),
    )
    del footprint["validityPeriodStart"], footprint["validityPeriodEnd"]
    envelope = member.key.sign_footprint(footprint)
    response = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return footprint


QUERIES = [
    "",
    "productId=urn:gtin:06901234500001",
    "productId=urn:gtin:06901234500001&productId=urn:gtin:06901234500003",
    "geography=cn-hi",
    "classification=urn:pact:productclassification:un-cpc:2&geography=CN",
    "validOn=2021-01-01T00:00:00Z",
    "validOn=2021-01-01T00:00:00Z&productId=urn:gtin:06901234500002",
    "validBefore=2022-01-01T00:00:00Z",
    "validAfter=2023-01-01T00:00:00Z",
    "validAfter=2023-01-01T00:00:00Z&geography=CN",
    "validOn=1990-01-01T00:00:00Z",
    "validOn=2500-01-01T00:00:00Z",
    "status=Active&validBefore=2030-01-01T00:00:00Z",
]


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> dict[str, Any]:
    supplier, other, brand, regulator = (
        add_member(app),
        add_member(app),
        add_member(app, Role.CHAIN_OWNER),
        add_member(app, Role.REGULATOR),
    )
    mine = [push(client, supplier, n) for n in range(18)]
    theirs = [push(client, other, n) for n in range(9)]
    # the brand sees two products of the supplier, one record of the other, one public record
    for product in ("urn:gtin:06901234500001", "urn:gtin:06901234500002"):
        assert (
            client.post(
                "/api/v1/shares",
                json={"organisationId": brand.organisation_id, "productId": product},
                headers=supplier.headers,
            ).status_code
            == 201
        )
    assert (
        client.post(
            "/api/v1/shares",
            json={"organisationId": brand.organisation_id, "recordId": theirs[4]["id"]},
            headers=other.headers,
        ).status_code
        == 201
    )
    for record, disclosure in ((theirs[7], "public"), (mine[3], "regulator")):
        owner = other if record in theirs else supplier
        assert (
            client.put(
                f"/api/v1/footprints/{record['id']}/disclosure",
                json={"disclosure": disclosure},
                headers=owner.headers,
            ).status_code
            == 200
        )
    visible = {
        "supplier": {f["id"] for f in mine} | {theirs[7]["id"]},
        "brand": {
            f["id"]
            for f in mine
            if {"urn:gtin:06901234500001", "urn:gtin:06901234500002"} & set(f["productIds"])
        }
        | {theirs[4]["id"], theirs[7]["id"]},
        "regulator": {theirs[7]["id"], mine[3]["id"]},
    }
    members = {"supplier": supplier, "brand": brand, "regulator": regulator}
    return {"records": mine + theirs, "visible": visible, "members": members}


def walk(app: Flask, principal: Principal, criteria: Criteria, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    with transaction(app.extensions["exchange.sessions"]) as session:
        while True:
            page = services.list_records(
                session, principal, limit=limit, cursor=cursor, criteria=criteria
            )
            assert len(page.records) <= limit
            seen += [record.id for record in page.records]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor


@pytest.mark.parametrize("max_runs", [pages.MAX_RUNS, 1])
@pytest.mark.parametrize("caller", ["supplier", "brand", "regulator"])
def test_every_page_agrees_with_the_rules_in_python(
    app: Flask,
    world: dict[str, Any],
    caller: str,
    max_runs: int,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """With one run allowed, most pages start from the caller's own view; they agree alike."""
    monkeypatch.setattr(pages, "MAX_RUNS", max_runs)
    # Plans built under the other limit would otherwise be reused.
    pages._plan.clear()
    request.addfinalizer(pages._plan.clear)
    with transaction(app.extensions["exchange.sessions"]) as session:
        principal = authenticate(session, world["members"][caller].token)
    order = {record["id"]: n for n, record in enumerate(world["records"])}
    for query, limit in itertools.product(QUERIES, (1, 4, 100)):
        pairs = [tuple(part.split("=", 1)) for part in query.split("&") if part]
        criteria = criteria_from_query(pairs)  # type: ignore[arg-type]
        expected = [
            record["id"]
            for record in reversed(world["records"])  # newest first
            if record["id"] in world["visible"][caller]
            and criteria.matches(terms_of(parse_product_footprint(record)), "Active")
        ]
        found = walk(app, principal, criteria, limit)
        assert found == expected, (caller, query, limit, [order[i] for i in found])


def test_a_page_statement_built_once_is_bound_to_each_caller(
    app: Flask, world: dict[str, Any]
) -> None:
    """The supplier and the brand share one statement (the same shape of caller), the
    regulator has its own (it also sees what is disclosed to the regulator); pages taken in
    turn, each from its own cursor, still show each only what it may see."""
    pages._plan.clear()  # the supplier's call builds the statement the brand's then reuses
    with transaction(app.extensions["exchange.sessions"]) as session:
        callers = {
            name: authenticate(session, world["members"][name].token)
            for name in ("supplier", "brand", "regulator")
        }
    seen: dict[str, list[str]] = {name: [] for name in callers}
    cursors: dict[str, str | None] = {name: None for name in callers}
    with transaction(app.extensions["exchange.sessions"]) as session:
        for _turn in range(30):
            for name, principal in callers.items():
                if cursors[name] == "done":
                    continue
                page = services.list_records(session, principal, limit=2, cursor=cursors[name])
                seen[name] += [record.id for record in page.records]
                cursors[name] = page.next_cursor or "done"
    newest_first = [record["id"] for record in reversed(world["records"])]
    for name in callers:
        assert seen[name] == [i for i in newest_first if i in world["visible"][name]]


def test_only_plans_of_few_runs_are_kept_within_a_budget_of_runs() -> None:
    """A caller cycling through filters of many values cannot fill a worker's memory."""

    def shape(*products: str) -> Any:
        criteria = criteria_from_query([("productId", product) for product in products])
        return pages._Shape(criteria, True, False, False, False, False, None)

    # A signed-in view is four runs, so each of these plans is five: two fit the budget.
    plans = pages._KeptPlans(budget=10, max_runs=6)
    one, two, three = (shape(f"urn:gtin:{n}") for n in range(3))
    many = shape(*(f"urn:gtin:{n}" for n in range(3)))
    first = plans(one)
    assert plans(one) is first
    assert plans(many) is not plans(many)
    kept = plans(two), plans(three)
    assert (plans(two), plans(three)) == kept
    assert plans(one) is not first  # the least recently used went first
