"""The official PACT v3 conformance tool's list and filter cases, restated in Python.

The tool (wbcsd/pact-conformance-service, ``src/test-cases/v3-test-cases.ts``; its test list
is documented in ``docs/v3-test-cases-expected-results.md``) lists the footprints once,
builds every filter from the *first* (newest) footprint of that list, and checks each
filtered answer. A field the first footprint lacks becomes an empty value
(``classification=``), and then the answer must be the whole list. So the same cases run
here on two data sets: the newest footprint carrying every optional field, and carrying
none. The cases are kept in step with the tool's numbering; one deliberate difference is
named where it is made (geography, case 22).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.pact.oracle import components, openapi_errors

# Every case below runs on both; "bare" is the one the tool failed on before.
POPULATIONS = ("every-optional-field", "bare")


def required_only(footprint: dict[str, Any]) -> dict[str, Any]:
    """The footprint with only what the PACT v3 schema requires, at both levels."""
    schemas = components()["schemas"]
    kept = {name: footprint[name] for name in schemas["ProductFootprint"]["required"]}
    kept["pcf"] = {name: footprint["pcf"][name] for name in schemas["CarbonFootprint"]["required"]}
    return kept


# path (or absolute URL) -> (body, headers) of a 200 answer, over the test client or HTTPS.
Get = Callable[[str], tuple[Any, Mapping[str, str]]]


def population(supplier: Member, *, bare: bool) -> list[dict[str, Any]]:
    """A supplier's footprints, oldest first; the newest one is full or bare."""
    older = [
        supplier.footprint(
            productIds=[f"urn:gtin:0690123450{n:04d}"],
            productClassifications=[f"urn:pact:productclassification:un-cpc:213{n}"],
            pcf=supplier.footprint()["pcf"]
            | {"geographyCountrySubdivision": ("CN-HI", "US-TX", "CN-HI")[n]},
        )
        for n in range(3)
    ]
    newest = supplier.footprint(productIds=["urn:gtin:06901234509999"])
    newest["pcf"] = {
        **{k: v for k, v in newest["pcf"].items() if k != "geographyCountrySubdivision"},
        "geographyCountry": "CN",
    }
    return [*older, required_only(newest) if bare else newest]


@pytest.fixture(params=POPULATIONS)
def get(request: pytest.FixtureRequest, app: Flask, client: FlaskClient) -> Get:
    """A supplier's records shared with a buyer, read by the buyer."""
    supplier, buyer = add_member(app), add_member(app, Role.CHAIN_OWNER)
    for footprint in population(supplier, bare=request.param == "bare"):
        envelope = supplier.key.sign_footprint(footprint)
        pushed = client.post("/api/v1/footprints", json=envelope, headers=supplier.headers)
        assert pushed.status_code == 201, pushed.get_json()
        shared = client.post(
            "/api/v1/shares",
            json={"organisationId": buyer.organisation_id, "recordId": footprint["id"]},
            headers=supplier.headers,
        )
        assert shared.status_code == 201

    def fetch(path: str) -> tuple[Any, Mapping[str, str]]:
        response = client.get(path.removeprefix("http://localhost"), headers=buyer.headers)
        assert response.status_code == 200, (path, response.get_json())
        return response.get_json(), dict(response.headers)

    return fetch


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def years_later(moment_: dt.datetime, years: int) -> dt.datetime:
    return moment_.replace(year=moment_.year + years)


