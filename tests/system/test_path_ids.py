"""Ids in URL paths are refused when no id of their kind can be them, never cut to length.

The portal used to cut path ids to a column's length (22 places, 36 to 100 characters):
``/portal/products/<a real id>XYZ`` was cut to the real id and showed that product, and
``POST /portal/keys/<a real kid>X/revoke`` revoked the real key. Every route now names the
kind of each id (exchange.routing, and the areas' own converters) and routing refuses a
value one character too long, of other characters, or holding NUL: 404 with the one JSON
error body on the API, the portal's own not-found page on the portal (a NUL is the 400 it
always was, everywhere).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from exchange import limits, routing
from exchange.aggregation.models import Product
from exchange.footprints.models import FootprintRecord
from exchange.labels.models import Label
from exchange.labels.views import GtinConverter, LotConverter
from exchange.organisations.models import Organisation, Role, SigningKey
from exchange.pact.models import FootprintRequest
from exchange.partners.models import PartnerKey, PartnerProgramme
from exchange.portal.models import SigningDraft
from exchange.rules.models import AccountingRule
from exchange.rules.views import RuleCodeConverter
from exchange.sites.models import Site
from tests.factories import Member, add_member, json_of
from tests.portal.helpers import add_user, post, sign_in, text

_VARIABLE = re.compile(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>")


def _length(column: Any) -> int:
    kind = column.type
    assert isinstance(kind, sa.String) and isinstance(kind.length, int), column
    return kind.length


# --- the converters and their limits ----------------------------------------------------------


def test_each_kind_of_path_id_has_the_length_of_the_columns_it_names() -> None:
    for column in (
        FootprintRecord.id,
        Product.id,
        Site.id,
        Organisation.id,
        PartnerProgramme.id,
        SigningDraft.id,
        FootprintRequest.id,
    ):
        assert _length(column.expression) == limits.ID, column
    for column in (SigningKey.kid, PartnerKey.kid):
        assert _length(column.expression) == limits.KID, column
    assert _length(AccountingRule.code.expression) == limits.RULE_CODE
    assert _length(Label.lot.expression) == limits.LOT


@pytest.mark.parametrize(
    ("converter", "good", "bad"),
    [
        (
            routing.IdConverter,
            ["3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d10", "3E1C3B4E-8A84-4F7E-9A0D-2C9B8F6A4D10"],
            [
                "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d100",  # one over
                "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d1",  # one short
                "3e1c3b4e8a844f7e9a0d2c9b8f6a4d10",  # no dashes
                "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d1g",
                "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d1\x00",
                "3e1c3b4e-8a84-4f7e-9a0d-2c9b8f6a4d10\n",
                "nope",
                "",
            ],
        ),
        (
            routing.KidConverter,
            ["UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFw", "_" * 43],
            [
                "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VFwA",  # one over
                "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VF",  # one short
                "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2VF=",
                "UNhY4JhezH9gQYqvDMWrWH9CwlcKiECVqejMrND2V\x00w",
            ],
        ),
        (
            RuleCodeConverter,
            ["cn-hainan-tea-2025", "A", "a" * 64, "x.y_z-1"],
            ["a" * 65, "-leading-dash", "with space", "tea/2025", "tea\x00", "tea\n", ""],
        ),
        (
            GtinConverter,
            ["09506000134352", "00000000000000"],
            [
                "095060001343520",
                "9506000134352",
                "09506000134353",
                "0950600013435x",
                "\uff10" * 14,  # full-width digits: str.isdigit() takes them
            ],
        ),
        (
            LotConverter,
            ["LOT2026A", "A/B", "a" * 20, "%&'()*+,-./:;<=>?_"],
            ["a" * 21, "", "lot#1", "lot 1", "lot\x00", "批次"],
        ),
    ],
)
def test_a_converter_takes_its_kind_and_refuses_anything_else(
    app: Flask, converter: type[routing.PathValueConverter], good: list[str], bad: list[str]
) -> None:
    bound = converter(app.url_map)
    assert bound.accepts(bound.example)
    for value in good:
        assert bound.to_python(value) == value
    for value in bad:
        assert not bound.accepts(value), value
        with pytest.raises(routing.RefusedPathValue):
            bound.to_python(value)


# --- every route with an id in its path ---------------------------------------------------------


def _id_rules(app: Flask) -> list[tuple[Rule, str, str]]:
    """(rule, method, path variable) of every route that carries a kind of id."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda item: item.rule):
        method = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"})[0]
        for name, converter in rule._converters.items():
            if isinstance(converter, routing.PathValueConverter):
                found.append((rule, method, name))
    return found


