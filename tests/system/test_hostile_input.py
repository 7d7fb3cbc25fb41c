"""Input that once reached the database or a parser and failed there (500s found by
schemathesis and by reviewers' hostile inputs): each is now a clear 4xx on SQLite and
PostgreSQL alike, and JSON that another verifier could read differently is refused."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import quote, urlencode

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter, Rule

from exchange import signing
from exchange.client.cli import sign_command
from exchange.db import ROW_ID_MAX
from exchange.footprints.models import FootprintRecord
from exchange.mutual_recognition.services.federation import PartnerClient, SyncError
from exchange.organisations.models import Role, SigningKey
from exchange.partners.models import PartnerProgramme
from exchange.routing import PathValueConverter
from tests.factories import Member, add_member, json_of
from tests.mutual_recognition.conftest import register as register_partner
from tests.portal.helpers import add_user, csrf, post, text
from tests.portal.test_recognition import AGREEMENT_FORM, regulator_client
from tests.portal.test_recognition import register_partner as register_portal_partner
from tests.test_signing import SMALL_ORDER_POINTS

# A well-formed id that names nothing (an id of another form is refused when routed, 404).
NOWHERE = "00000000-0000-4000-8000-000000000000"


def test_a_nul_character_in_the_url_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    for url in (
        "/api/v1/footprints/a%00b",
        "/api/v1/footprints?classification=tea%00",
        "/3/footprints?productId=urn%00",
        "/api/v1/organisations?q=%00",
    ):
        response = client.get(url, headers=member.headers)
        assert response.status_code == 400, url
        assert response.json == {
            "code": "BadRequest",
            "message": "the URL holds a NUL character",
            "details": [],
        }


def test_a_nul_character_in_a_json_string_is_a_bad_request(client: FlaskClient) -> None:
    refused = client.post("/api/v1/labels/verify", json={"text": "HTTPS://X\u0000"})
    assert refused.status_code == 400
    assert "NUL" in json_of(refused)["message"]
    # A backslash followed by "u0000" is ordinary text.
    taken = client.post("/api/v1/labels/verify", json={"text": "HTTPS://X\\u0000"})
    assert taken.status_code == 200, json_of(taken)


def test_a_row_id_beyond_the_databases_integer_names_nothing(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.SUPPLIER)
    for number in (ROW_ID_MAX + 1, 2**63, 10**30):
        for method, url in (
            ("GET", f"/api/v1/certificates/{number}"),
            ("GET", f"/api/v1/labels/{number}/status"),
            ("PUT", f"/api/v1/agreements/{number}"),
            ("DELETE", f"/api/v1/shares/{number}"),
        ):
            response = client.open(url, method=method, json={}, headers=member.headers)
            assert response.status_code == 404, (method, url, json_of(response))
            assert json_of(response)["code"] == "NotFound"
    labelled = client.post(
        "/api/v1/labels", json={"certificate": ROW_ID_MAX + 1}, headers=member.headers
    )
    assert labelled.status_code == 400, json_of(labelled)


def test_a_bill_of_materials_csv_that_cannot_be_read_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    owner = add_member(app, Role.CHAIN_OWNER)
    product = client.post(
        "/api/v1/products",
        json={"code": "P1", "name": "Drink", "declaredUnit": "liter"},
        headers=owner.headers,
    )
    assert product.status_code == 201, json_of(product)
    url = f"/api/v1/products/{json_of(product)['id']}/bom"
    for body in (
        b'category,label\r\n"a\rb',  # a lone CR inside an unterminated quoted cell
        b"\xf2\xb2\xbf\xa0B\xc2\xba\r\xc2\xa3",
        b"category,quantity,unit\ncomponent,1,kg,surplus\n",  # more cells than columns
    ):
        response = client.put(url, data=body, headers={**owner.headers, "Content-Type": "text/csv"})
        assert response.status_code == 400, (body, json_of(response))
        assert set(json_of(response)) == {"code", "message", "details"}


def test_a_nul_character_in_a_portal_form_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    add_user(app, member, "clerk@example.com")
    refused = client.post(
        "/portal/login",
        data={"csrf_token": csrf(client), "email": "clerk\x00@example.com", "password": "x"},
    )
    assert refused.status_code == 400
    assert refused.json == {
        "code": "BadRequest",
        "message": "a form field holds a NUL character",
        "details": [],
    }
    # The same form without the NUL is answered as usual (a wrong password: the page again).
    answered = client.post(
        "/portal/login",
        data={"csrf_token": csrf(client), "email": "clerk@example.com", "password": "x"},
    )
    assert answered.status_code == 401


def test_a_time_beyond_the_calendar_in_utc_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    """Year 1 east of Greenwich and year 9999 west of it are valid ISO 8601 times that fall
    outside Python's calendar once converted to UTC (an OverflowError: a 500)."""
    member = add_member(app, Role.REGULATOR)
    for moment in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"):
        for url in (
            f"/api/v1/disclosure/overview?asOf={moment}",
            f"/api/v1/disclosure/overview.html?asOf={moment}",
            f"/api/v1/disclosure/compliance?asOf={moment}",
            f"/api/v1/disclosure/compliance.html?asOf={moment}",
            f"/api/v1/flows/summary?from={moment}",
            f"/api/v1/flows/outbound?to={moment}",
            f"/api/v1/sites/{NOWHERE}/rollup?from={moment}",
            f"/api/v1/sites/{NOWHERE}/rollup.html?to={moment}",
            f"/api/v1/scenarios/procurement?category=tea&grade=1&asOf={moment}",
        ):
            response = client.get(url, headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None and "out of range" in json.dumps(json_of(response)), (
                url
            )


def test_a_body_time_beyond_the_calendar_in_utc_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    """The same times in a request body failed where they were stored or compared (found by
    schemathesis as the regulator: a site output whose periodEnd was
    0001-01-01T00:00:00+00:01)."""
    supplier = add_member(app, Role.SUPPLIER)
    regulator = add_member(app, Role.REGULATOR)
    for moment in ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"):
        for member, url, body, field in (
            (
                regulator,
                f"/api/v1/sites/{NOWHERE}/productions",
                {"recordId": "r", "periodStart": moment, "periodEnd": moment, "quantity": "1"},
                "periodStart",
            ),
            (
                regulator,
                "/api/v1/disclosure/requirements",
                {
                    "title": "tea",
                    "basis": "rule 20",
                    "scope": {"category": "urn:pact:productclassification:hainan:tea"},
                    "content": {"level": "total"},
                    "manner": "public",
                    "deadline": {"kind": "annual", "month": 6, "day": 30, "dueSoonDays": 30},
                    "effectiveFrom": moment,
                },
                "effectiveFrom",
            ),
            (
                supplier,
                "/api/v1/keys",
                {"jwk": supplier.key.public_jwk(), "notBefore": moment},
                "notBefore",
            ),
            (
                supplier,
                f"/api/v1/keys/{supplier.key.kid}/revoke",
                {"reason": "lost", "revokedAt": moment},
                "revokedAt",
            ),
        ):
            response = client.post(url, json=body, headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None
            assert {
                "field": field,
                "message": "Value error, out of range: years 1 to 9999 in UTC",
            } in (json_of(response)["details"]), (url, json_of(response))


def test_a_forged_page_cursor_beyond_the_calendar_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.CHAIN_OWNER)
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        cursor = base64.urlsafe_b64encode(f"{moment}|x".encode()).decode().rstrip("=")
        for url in ("/api/v1/footprints", "/3/footprints"):
            response = client.get(f"{url}?cursor={cursor}", headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None and "cursor" in json_of(response)["message"]


def _count(app: Flask, model: type) -> int:
    with app.extensions["exchange.sessions"]() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _body_rules(app: Flask) -> list[tuple[str, str]]:
    """(method, url) of every route that takes a body, its variables filled with a name
    that exists nowhere (a well-formed id of the variable's kind, or a row id of 1)."""
    found: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
            values: dict[str, Any] = {
                name: 1
                if isinstance(converter, IntegerConverter)
                else converter.example
                if isinstance(converter, PathValueConverter)
                else "nothing"
                for name, converter in rule._converters.items()
            }
            built = rule.build(values, append_unknown=False)
            assert built is not None, rule
            found.append((method, built[1]))
    return found


def test_a_json_number_of_too_many_digits_is_a_bad_request_everywhere(
    app: Flask, client: FlaskClient
) -> None:
    """Python's int() refuses more than 4,300 digits with a bare ValueError, which the body
    parser did not map: a 500, anonymously at /api/v1/labels/verify."""
    huge = b'{"text": ' + b"9" * 4301 + b"}"
    anonymous = client.post("/api/v1/labels/verify", data=huge, content_type="application/json")
    assert anonymous.status_code == 400, anonymous.status_code
    assert anonymous.json is not None
    assert json_of(anonymous)["message"] == "a number in the document has too many digits"
    supplier = add_member(app, Role.SUPPLIER)
    regulator = add_member(app, Role.REGULATOR)
    refused: set[str] = set()
    for member in (supplier, regulator):
        for method, url in _body_rules(app):
            for body in (huge, b'{"a": [1, {"b": -' + b"1" * 5000 + b"}]}"):
                response = client.open(
                    url,
                    method=method,
                    data=body,
                    content_type="application/json",
                    headers=member.headers,
                )
                # A few routes read no body (recompute-stale, say) and answer as usual.
                assert response.status_code < 500, (method, url, response.status_code)
                if "too many digits" in response.get_data(as_text=True):
                    refused.add(f"{method} {url}")
    assert {"POST /api/v1/footprints", "POST /api/v1/keys", "POST /3/events"} <= refused
    assert len(refused) > 30, refused
    assert _count(app, FootprintRecord) == 0


def _with_duplicate(member: Member, where: str) -> bytes:
    envelope = member.envelope()
    text = json.dumps(envelope)
    if where == "envelope":
        # A second "footprint" member, as another verifier may read it (first one wins).
        other = json.dumps(member.envelope()["footprint"])
        return (text[:-1] + ', "footprint": ' + other + "}").encode()
    # A second "id" inside the footprint: the signature covers the last one only to Python.
    footprint = json.dumps(envelope["footprint"])
    twice = footprint[:-1] + ', "id": "' + envelope["footprint"]["id"] + '"}'
    return (
        json.dumps({"signature": envelope["signature"]})
        .replace("{", '{"footprint": ' + twice + ", ", 1)
        .encode()
    )


@pytest.mark.parametrize(("where", "member_name"), [("envelope", "footprint"), ("footprint", "id")])
def test_a_member_name_twice_is_refused_naming_it(
    app: Flask, client: FlaskClient, where: str, member_name: str
) -> None:
    """RFC 8785 signs I-JSON, which forbids a name twice in one object: Python keeps the
    last one, another verifier may keep the first, and one signature would cover two
    different records."""
    member = add_member(app, Role.SUPPLIER)
    body = _with_duplicate(member, where)
    for url in ("/api/v1/footprints",):
        response = client.post(
            url, data=body, content_type="application/json", headers=member.headers
        )
        assert response.status_code == 400, (url, json_of(response))
        assert response.json is not None
        assert f'"{member_name}" appears twice' in json_of(response)["message"]
        assert json_of(response)["details"] == [
            {"member": member_name, "message": "duplicate member name"}
        ]
    batch = b'{"items": [' + body + b"]}"
    response = client.post(
        "/api/v1/footprints", data=batch, content_type="application/json", headers=member.headers
    )
    assert response.status_code == 400, json_of(response)
    assert _count(app, FootprintRecord) == 0
    anonymous = client.post(
        "/api/v1/labels/verify", data=b'{"text": "a", "text": "b"}', content_type="application/json"
    )
    assert anonymous.status_code == 400
    assert anonymous.json is not None and '"text" appears twice' in json_of(anonymous)["message"]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json; charset=latin-1", '{"text": "caf\u00e9"}'.encode("latin-1"), 415),
        ("application/json; charset=iso-8859-1", b'{"text": "x"}', 415),
        ("application/json; charset=utf-16", '{"text": "x"}'.encode("utf-16"), 415),
        ("application/json", '{"text": "x"}'.encode("utf-16"), 400),
        ("application/json", '{"text": "x"}'.encode("utf-32"), 400),
        ("application/json", '{"text": "caf\u00e9"}'.encode("latin-1"), 400),
        ("application/json", b'{"text": "\xed\xa0\x80"}', 400),  # an encoded surrogate
        ("application/json", b'\xef\xbb\xbf{"text": "x"}', 400),
    ],
)
def test_json_that_is_not_utf_8_is_refused(
    client: FlaskClient, content_type: str, body: bytes, status: int
) -> None:
    """JSON is UTF-8 (RFC 8259 §8.1); json.loads would guess UTF-16 and UTF-32 from the
    bytes, and the charset parameter was ignored."""
    response = client.post("/api/v1/labels/verify", data=body, content_type=content_type)
    assert response.status_code == status, (content_type, body, json_of(response))
    assert response.json is not None and set(json_of(response)) == {"code", "message", "details"}


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"'])
def test_json_in_utf_8_is_taken_with_or_without_its_charset(
    client: FlaskClient, charset: str
) -> None:
    for content_type in ("application/json", f"application/json; charset={charset}"):
        response = client.post(
            "/api/v1/labels/verify",
            data='{"text": "caf\u00e9"}'.encode(),
            content_type=content_type,
        )
        assert response.status_code == 200, (content_type, json_of(response))


