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
from itsdangerous import BadSignature
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from exchange.organisations.models import Role
from exchange.portal.security import CSRF_FIELD
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
        if name == "lot":
            return "LOT2026A"
        if name == "filename":
            return "nothing.css"
        if name == "action":
            return "suspend"
        return NOWHERE_ID

    return _VARIABLE.sub(value, rule.rule)


def _bodies(world: World, record_id: str) -> dict[str, dict[str, Any]]:
    """Valid bodies for writes whose role check follows the body's validation."""
    return {
        "POST /api/v1/accreditations/<id:body_id>": {"status": "granted", "reason": "audit"},
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
        "PUT /api/v1/footprints/<id:record_id>/disclosure": {"disclosure": "private"},
        "POST /api/v1/factors/<id:factor_id>/review": {"decision": "approve", "comment": "ok"},
        "POST /api/v1/rules/<rulecode:code>/status": {"status": "listed", "comment": "ok"},
        "POST /api/v1/partners/<id:partner_id>/status": {"status": "suspended", "reason": "audit"},
        "POST /api/v1/partners/<id:partner_id>/keys/<kid:kid>/revoke": {"reason": "leaked"},
        "POST /api/v1/agreements/<rowid:agreement_id>/status": {
            "status": "suspended",
            "reason": "audit",
        },
        "POST /api/v1/keys/<kid:kid>/revoke": {"reason": "the matrix revokes it"},
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
        token = _form_token(client, letter)
        return client.open(url, method=method, data={"csrf_token": token}, headers=headers)
    if method == "GET":
        return client.get(url, headers=headers)
    return client.open(
        url,
        method=method,
        json=_bodies(world, record_id or world.record_id).get(key, {}),
        headers=headers,
    )


def _form_token(client: FlaskClient, letter: str) -> str:
    """The CSRF token the client's portal pages carry in their forms: its session's, read
    from the signed session cookie (where the server keeps it) once the session holds one,
    else from a page. A page per portal write was ~270 page renders, a fifth of the
    matrix's CPU; the token is the same one, and any other would be refused with 403."""
    app = client.application
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    if cookie is not None and serializer is not None:
        try:
            token = serializer.loads(cookie.value).get(CSRF_FIELD)
        except BadSignature:
            token = None  # the server opens it as an empty session too: ask a page
        if isinstance(token, str):
            return token
    return csrf(client, "/portal/login" if letter == "a" else "/portal/")


def _verdict(
    world: World, letter: str, method: str, url: str, key: str, response: TestResponse
) -> str:
    # 429: the portal's sign-in lockout refuses even before looking at the credentials.
    if response.status_code in (401, 403, 429):
        return "D"
    if (
        response.status_code in (302, 303)
        and "/portal/login" in response.headers.get("Location", "")
        and key != "POST /portal/logout"
    ):
        return "D"
    if response.status_code == 404 and (
        world.record_id in url
        or world.record_id in json.dumps(_bodies(world, world.record_id).get(key))
    ):
        nowhere_url = url.replace(world.record_id, NOWHERE_ID)
        nowhere = _call(world, letter, method, nowhere_url, key, NOWHERE_ID)
        nowhere.close()
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
            yield f"{method} {rule.rule.replace(', ', ',')}", method, rule


def observed_matrix(app: Flask, world: World) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, method, rule in _routes(app):
        url = _url(rule, world)
        cells = ""
        for letter in ROLES:
            response = _call(world, letter, method, url, key)
            cells += _verdict(world, letter, method, url, key, response)
            response.close()  # static files are streamed from an open file
            if rule.endpoint == "portal.logout" and letter != "a":
                sign_in(world.clients[letter], world.emails[letter])
        found[key] = cells
    return found


# cells (a o s c n b r p)  route. Writes are sent an empty body unless _bodies gives a valid
# one, so an "A" on a write may be its 400 about the body; the role checks that follow the
# body's validation are exercised by the writes _bodies lists.
MATRIX_TABLE = """
AAAAAAAA  GET /.well-known/jwks.json
AAAAAAAA  GET /.well-known/openid-configuration
AAAAAAAA  GET /.well-known/trust-list.json
AAAAAAAA  GET /01/<gtin:gtin>
AAAAAAAA  GET /01/<gtin:gtin>/10/<lot:lot>
AAAAAAAA  GET /01/page
AAAAAAAA  GET /01/sw.js
DAAAAAAA  POST /3/events
DAAAAAAA  GET /3/footprints
DAHAHHHH  GET /3/footprints/<id:record_id>
AAAAAAAA  GET /api/v1/accreditations
DDDDDDAD  POST /api/v1/accreditations/<id:body_id>
AAAAAAAA  GET /api/v1/aggregation/extensions/provenance/1.0.0/schema.json
AAAAAAAA  GET /api/v1/aggregation/extensions/provenance/2.0.0/schema.json
DDDDDDAD  POST /api/v1/agreements
AAAAAAAA  GET /api/v1/agreements
DDDDDDAD  PUT /api/v1/agreements/<rowid:agreement_id>
AAAAAAAA  GET /api/v1/agreements/<rowid:agreement_id>
DDDDDDAD  POST /api/v1/agreements/<rowid:agreement_id>/status
DDDDDADD  POST /api/v1/certificates
AAAAAAAA  GET /api/v1/certificates/<rowid:certificate_id>
DDDDDADD  POST /api/v1/certificates/<rowid:certificate_id>/<action>
DAAAAAAA  GET /api/v1/disclosure/compliance
DAAAAAAA  GET /api/v1/disclosure/compliance.html
DDDDDDAD  GET /api/v1/disclosure/overview
DDDDDDAD  GET /api/v1/disclosure/overview.html
DAAAAAAA  GET /api/v1/disclosure/reminders
DDDDDDAD  POST /api/v1/disclosure/requirements
DAAAAAAA  GET /api/v1/disclosure/requirements
DAAAAAAA  GET /api/v1/disclosure/requirements/<rowid:requirement_id>
DDDDDDAD  POST /api/v1/disclosure/requirements/<rowid:requirement_id>/withdraw
DAAAAAAA  GET /api/v1/events-endpoint
DAAAAAAA  PUT /api/v1/events-endpoint
DAAAAAAA  POST /api/v1/factors
AAAAAAAA  GET /api/v1/factors
AAAAAAAA  GET /api/v1/factors/<id:factor_id>
DDDDDDAD  POST /api/v1/factors/<id:factor_id>/review
AAAAAAAA  GET /api/v1/factors/export
DDDDDDAD  POST /api/v1/factors/import
DAAAAAAA  GET /api/v1/flows/outbound
DDDDDDAD  GET /api/v1/flows/summary
AAAAAAAA  GET /api/v1/footprints
DAAAAAAA  POST /api/v1/footprints
HAHAHHHH  GET /api/v1/footprints/<id:record_id>
DAHHHHHH  PUT /api/v1/footprints/<id:record_id>/disclosure
HAHAHHHH  GET /api/v1/footprints/<id:record_id>/verification
HAHAHHHH  GET /api/v1/footprints/<id:record_id>/provenance
DAAAAAAA  POST /api/v1/footprints/import
AAAAAAAA  GET /api/v1/grading-schemes
DDDDDDAD  POST /api/v1/grading-schemes
DAAAAAAA  POST /api/v1/keys
DAAAAAAA  POST /api/v1/keys/<kid:kid>/revoke
DAAAAAAA  POST /api/v1/labels
AAAAAAAA  GET /api/v1/labels/<rowid:label_id>
AAAAAAAA  GET /api/v1/labels/<rowid:label_id>.png
AAAAAAAA  GET /api/v1/labels/<rowid:label_id>.svg
AAAAAAAA  GET /api/v1/labels/<rowid:label_id>/log
AAAAAAAA  GET /api/v1/labels/<rowid:label_id>/status
AAAAAAAA  POST /api/v1/labels/verify
AAAAAAAA  GET /api/v1/log/checkpoint
AAAAAAAA  GET /api/v1/log/entries
AAAAAAAA  GET /api/v1/log/proof/consistency
AAAAAAAA  GET /api/v1/log/proof/inclusion
AAAAAAAA  GET /api/v1/log/witnesses
AAAAAAAA  GET /api/v1/openapi.json
AAAAAAAA  GET /api/v1/organisations
AAAAAAAA  GET /api/v1/organisations/<id:organisation_id>
AAAAAAAA  GET /api/v1/organisations/<id:organisation_id>/jwks.json
AAAAAAAA  GET /api/v1/partners
DDDDDDAD  POST /api/v1/partners
AAAAAAAA  GET /api/v1/partners/<id:partner_id>
DDDDDDAD  POST /api/v1/partners/<id:partner_id>/records
DDDDDDAD  POST /api/v1/partners/<id:partner_id>/status
DDDDDDAD  POST /api/v1/partners/<id:partner_id>/keys/<kid:kid>/revoke
DDDDDDAD  POST /api/v1/partners/<id:partner_id>/sync
DAAAAAAA  POST /api/v1/products
DAAAAAAA  GET /api/v1/products
DAAAAAAA  GET /api/v1/products/<id:product_id>
DAAAAAAA  PUT /api/v1/products/<id:product_id>/bom
DAAAAAAA  POST /api/v1/products/<id:product_id>/compute
DAAAAAAA  GET /api/v1/products/<id:product_id>/derived-footprint
DAAAAAAA  GET /api/v1/products/<id:product_id>/explain
DAAAAAAA  GET /api/v1/products/<id:product_id>/export
DAAAAAAA  POST /api/v1/products/<id:product_id>/requests
DAAAAAAA  GET /api/v1/products/<id:product_id>/result
DAAAAAAA  GET /api/v1/products/notices
DAAAAAAA  POST /api/v1/products/recompute-stale
DDDDDDAD  GET /api/v1/recognitions
AAAAAAAA  GET /api/v1/registry
DAAAAAAA  POST /api/v1/requests
DAAAAAAA  GET /api/v1/requests
DAAAAAAA  POST /api/v1/requests/<id:request_id>/fulfil
DAAAAAAA  POST /api/v1/requests/<id:request_id>/reject
AAAAAAAA  GET /api/v1/rules
DAAAAAAA  POST /api/v1/rules
AAAAAAAA  GET /api/v1/rules/<rulecode:code>
DDDDDDAD  POST /api/v1/rules/<rulecode:code>/status
DAAAAAAA  POST /api/v1/rules/demands
AAAAAAAA  GET /api/v1/rules/demands
AAAAAAAA  GET /api/v1/scenarios/disclosure/<id:company_id>
AAAAAAAA  GET /api/v1/scenarios/procurement
AAAAAAAA  GET /api/v1/scenarios/reductions
AAAAAAAA  GET /api/v1/scenarios/static/<path:filename>
DAHHHHHH  POST /api/v1/shares
DAAAAAAA  GET /api/v1/shares
DAAAAAAA  DELETE /api/v1/shares/<rowid:share_id>
DAAAAAAA  GET /api/v1/sites
DAAAAAAA  POST /api/v1/sites
DAAAAAAA  GET /api/v1/sites/<id:site_id>
DAAAAAAA  POST /api/v1/sites/<id:site_id>/productions
DAAAAAAA  GET /api/v1/sites/<id:site_id>/rollup
DAAAAAAA  GET /api/v1/sites/<id:site_id>/rollup.html
AAAAAAAA  GET /api/v1/trade/extensions/trade-data/1.0.0/schema.json
DAHAHHHH  GET /api/v1/trade/records/<id:record_id>/<any('battery-declaration','cbam-report'):kind>
DAHAHHHH  GET /api/v1/trade/records/<id:record_id>/<any('battery-declaration','cbam-report'):kind>.html
AAAAAAAA  GET /api/v1/witness
AAAAAAAA  GET /api/v1/witness/<origin_hash>/checkpoint
AAAAAAAA  POST /api/v1/witness/add-checkpoint
AAAAAAAA  POST /auth/token
AAAAAAAA  GET /healthz
AAAAAAAA  GET /metrics
AAAAAAAA  GET /mutual-recognition
AAAAAAAA  GET /pact/extensions/signature/1.0.0/schema.json
AAAAAAAA  GET /portal/
AAAAAAAA  GET /portal/agreements
DDDDDADD  POST /portal/certificates/<rowid:number>/<action>
DAAAAADD  POST /portal/certificates/<rowid:number>/labels
DDDDDADD  GET /portal/certification
DDDDDADD  POST /portal/certification/draft
DAAAADDD  GET /portal/compliance
DAAAADDD  GET /portal/disclosure-report
DAAAAAAA  GET /portal/drafts/<id:draft_id>
DAAAAAAA  GET /portal/drafts/<id:draft_id>/message
DAAAAAAA  GET /portal/drafts/<id:draft_id>/payload.json
DAAAAAAA  POST /portal/drafts/<id:draft_id>/sign
DAAAAAAA  GET /portal/keys
DAAAAAAA  POST /portal/keys
DAAAAAAA  POST /portal/keys/<kid:kid>/revoke
AAAAAAAA  GET /portal/labels/<rowid:label_id>.pdf
AAAAAAAA  POST /portal/language
AAAAAAAA  GET /portal/login
DDDDDDDD  POST /portal/login
AAAAAAAA  POST /portal/logout
DAAAAAAA  GET /portal/password
DAAAAAAA  POST /portal/password
AAAAAAAA  GET /portal/procurement
DDDAADDD  POST /portal/products
DDDAADDD  GET /portal/products
DDDAADDD  GET /portal/products/<id:product_id>
DDDAADDD  POST /portal/products/<id:product_id>/bom
DDDAADDD  POST /portal/products/<id:product_id>/compute
DDDAADDD  POST /portal/products/<id:product_id>/derive
DDDAADDD  POST /portal/products/<id:product_id>/request-missing
DAAAADDD  GET /portal/records
DAHAHHHH  GET /portal/records/<id:record_id>
DAAAADDD  POST /portal/records/<id:record_id>/disclosure
DAHAHDDD  GET /portal/records/<id:record_id>/exports/<any('battery-declaration','cbam-report'):kind>
DAHAHDDD  GET /portal/records/<id:record_id>/reduction
DAHHHDDD  POST /portal/records/<id:record_id>/share
AAAAAAAA  GET /portal/registry
AAAAAAAA  GET /portal/registry/<rowid:number>
DDDDDDAD  GET /portal/regulator
DDDDDDAD  GET /portal/regulator/accreditation
DDDDDDAD  POST /portal/regulator/accreditation/<id:body_id>
DDDDDDAD  GET /portal/regulator/agreements
DDDDDDAD  POST /portal/regulator/agreements
DDDDDDAD  POST /portal/regulator/agreements/<rowid:agreement_id>/status
DDDDDDAD  POST /portal/regulator/disclosure
DDDDDDAD  GET /portal/regulator/disclosure
DDDDDDAD  GET /portal/regulator/factors
DDDDDDAD  POST /portal/regulator/factors/<id:factor_id>/review
DDDDDDAD  GET /portal/regulator/grading
DDDDDDAD  POST /portal/regulator/grading
DDDDDDAD  GET /portal/regulator/partners
DDDDDDAD  POST /portal/regulator/partners
DDDDDDAD  POST /portal/regulator/partners/<id:partner_id>/keys/<kid:kid>/revoke
DDDDDDAD  GET /portal/regulator/recognitions
DDDDDDAD  GET /portal/regulator/rules
DDDDDDAD  POST /portal/regulator/rules/<rulecode:code>/status
DAAAADDD  GET /portal/requests
DAAAADDD  POST /portal/requests/<id:request_id>/fulfil
DAAAADDD  POST /portal/requests/<id:request_id>/reject
DAAAADDD  POST /portal/shares/<rowid:share_id>/delete
DAAAADAD  GET /portal/sites
DAAAADAD  GET /portal/sites/<id:site_id>
AAAAAAAA  GET /portal/static/<path:filename>
DAAAADDD  GET /portal/upload
DAAAADDD  POST /portal/upload
AAAAAAAA  GET /portal/verify
AAAAAAAA  POST /portal/verify
AAAAAAAA  GET /static/<path:filename>
AAAAAAAA  GET /static/labels/<path:filename>
AAAAAAAA  GET /static/mutual-recognition/<path:filename>
"""  # noqa: E501 - a row is a route as werkzeug spells it, however long
MATRIX: dict[str, str] = {
    line[10:]: line[:8] for line in MATRIX_TABLE.strip().splitlines() if not line.startswith("#")
}


def test_every_route_has_a_row_and_each_role_is_allowed_or_denied_as_it_says(
    app: Flask,
) -> None:
    world = _world(app)
    found = observed_matrix(app, world)
    missing = sorted(set(found) - set(MATRIX))
    # What was observed is printed in the table's own form: check each cell, then add the row.
    assert not missing, "classify these routes in MATRIX_TABLE (observed cells shown):\n" + (
        "\n".join(f"{found[key]}  {key}" for key in missing)
    )
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
    assert hidden.status_code == nowhere.status_code, (template, hidden.status_code)
    assert hidden.status_code in (401, 404), (template, hidden.status_code)
    assert _text(hidden, real) == _text(nowhere, NOWHERE_ID), template
    return hidden.status_code, hidden.get_json()


PRIVATE_READS = (
    "/api/v1/footprints/{}",
    "/3/footprints/{}",
    "/api/v1/footprints/{}/verification",
    "/api/v1/footprints/{}/provenance",
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


@pytest.mark.parametrize("letter", ["a", "s", "n", "b", "r", "p"])
def test_list_filters_tell_nothing_of_a_private_record(app: Flask, letter: str) -> None:
    """ListFootprints (PACT and ours) filtered on the record's product or company answers
    exactly as for a product or company that does not exist."""
    world = _world(app)
    client = app.test_client()
    headers = {} if letter == "a" else world.members[letter].headers
    footprint = client.get(
        f"/api/v1/footprints/{world.record_id}", headers=world.owner.headers
    ).get_json()["footprint"]
    filters = {
        "productId": (footprint["productIds"][0], "urn:gtin:00000000000000"),
        "companyId": (footprint["companyIds"][0], f"urn:uuid:{NOWHERE_ID}"),
        "classification": (
            footprint["productClassifications"][0],
            "urn:pact:productclassification:nothing",
        ),
    }
    for base in ("/api/v1/footprints", "/3/footprints"):
        for name, (real, nowhere) in filters.items():
            for status in ("", "&status=Active"):
                hidden = client.get(f"{base}?{name}={real}{status}", headers=headers)
                empty = client.get(f"{base}?{name}={nowhere}{status}", headers=headers)
                assert hidden.status_code == empty.status_code, (base, name)
                assert hidden.get_data() == empty.get_data(), (base, name)
                if hidden.status_code == 200:
                    assert hidden.get_json()["data"] == []


@pytest.mark.parametrize("letter", ["o", "s", "n", "b", "r", "p"])
def test_a_chain_owners_product_and_its_explanation_are_private(app: Flask, letter: str) -> None:
    """Another company's product, its result, explanation, export and derived footprint
    answer exactly as a product id that names nothing."""
    world = _world(app)
    client = app.test_client()
    owner = world.members["c"]
    defined = client.post(
        "/api/v1/products",
        json={
            "code": "JUICE-1",
            "name": "Coconut water",
            "declaredUnit": "liter",
            "lines": [
                {
                    "supplierId": world.owner.organisation_id,
                    "supplierProduct": "urn:gtin:5695872369587",
                    "quantity": "1",
                    "unit": "liter",
                }
            ],
        },
        headers=owner.headers,
    )
    assert defined.status_code == 201, defined.get_json()
    product_id = defined.get_json()["id"]
    client.post(f"/api/v1/products/{product_id}/compute", headers=owner.headers)
    headers = world.members[letter].headers
    for template in (
        "/api/v1/products/{}",
        "/api/v1/products/{}/result",
        "/api/v1/products/{}/explain",
        "/api/v1/products/{}/export",
        "/api/v1/products/{}/derived-footprint",
    ):
        assert client.get(template.format(product_id), headers=owner.headers).status_code != 404
        _same_as_nowhere(client, headers, template, product_id)