def _path(rule: Rule, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        converter, name = match.groups()
        if name in values:
            return quote(values[name], safe="/")
        bound = rule._converters[name]
        if isinstance(bound, routing.PathValueConverter):
            return quote(bound.example, safe="/")
        if converter == "any":
            return str(bound.regex).removeprefix("(?:").split("|")[0].replace("\\", "")
        return "1"  # rowid

    return _VARIABLE.sub(value, rule.rule)


def _refused_as_not_found(response: TestResponse, path: str) -> str | None:
    """None if ``response`` is the refusal the path's side gives; else what is wrong."""
    if response.status_code != 404:
        return f"{response.status_code}"
    if path.startswith("/portal/"):
        if response.mimetype != "text/html" or "No such page." not in text(response):
            return f"not the portal's page: {response.mimetype}"
        return None
    body = json_of(response)
    if set(body) != {"code", "message", "details"} or body["code"] != "NotFound":
        return f"not the JSON error body: {body}"
    return None


def test_every_route_refuses_an_id_one_character_too_long(app: Flask) -> None:
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER, Role.REGULATOR)
    client = app.test_client()
    sign_in(client, add_user(app, member, "long-ids@example.cn"))
    wrong = []
    tried = 0
    for rule, method, name in _id_rules(app):
        converter = rule._converters[name]
        assert isinstance(converter, routing.PathValueConverter)
        too_long = converter.example + converter.example[-1] * (
            converter.max_length + 1 - len(converter.example)
        )
        assert len(too_long) == converter.max_length + 1
        for headers in ({}, member.headers):
            path = _path(rule, {name: too_long})
            response = client.open(path, method=method, headers=headers, json={})
            tried += 1
            problem = _refused_as_not_found(response, path)
            if problem:
                wrong.append(f"{method} {rule.rule} ({name}, {headers != {}}): {problem}")
    assert tried > 100
    assert not wrong, "\n".join(wrong)


def test_a_nul_in_any_path_id_is_a_bad_request_on_the_api_and_the_portal(app: Flask) -> None:
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER, Role.REGULATOR)
    client = app.test_client()
    sign_in(client, add_user(app, member, "nul-ids@example.cn"))
    wrong = []
    sides = set()
    for rule, method, name in _id_rules(app):
        converter = rule._converters[name]
        assert isinstance(converter, routing.PathValueConverter)
        # NUL in place of the example's last character: of the id's length, else well formed.
        path = _path(rule, {name: converter.example[:-1] + "\x00"})
        response = client.open(path, method=method, headers=member.headers, json={})
        sides.add(path.split("/")[1])
        body = json_of(response) if response.mimetype == "application/json" else None
        if response.status_code != 400 or not body or body["code"] != "BadRequest":
            wrong.append(f"{method} {rule.rule}: {response.status_code} {body}")
    assert {"portal", "api", "3", "01"} <= sides
    assert not wrong, "\n".join(wrong)


def test_the_api_description_states_each_kind_of_id(app: Flask, client: FlaskClient) -> None:
    document = json_of(client.get("/api/v1/openapi.json"))
    record = document["paths"]["/api/v1/footprints/{record_id}"]["get"]["parameters"][0]
    assert record["schema"] == routing.IdConverter(app.url_map).json_schema()
    assert record["schema"]["maxLength"] == limits.ID == record["schema"]["minLength"]
    kid = document["paths"]["/api/v1/keys/{kid}/revoke"]["post"]["parameters"][0]
    assert kid["schema"]["maxLength"] == limits.KID
    code = document["paths"]["/api/v1/rules/{code}"]["get"]["parameters"][0]
    assert (code["schema"]["minLength"], code["schema"]["maxLength"]) == (1, limits.RULE_CODE)
    for schema in (record["schema"], kid["schema"], code["schema"]):
        assert re.fullmatch(schema["pattern"][1:-1], schema["examples"][0])


# --- what a cut id used to reach ------------------------------------------------------------------