@pytest.mark.parametrize("body", [b'{"text": 1e400}', b'{"text": NaN}', b'{"text": -Infinity}'])
def test_numbers_that_are_not_i_json_are_refused(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/v1/labels/verify", data=body, content_type="application/json")
    assert response.status_code == 400, json_of(response)


def test_a_nul_character_in_basic_credentials_is_a_bad_request(client: FlaskClient) -> None:
    """The client id reached PostgreSQL, which cannot hold a NUL (a 500, without any token):
    base64 hid it from the check of the URL and the form."""
    for user, password in ((b"client\x00id", b"secret"), (b"client", b"sec\x00ret")):
        credentials = base64.b64encode(user + b":" + password).decode()
        response = client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {credentials}"},
        )
        assert response.status_code == 400, (user, json_of(response))
        assert response.json is not None and "NUL" in json_of(response)["message"]
    in_the_form = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "a\x00", "client_secret": "s"},
    )
    assert in_the_form.status_code == 400


def test_a_nul_character_in_a_header_or_cookie_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.SUPPLIER)
    for headers in (
        {"Authorization": f"Bearer {member.token}\x00"},
        {"X-Request-Id": "a\x00b", **member.headers},
    ):
        response = client.get("/api/v1/footprints", headers=headers)
        assert response.status_code == 400, (headers, json_of(response))
        assert response.json is not None and "NUL" in json_of(response)["message"]
    # A quoted cookie value may spell a NUL as the octal escape \000, which is decoded.
    for name in ("fx_language", "fx_portal"):
        cookies = app.test_client()
        cookies.set_cookie(name, "a\x00b")
        response = cookies.get("/api/v1/footprints", headers=member.headers)
        assert response.status_code == 400, (name, json_of(response))
        assert response.json == {
            "code": "BadRequest",
            "message": "a cookie holds a NUL character",
            "details": [],
        }