def validity(footprint: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The validity period, or (as the tool falls back) the reference end plus three years."""
    if footprint.get("validityPeriodStart") and footprint.get("validityPeriodEnd"):
        return moment(footprint["validityPeriodStart"]), moment(footprint["validityPeriodEnd"])
    end = moment(footprint["pcf"]["referencePeriodEnd"])
    return end, years_later(end, 3)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def filter_parameters(first: dict[str, Any]) -> dict[str, str]:
    """What the tool derives from the first listed footprint ("" for a missing field)."""
    pcf = first["pcf"]
    start, end = validity(first)
    return {
        "productId": first["productIds"][0],
        "companyId": first["companyIds"][0],
        "geography": pcf.get("geographyCountry")
        or pcf.get("geographyRegionOrSubregion")
        or pcf.get("geographyCountrySubdivision")
        or "",
        "classification": (first.get("productClassifications") or [""])[0],
        "validOn": iso(start),
        "validAfter": iso(start - dt.timedelta(days=1)),
        "validBefore": iso(end + dt.timedelta(days=1)),
        "status": first["status"],
    }


def within(footprint: dict[str, Any], geography: str) -> bool:
    """PACT: the filter returns "all footprints within the specified geography". The tool
    checks equality only; here a country also holds its subdivisions (CN holds CN-HI)."""
    pcf = footprint["pcf"]
    given = [
        pcf.get(name)
        for name in (
            "geographyCountry",
            "geographyRegionOrSubregion",
            "geographyCountrySubdivision",
        )
    ]
    wanted = geography.lower()
    return any(
        value is not None and (value.lower() == wanted or value.lower().startswith(wanted + "-"))
        for value in given
    )


Condition = Callable[[list[dict[str, Any]], dict[str, str], list[dict[str, Any]]], bool]


def _all_or(
    name: str, check: Callable[[dict[str, Any], str], bool]
) -> tuple[Callable[[dict[str, str]], str], Condition]:
    """A filter case: an empty value must give the whole list, else every answer holds."""

    def condition(
        answer: list[dict[str, Any]], params: dict[str, str], everything: list[dict[str, Any]]
    ) -> bool:
        if params[name] == "":
            return [pf["id"] for pf in answer] == [pf["id"] for pf in everything]
        # Not in the tool: a positive case must find at least the footprint it came from.
        return everything[0]["id"] in {pf["id"] for pf in answer} and all(
            check(pf, params[name]) for pf in answer
        )

    return (lambda params: f"{name}={params[name]}"), condition


def _valid_on(pf: dict[str, Any], value: str) -> bool:
    start, end = validity(pf)
    return start <= moment(value) <= end


def _valid_after(pf: dict[str, Any], value: str) -> bool:
    return validity(pf)[0] > moment(value)


def _valid_before(pf: dict[str, Any], value: str) -> bool:
    return validity(pf)[1] < moment(value)


POSITIVE_CASES: dict[str, tuple[Callable[[dict[str, str]], str], Condition]] = {
    "20 productId": _all_or("productId", lambda pf, v: v in pf["productIds"]),
    "21 companyId": _all_or("companyId", lambda pf, v: v in pf["companyIds"]),
    "22 geography": _all_or("geography", within),
    "23 classification": _all_or(
        "classification", lambda pf, v: v in (pf.get("productClassifications") or [])
    ),
    "24 validOn": _all_or("validOn", _valid_on),
    "25 validAfter": _all_or("validAfter", _valid_after),
    "26 validBefore": _all_or("validBefore", _valid_before),
    "27 status": _all_or("status", lambda pf, v: pf["status"] == v),
    "28 status and productId": (
        lambda p: f"status={p['status']}&productId={p['productId']}",
        lambda answer, p, everything: (
            bool(answer)
            and all(
                pf["status"] == p["status"] and p["productId"] in pf["productIds"] for pf in answer
            )
        ),
    ),
    "29 companyId, OR": (
        lambda p: f"companyId={p['companyId']}&companyId=urn:bogus:{uuid.uuid4().hex[:8]}",
        lambda answer, p, everything: (
            bool(answer) and all(p["companyId"] in pf["companyIds"] for pf in answer)
        ),
    ),
}

NEGATIVE_CASES = {
    "30 productId": "productId=urn:bogus:product:{random}",
    "31 companyId": "companyId=urn:bogus:company:{random}",
    "32 geography": "geography=XX",
    "33 classification": "classification=urn:bogus:classification:{random}",
    "34 validOn": "validOn=1900-01-01T00:00:00Z",
    "35 validAfter": "validAfter=2099-12-31T23:59:59Z",
    "36 validBefore": "validBefore=1900-01-01T00:00:00Z",
    "37 status": "status=BogusStatus{random}",
    "38 AND": "companyId=urn:bogus:company:{random}&productId=urn:bogus:product:{random}",
    "39 OR": "companyId=urn:bogus:{random}&companyId=urn:bogus:x{random}",
}


def check_get_list_and_pagination(get: Get) -> None:
    """Cases 3, 4 and 5: the first footprint by id, the list twice alike, a link to follow."""
    everything = get("/3/footprints")[0]["data"]
    assert len(everything) == 4
    assert [openapi_errors(pf) for pf in everything] == [[]] * 4
    first = everything[0]
    one = get(f"/3/footprints/{first['id']}")[0]["data"]
    assert one["id"] == first["id"] and openapi_errors(one) == []
    assert get("/3/footprints")[0]["data"] == everything
    link = get("/3/footprints?limit=1")[1]["Link"]
    followed = get(link[1 : link.index(">")])[0]["data"]
    assert [pf["id"] for pf in followed] == [everything[1]["id"]]


def check_filter_case(get: Get, case: str) -> None:
    everything = get("/3/footprints")[0]["data"]
    params = filter_parameters(everything[0])
    query, condition = POSITIVE_CASES[case]
    answer = get(f"/3/footprints?{query(params)}")[0]["data"]
    assert condition(answer, params, everything), (query(params), [pf["id"] for pf in answer])
    assert [openapi_errors(pf) for pf in answer] == [[]] * len(answer)


def check_bogus_case(get: Get, case: str) -> None:
    query = NEGATIVE_CASES[case].format(random=uuid.uuid4().hex[:16])
    assert get(f"/3/footprints?{query}")[0] == {"data": []}, query


def check_every_case(get: Get) -> None:
    """All of them, as a run of the tool would (for a real server)."""
    check_get_list_and_pagination(get)
    for case in POSITIVE_CASES:
        check_filter_case(get, case)
    for case in NEGATIVE_CASES:
        check_bogus_case(get, case)


def test_get_list_and_pagination(get: Get) -> None:
    check_get_list_and_pagination(get)


@pytest.mark.parametrize("case", sorted(POSITIVE_CASES))
def test_filter_built_from_the_first_footprint(get: Get, case: str) -> None:
    check_filter_case(get, case)


@pytest.mark.parametrize("case", sorted(NEGATIVE_CASES))
def test_bogus_filter_gives_an_empty_list(get: Get, case: str) -> None:
    check_bogus_case(get, case)


def test_the_bare_population_really_lacks_what_the_tool_would_filter_by(
    get: Get, request: pytest.FixtureRequest
) -> None:
    """Guards the data: the bare case must exercise the empty-value filters."""
    first = get("/3/footprints")[0]["data"][0]
    params = filter_parameters(first)
    bare = request.node.callspec.params["get"] == "bare"
    assert (params["classification"] == "") is bare
    assert (params["geography"] == "") is bare
    assert ("validityPeriodStart" in first) is not bare