@pytest.fixture
def owner(app: Flask, client: FlaskClient) -> Member:
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER)
    sign_in(client, add_user(app, member, "owner@example.cn"))
    return member


def _record(client: FlaskClient, member: Member) -> str:
    envelope = member.envelope(productNameCompany="Secret tea")
    pushed = client.post("/api/v1/footprints", json=envelope, headers=member.headers)
    assert pushed.status_code == 201, pushed.get_json()
    return str(json_of(pushed)["id"])


def test_a_longer_id_that_begins_with_a_real_records_id_finds_nothing(
    client: FlaskClient, owner: Member
) -> None:
    record_id = _record(client, owner)
    for path in (f"/api/v1/footprints/{record_id}", f"/3/footprints/{record_id}"):
        assert client.get(path, headers=owner.headers).status_code == 200
        assert _refused_as_not_found(client.get(path + "0", headers=owner.headers), path) is None
    shown = client.get(f"/portal/records/{record_id}")
    assert shown.status_code == 200 and "Secret tea" in text(shown)
    # The reduction page asks for its parameters (400) of a record it found, not 404.
    assert client.get(f"/portal/records/{record_id}/reduction").status_code == 400
    for path in (f"/portal/records/{record_id}", f"/portal/records/{record_id}/reduction"):
        longer = path.replace(record_id, record_id + "XYZ")
        refused = client.get(longer)
        assert _refused_as_not_found(refused, longer) is None
        assert "Secret tea" not in text(refused)


def test_a_longer_id_that_begins_with_a_real_product_or_site_finds_nothing(
    client: FlaskClient, owner: Member
) -> None:
    product = client.post(
        "/api/v1/products",
        json={"code": "CW-330", "name": "Coconut water", "declaredUnit": "kg"},
        headers=owner.headers,
    )
    assert product.status_code == 201, product.get_json()
    product_id = json_of(product)["id"]
    site = client.post(
        "/api/v1/sites",
        json={"kind": "factory", "name": "Factory Z", "region": "CN-HI"},
        headers=owner.headers,
    )
    assert site.status_code == 201, site.get_json()
    site_id = json_of(site)["id"]
    for path in (
        f"/portal/products/{product_id}",
        f"/portal/sites/{site_id}",
        f"/api/v1/products/{product_id}",
        f"/api/v1/sites/{site_id}",
    ):
        assert client.get(path, headers=owner.headers).status_code == 200, path
        # What the portal cut at 36 characters: the real id with anything after it.
        longer = path + "-but-longer"
        refused = client.get(longer, headers=owner.headers)
        assert _refused_as_not_found(refused, longer) is None, (longer, refused.status_code)
        assert "Coconut water" not in text(refused) and "Factory Z" not in text(refused)
    # A write as well: computing the product under a longer id computes nothing.
    computed = post(client, f"/portal/products/{product_id}0/compute")
    assert _refused_as_not_found(computed, "/portal/") is None


def test_revoking_a_longer_key_id_leaves_the_real_key_alone(
    app: Flask, client: FlaskClient, owner: Member
) -> None:
    kid = owner.key.kid
    refused = post(client, f"/portal/keys/{kid}X/revoke", {"reason": "cut to the real kid"})
    assert _refused_as_not_found(refused, "/portal/") is None
    api = client.post(f"/api/v1/keys/{kid}X/revoke", json={"reason": "cut"}, headers=owner.headers)
    assert _refused_as_not_found(api, "/api/") is None
    with app.extensions["exchange.sessions"]() as session:
        key = session.get(SigningKey, kid)
        assert key is not None and key.revoked_at is None


def test_an_unknown_portal_path_is_the_portals_page_and_an_unknown_api_path_json(
    client: FlaskClient, owner: Member
) -> None:
    page = client.get("/portal/no-such-page")
    assert _refused_as_not_found(page, "/portal/no-such-page") is None
    # The page is the signed-in user's: the menu is there, in the user's language.
    assert "/portal/records" in text(page)
    assert page.headers["X-Frame-Options"] == "DENY"
    api = client.get("/api/v1/no-such-thing")
    assert _refused_as_not_found(api, "/api/v1/no-such-thing") is None
    refused = client.get("/api/v1/footprints/nope")
    assert "UUID" in json_of(refused)["message"]