def test_a_nul_character_in_a_page_cursor_is_a_bad_request(app: Flask, client: FlaskClient) -> None:
    """The cursor's record id, once decoded, reached PostgreSQL (a 500)."""
    member = add_member(app, Role.CHAIN_OWNER)
    for record_id in ("\x00", "a\x00b"):
        cursor = _cursor(record_id)
        for url in ("/api/v1/footprints", "/3/footprints"):
            response = client.get(f"{url}?cursor={cursor}", headers=member.headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.json is not None and "cursor" in json_of(response)["message"]


@pytest.mark.parametrize("encoding", SMALL_ORDER_POINTS)
def test_a_small_order_public_key_is_refused_at_registration(
    app: Flask, client: FlaskClient, encoding: str
) -> None:
    """A small-order key has no private key, and a signature under it can verify for more
    than one message: an organisation (or certification body) could register one and then
    disown what it "signed", and a partner anchor likewise."""
    member = add_member(app, Role.SUPPLIER, Role.CERTIFICATION_BODY)
    regulator = add_member(app, Role.REGULATOR)
    keys_before = _count(app, SigningKey)
    jwk = signing.public_jwk(bytes.fromhex(encoding))
    response = client.post("/api/v1/keys", json={"jwk": jwk}, headers=member.headers)
    assert response.status_code == 400, json_of(response)
    assert response.json is not None
    assert json_of(response)["message"].startswith(
        "the key is not valid: not an Ed25519 public key"
    )
    assert "prime-order subgroup" in json_of(response)["message"]
    assert json_of(response)["details"][0]["field"] == "jwk"
    assert _count(app, SigningKey) == keys_before
    anchor = register_partner(client, regulator, member.key, jwks={"keys": [jwk]})
    assert anchor.status_code == 400, json_of(anchor)
    assert anchor.json is not None and "jwks.keys.0" in json.dumps(json_of(anchor))
    assert "prime-order subgroup" in json.dumps(json_of(anchor))
    assert _count(app, PartnerProgramme) == 0


# -- property-based: every route, every slot of a request, every class of hostile input -----

# Values that broke a parser or the database once, or could: NUL and other control
# characters, digits beyond Python's int() limit, numbers beyond a double, non-ASCII.
_HOSTILE_WORDS: Final = (
    "\x00",
    "a\x00b",
    "\x01\x08\x1b\x7f",
    "\t\r\n",
    "9" * 4301,
    "-" + "1" * 5000,
    "1e400",
    "NaN",
    "%00",
    "../..",
    "\u202e\ufeff",
    "\u00e9\u4e2d",
    "",
)
# Latin-1 only: what an HTTP header or cookie can carry at all.
_HEADER_TEXT: Final = st.one_of(
    st.sampled_from(
        [word.replace("\r\n", " ") for word in _HOSTILE_WORDS if word.isascii()] + ["caf\u00e9"]
    ),
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=12),
)
_URL_TEXT: Final = st.one_of(
    st.sampled_from(_HOSTILE_WORDS),
    st.text(st.characters(codec="utf-8", exclude_characters="/?#"), max_size=12),
)
_QUERY_NAMES: Final = (
    "cursor",
    "limit",
    "q",
    "productId",
    "status",
    "asOf",
    "from",
    "to",
    "owner",
    "validOn",
    "classification",
)


