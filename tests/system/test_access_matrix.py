"""Who may call what: every route of the app against every role, per the table below.

Roles, one letter each in a row of :data:`MATRIX`, in this order:

    a  anonymous (no token, not signed in)
    o  the supplier owning the private record
    s  another supplier
    c  a chain-owner the record is shared with
    n  a chain-owner without a share
    b  a certification body
    r  the regulator
    p  a partner programme

Each role calls each route with its bearer token and, for the portal, its own signed-in
browser session (forms carry its CSRF token). Path parameters name the owner's private
record, the owner's organisation and key, or an id that names nothing. A cell is:

    A  allowed: the caller got past authentication and authorisation (the answer may still
       be 400/404/409/422 about the (empty) input or an id that names nothing)
    D  denied: 401 or 403, or the portal's sign-in page
    H  hidden: 404, exactly as for a nonexistent id (the record's existence is private)

A route without a row fails the test, so every new route must be classified here. What an
allowed role may see of the record itself is checked by the tests after the matrix.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from exchange.partners.models import Role
from tests.factories import Member, add_member
from tests.portal.helpers import add_user, csrf, sign_in

ROLES = "aoscnbrp"
NOWHERE_ID = "00000000-0000-4000-8000-000000000000"
NOWHERE_ROW = 987654321


@dataclasses.dataclass
class World:
    owner: Member
    record_id: str
    members: dict[str, Member]
    clients: dict[str, FlaskClient]
    emails: dict[str, str]


def _world(app: Flask) -> World:
    members = {
        "o": add_member(app, Role.SUPPLIER),
        "s": add_member(app, Role.SUPPLIER),
        "c": add_member(app, Role.CHAIN_OWNER),
        "n": add_member(app, Role.CHAIN_OWNER),
        "b": add_member(app, Role.CERTIFICATION_BODY),
        "r": add_member(app, Role.REGULATOR),
        "p": add_member(app, Role.PARTNER_PROGRAMME, country="TH"),
        # the grantee of the shares the matrix's own calls make, so that no role gains one
        "x": add_member(app, Role.CHAIN_OWNER),
    }
    owner = members["o"]
    pusher = app.test_client()
    pushed = pusher.post("/api/v1/footprints", json=owner.envelope(), headers=owner.headers)
    assert pushed.status_code == 201, pushed.get_json()
    record_id = pushed.get_json()["id"]
    shared = pusher.post(
        "/api/v1/shares",
        json={"organisationId": members["c"].organisation_id, "recordId": record_id},
        headers=owner.headers,
    )
    assert shared.status_code == 201, shared.get_json()
    clients = {"a": app.test_client()}
    emails: dict[str, str] = {}
    for letter, member in members.items():
        if letter not in ROLES:
            continue
        emails[letter] = add_user(app, member, f"{letter}-{uuid.uuid4().hex[:8]}@example.cn")
        clients[letter] = app.test_client()
        sign_in(clients[letter], emails[letter])
    return World(owner, record_id, members, clients, emails)


_VARIABLE = re.compile(r"<(?:([a-zA-Z_]+)(?:\(([^)]*)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def _url(rule: Rule, world: World) -> str:
    def value(match: re.Match[str]) -> str:
        converter, arguments, name = match.groups()
        if converter == "any":
            return str(arguments).split(",")[0].strip().strip("'\"")
        if converter in ("rowid", "int"):
            return str(NOWHERE_ROW)
        if name in ("record_id",):
            return world.record_id
        if name in ("organisation_id", "company_id"):
            return world.owner.organisation_id
        if name == "body_id":
            return world.members["b"].organisation_id
        if name == "kid":
            return world.owner.key.kid
        if name == "gtin":
            return "09506000134352"
        if name == "filename":
            return "nothing.css"
        if name == "action":
            return "suspend"
        return NOWHERE_ID

    return _VARIABLE.sub(value, rule.rule)


def _bodies(world: World, record_id: str) -> dict[str, dict[str, Any]]:
    """Valid bodies for writes whose role check follows the body's validation."""
    return {
        "POST /api/v1/accreditations/<body_id>": {"status": "granted", "reason": "audit"},
        "POST /api/v1/grading-schemes": {
            "category": "urn:pact:productclassification:hainan:tea",
            "method": "benchmark-ratio",
            "unit": "kilogram",
            "parameters": {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
        },
        "POST /api/v1/certificates/<rowid:certificate_id>/<action>": {"reason": "check"},
        "POST /api/v1/labels": {"certificate": NOWHERE_ROW},
        "POST /api/v1/disclosure/requirements": {
            "title": "tea",
            "basis": "rule 20",
            "scope": {"category": "urn:pact:productclassification:hainan:tea"},
            "content": {"level": "total"},
            "manner": "public",
            "deadline": {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30},
        },
        "PUT /api/v1/footprints/<record_id>/disclosure": {"disclosure": "private"},
        "POST /api/v1/factors/<factor_id>/review": {"decision": "approve", "comment": "ok"},
        "POST /api/v1/rules/<code>/status": {"status": "listed", "comment": "ok"},
        "POST /api/v1/partners/<partner_id>/status": {"status": "suspended", "reason": "audit"},
        "POST /api/v1/agreements/<rowid:agreement_id>/status": {
            "status": "suspended",
            "reason": "audit",
        },
        "POST /api/v1/keys/<kid>/revoke": {"reason": "the matrix revokes it"},
        "POST /api/v1/shares": {
            "organisationId": world.members["x"].organisation_id,
            "recordId": record_id,
        },
    }


def _call(
    world: World, letter: str, method: str, url: str, key: str, record_id: str = ""
) -> TestResponse:
    client = world.clients[letter]
    headers = {} if letter == "a" else dict(world.members[letter].headers)
    if url.startswith("/portal/") and method != "GET":
        token = csrf(client, "/portal/login" if letter == "a" else "/portal/")
        return client.open(url, method=method, data={"csrf_token": token}, headers=headers)
    if method == "GET":
        return client.get(url, headers=headers)
    return client.open(url, method=method, json=_bodies(world, record_id or world.record_id).get(key, {}), headers=headers)


def _verdict(
    world: World, letter: str, method: str, url: str, key: str, response: TestResponse
) -> str:
    if response.status_code in (401, 403):
        return "D"
    if (
        response.status_code in (302, 303)
        and "/portal/login" in response.headers.get("Location", "")
        and key != "POST /portal/logout"
    ):
        return "D"
    if response.status_code == 404 and (
        world.record_id in url or world.record_id in json.dumps(_bodies(world, world.record_id).get(key))
    ):
        nowhere_url = url.replace(world.record_id, NOWHERE_ID)
        nowhere = _call(world, letter, method, nowhere_url, key, NOWHERE_ID)
        if nowhere.status_code == 404 and _text(nowhere, NOWHERE_ID) == _text(
            response, world.record_id
        ):
            return "H"
    return "A"


def _text(response: TestResponse, requested: str) -> str:
    """The body with the id the caller asked for (which it knows anyway) made neutral."""
    return response.get_data(as_text=True).replace(requested, "{id}")


def _routes(app: Flask) -> Iterator[tuple[str, str, Rule]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda item: (item.rule, item.endpoint)):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield f"{method} {rule.rule}", method, rule


def observed_matrix(app: Flask, world: World) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, method, rule in _routes(app):
        url = _url(rule, world)
        cells = ""
        for letter in ROLES:
            response = _call(world, letter, method, url, key)
            cells += _verdict(world, letter, method, url, key, response)
            if rule.endpoint == "portal.logout" and letter != "a":
                sign_in(world.clients[letter], world.emails[letter])
        found[key] = cells
    return found


MATRIX: dict[str, str] = {}


def test_every_route_has_a_row_and_each_role_is_allowed_or_denied_as_it_says(
    app: Flask,
) -> None:
    world = _world(app)
    found = observed_matrix(app, world)
    for key, cells in found.items():
        print(f'    "{key}": "{cells}",')
    missing = sorted(set(found) - set(MATRIX))
    assert not missing, "classify these routes in MATRIX:\n" + "\n".join(missing)
    stale = sorted(set(MATRIX) - set(found))
    assert not stale, "these rows name no route:\n" + "\n".join(stale)
    wrong = {key: (MATRIX[key], cells) for key, cells in found.items() if MATRIX[key] != cells}
    assert not wrong, "\n".join(
        f"{key}: expected {want}, got {got} ({ROLES})" for key, (want, got) in wrong.items()
    )


def _same_as_nowhere(
    client: FlaskClient, headers: dict[str, str], template: str, real: str
) -> tuple[int, Any]:
    hidden = client.get(template.format(real), headers=headers)
    nowhere = client.get(template.format(NOWHERE_ID), headers=headers)
    assert hidden.status_code == nowhere.status_code == 404, (template, hidden.status_code)
    assert _text(hidden, real) == _text(nowhere, NOWHERE_ID), template
    return hidden.status_code, hidden.get_json()


PRIVATE_READS = (
    "/api/v1/footprints/{}",
    "/3/footprints/{}",
    "/api/v1/footprints/{}/verification",
    "/api/v1/trade/records/{}/cbam-report",
    "/api/v1/trade/records/{}/battery-declaration",
)


@pytest.mark.parametrize("letter", ["a", "s", "n", "b", "p"])
def test_a_private_record_is_indistinguishable_from_a_nonexistent_one(
    app: Flask, letter: str
) -> None:
    world = _world(app)
    client = app.test_client()
    headers = {} if letter == "a" else world.members[letter].headers
    for template in PRIVATE_READS:
        _same_as_nowhere(client, headers, template, world.record_id)