def _hostile_json(draw: st.DrawFn) -> bytes:
    """A JSON-ish document with one hostile part, in one of several encodings."""
    value = draw(
        st.sampled_from(
            [
                "9" * 4301,
                "-" + "8" * 6000,
                "1e400",
                "-1E999",
                "NaN",
                "Infinity",
                '"\\u0000"',
                '"\\ud800"',
                '{"a": 1, "a": 2}',
                "[" * 2000 + "]" * 2000,
                '"x"',
            ]
        )
    )
    name = draw(st.sampled_from(["text", "jwk", "footprint", "items", "reason", "x"]))
    document = f'{{"{name}": {value}, "signature": {value}}}'
    if draw(st.booleans()):
        document = f'{{"{name}": {value}, "{name}": 1}}'  # a duplicate name
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    raw = document.encode(encoding, errors="replace")
    if draw(st.booleans()):
        raw += b"\xff\xfe\xc3"  # stray bytes that are no UTF-8
    return raw


def _cursor(record_id: str) -> str:
    text = f"2026-01-01T00:00:00+00:00|{record_id}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


@st.composite
def _hostile_requests(draw: st.DrawFn, rule: Rule, token: str) -> dict[str, Any]:
    """Keyword arguments of ``FlaskClient.open`` for one hostile request to ``rule``."""
    values = {name: draw(_URL_TEXT) for name in rule.arguments}
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter) and draw(st.booleans()):
            values[name] = draw(st.sampled_from(["1", "9" * 4400, str(2**63)]))
    path = rule.rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(value, safe=""), path)
    query = draw(st.lists(st.tuples(st.sampled_from(_QUERY_NAMES), _URL_TEXT), max_size=3))
    # A page cursor is base64 of "<time>|<record id>": hostile text inside it too.
    query = [
        (name, _cursor(value) if name == "cursor" and draw(st.booleans()) else value)
        for name, value in query
    ]
    authorization = draw(st.sampled_from(["bearer", "hostile-bearer", "basic", "none"]))
    headers: dict[str, str] = {}
    if authorization == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif authorization == "hostile-bearer":
        headers["Authorization"] = f"Bearer {token}" + draw(_HEADER_TEXT)
    elif authorization == "basic":
        user, password = draw(_HEADER_TEXT), draw(_HEADER_TEXT)
        credentials = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode()
        headers["Authorization"] = f"Basic {credentials}"
    for name in draw(st.sets(st.sampled_from(["X-Request-Id", "Accept", "X-Forwarded-For"]))):
        headers[name] = draw(_HEADER_TEXT)
    if draw(st.booleans()):
        cookie = draw(st.sampled_from(["fx_portal", "fx_language", "session"]))
        escaped = draw(_HEADER_TEXT).replace("\\", "\\\\").replace('"', '\\"')
        headers["Cookie"] = f'{cookie}="{escaped}"'
    method = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"})[0]
    request: dict[str, Any] = {
        "path": path,
        "method": method,
        "query_string": urlencode(query),
        "headers": headers,
    }
    if method in ("POST", "PUT", "PATCH"):
        request["data"] = _hostile_json(draw)
        request["content_type"] = draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/json; charset=latin-1",
                    "application/json; charset=utf-16",
                    "application/cloudevents+json; charset=UTF-8",
                    "application/x-www-form-urlencoded",
                ]
            )
        )
    return request


# Requests drawn per route: about 700 in all, some 20 s on SQLite.
HOSTILE_EXAMPLES_PER_ROUTE = 4


def test_no_hostile_request_to_any_route_is_a_server_error(app: Flask) -> None:
    """Every route, derandomised: NUL and control characters in the path, the query, the
    headers, Basic credentials and cookies; JSON bodies with digits beyond int(), numbers
    beyond a double, duplicate names, other charsets and invalid UTF-8. None may be a 5xx,
    and every error is the one JSON error body."""
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER, Role.REGULATOR)
    client = app.test_client(use_cookies=False)
    tried = 0
    server_errors: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue

        @settings(
            max_examples=HOSTILE_EXAMPLES_PER_ROUTE,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.generate],
        )
        @given(request=_hostile_requests(rule, member.token))
        def send(request: dict[str, Any]) -> None:
            nonlocal tried
            tried += 1
            try:
                response = client.open(**request)
            except Exception as exc:  # TESTING propagates what would be a 500
                server_errors.append(f"{type(exc).__name__}: {exc} {request!r}"[:400])
                return
            response.get_data()
            response.close()  # a file served from static/ is read lazily
            if response.status_code >= 500:
                server_errors.append(f"{response.status_code} {request!r}"[:400])
            elif response.status_code >= 400 and response.mimetype == "application/json":
                body = json_of(response)
                assert isinstance(body, dict) and (
                    {"code", "message", "details"} <= set(body) or "error" in body
                ), (request, body)

        send()
    assert tried >= HOSTILE_EXAMPLES_PER_ROUTE * 150
    assert not server_errors, f"{len(server_errors)} of {tried}:\n" + "\n".join(server_errors)


def test_the_command_line_verifiers_refuse_a_member_name_twice(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    """A bundle, a pinned JWK Set or a footprint file read by the CLIs goes through the
    same I-JSON parser as a request body: a partner's tool that keeps the first of two
    names must not see another record than ours."""
    owner = add_member(app, Role.SUPPLIER)
    envelope = owner.envelope()
    client.post("/api/v1/footprints", json=envelope, headers=owner.headers)
    bundle = client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}/verification", headers=owner.headers
    ).get_json()
    jwks = client.get("/.well-known/jwks.json").get_data(as_text=True)
    twice = json.dumps(bundle)[:-1] + ', "bundle": {"record": {"id": "another"}}}'
    (tmp_path / "bundle.json").write_text(twice)
    (tmp_path / "jwks.json").write_text(jwks)
    (tmp_path / "jwks-twice.json").write_text(jwks.rstrip()[:-1] + ', "keys": []}')
    runner = app.test_cli_runner()
    for bundle_file, jwks_file, name in (
        ("bundle.json", "jwks.json", "bundle"),
        ("good.json", "jwks-twice.json", "keys"),
    ):
        (tmp_path / "good.json").write_text(json.dumps(bundle))
        result = runner.invoke(
            args=[
                "partners",
                "verify-bundle",
                str(tmp_path / bundle_file),
                "--jwks",
                str(tmp_path / jwks_file),
            ]
        )
        assert result.exit_code == 1, result.output
        assert f'"{name}" appears twice' in result.output, result.output
    # The company's own tool: a footprint file to sign.
    footprint = json.dumps(owner.footprint())
    (tmp_path / "record.json").write_text(footprint[:-1] + ', "id": "other"}')
    owner.key.save(tmp_path / "key.jwk.json")
    signed = CliRunner().invoke(
        sign_command, [str(tmp_path / "record.json"), "--key", str(tmp_path / "key.jwk.json")]
    )
    assert signed.exit_code == 1, signed.output
    assert '"id" appears twice' in signed.output
    assert not (tmp_path / "record.signed.json").exists()


def test_the_standalone_bundle_verifier_refuses_a_member_name_twice(
    app: Flask, client: FlaskClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m exchange.mutual_recognition.verify``, the verifier a third party runs:
    a genuine bundle (or JWK Set) with a forged copy of a member put first. A reader that
    keeps the last copy finds it valid, one that keeps the first reads the forgery; ours
    refuses it, naming the member."""
    from exchange.mutual_recognition.verify import main as verify_main

    owner = add_member(app, Role.SUPPLIER)
    envelope = owner.envelope()
    client.post("/api/v1/footprints", json=envelope, headers=owner.headers)
    bundle = client.get(
        f"/api/v1/footprints/{envelope['footprint']['id']}/verification", headers=owner.headers
    ).get_json()
    jwks = client.get("/.well-known/jwks.json").get_data(as_text=True).strip()
    (tmp_path / "good.json").write_text(json.dumps(bundle))
    (tmp_path / "jwks.json").write_text(jwks)
    assert verify_main([str(tmp_path / "good.json"), "--jwks", str(tmp_path / "jwks.json")]) == 0
    capsys.readouterr()
    forged_first = '{"bundle": {"record": {"id": "another"}}, ' + json.dumps(bundle)[1:]
    (tmp_path / "bundle-twice.json").write_text(forged_first)
    (tmp_path / "jwks-twice.json").write_text('{"keys": [], ' + jwks[1:])
    for bundle_file, jwks_file, name in (
        ("bundle-twice.json", "jwks.json", "bundle"),
        ("good.json", "jwks-twice.json", "keys"),
    ):
        status = verify_main([str(tmp_path / bundle_file), "--jwks", str(tmp_path / jwks_file)])
        out, err = capsys.readouterr()
        assert status == 1, out
        assert out == ""  # no verdict printed for a document it will not read
        [line] = err.strip().splitlines()
        assert f'"{name}" appears twice' in line, line


class _PartnerAnswers:
    """A partner host that answers every request with ``body`` (and a token)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def request(self, method: str, url: str, **_options: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response._content = b'{"access_token": "t"}' if url.endswith("/auth/token") else self.body
        return response


def _answering(body: bytes) -> requests.Session:
    """A stand-in for the partner's HTTP session (only ``request`` is called)."""
    return cast(requests.Session, _PartnerAnswers(body))


def test_a_partner_answer_with_a_member_name_twice_is_refused() -> None:
    """A lying partner sends a page whose "data" another reader would take as its first
    value: the sync stops with the reason, not on whichever copy Python kept."""
    base = "https://pcf.partner.example"
    page = PartnerClient(
        base, "id", "secret", http=_answering(b'{"data": [{"id": "a"}], "data": []}')
    )
    with pytest.raises(SyncError, match='"data" appears twice'):
        page.page(f"{base}/3/footprints")
    proof = PartnerClient(
        base, None, None, http=_answering(b'{"proof": [], "treeSize": 1, "treeSize": 2}')
    )
    with pytest.raises(SyncError, match='"treeSize" appears twice'):
        proof.inclusion(0, 1)


def test_every_route_answers_each_class_of_hostile_input_without_a_server_error(
    app: Flask,
) -> None:
    """The classes the reviewers found, each sent to every route once, deterministically
    (the fuzz above draws them at random): a NUL in Basic credentials, in a page cursor and
    in each path variable, a cookie spelling NUL as \\000, digits beyond int() in a path
    row id, and a latin-1 body with too many digits and a duplicate name."""
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER, Role.REGULATOR)
    client = app.test_client(use_cookies=False)
    nul_basic = "Basic " + base64.b64encode(b"client\x00id:secret").decode()
    NUL_ID = "a\x00b"  # noqa: N806
    failures: list[str] = []
    tried = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        method = sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"})[0]
        path = rule.rule
        for name, converter in rule._converters.items():
            value = "9" * 4400 if isinstance(converter, IntegerConverter) else "a\x00b"
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(value, safe=""), path)
        for headers, query in (
            ({"Authorization": nul_basic}, ""),
            ({**member.headers, "Cookie": 'fx_portal="\\000"; fx_language="a\\000"'}, ""),
            (member.headers, f"cursor={_cursor(NUL_ID)}"),
            (member.headers, f"limit={'9' * 4400}"),
        ):
            request: dict[str, Any] = {"method": method, "headers": headers}
            if rule.rule == "/auth/token":  # a grant the Basic credentials are read for
                request["data"] = {"grant_type": "client_credentials"}
            elif method in ("POST", "PUT", "PATCH"):
                request["data"] = ('{"text": 1, "text": ' + "9" * 4301 + "}").encode("latin-1")
                request["content_type"] = "application/json; charset=latin-1"
            tried += 1
            try:
                response = client.open(path, query_string=query, **request)
            except Exception as exc:  # TESTING propagates what would be a 500
                failures.append(f"{method} {path[:80]} {query[:40]}: {exc!r:.200}")
                continue
            response.get_data()
            response.close()
            if response.status_code >= 500:
                failures.append(f"{method} {path[:80]} {query[:40]}: {response.status_code}")
    assert tried > 600
    assert not failures, f"{len(failures)} of {tried}:\n" + "\n".join(failures)


def test_a_superscript_digit_in_a_portal_agreement_form_is_a_bad_request(
    app: Flask, client: FlaskClient
) -> None:
    """str.isdigit takes "²", which int() refuses: the portal's agreement form was a 500."""
    regulator_client(app, client)
    partner_id = register_portal_partner(client)
    for days in ("²", "3650²"):
        response = post(
            client,
            "/portal/regulator/agreements",
            {**AGREEMENT_FORM, "partnerId": partner_id, "maxReferenceAgeDays": days},
        )
        assert response.status_code == 400, days
        assert "maxReferenceAgeDays" in text(response)
