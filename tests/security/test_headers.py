"""Security headers on every answer: each GET route of ``app.url_map`` is walked, anonymous
and signed in, over HTTP and HTTPS; and no template runs inline script."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, IntegerConverter, Rule
from werkzeug.test import TestResponse

import exchange
from exchange.organisations.models import Role
from tests.factories import Member, add_member
from tests.portal.helpers import add_user, sign_in

EXCHANGE = Path(exchange.__file__).resolve().parent
# Pages the walk must reach as HTML, from every area that serves pages.
EXPECTED_PAGES = {
    "labels.landing",
    "labels.landing_lot",
    "mutual_recognition.agreements_page",
    "scenarios.disclosure",
    "disclosure.compliance_page",
    "disclosure.overview_page",
    "portal.home",
    "portal.login",
    "portal.verify",
    "portal.registry",
    "portal.regulator_dashboard",
    "portal.keys",
}


# Pages chosen by a query parameter.
QUERIES = {
    "scenarios.procurement": "?format=html&category=tea&grade=3",
    "scenarios.reductions": "?format=html",
    "scenarios.disclosure": "?format=html",
}


def _url(rule: Rule, member: Member) -> str:
    values: dict[str, str] = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        elif name in {"company_id", "organisation_id"}:
            values[name] = member.organisation_id
        elif name == "gtin":
            values[name] = "09506000134352"
        elif name in {"filename"}:
            values[name] = "missing.css"
        elif isinstance(converter, IntegerConverter):
            values[name] = "1"
        else:
            values[name] = str(uuid.uuid4()) if name.endswith("id") else "x1"
    path: str = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
    return path + QUERIES.get(rule.endpoint, "")


def _walk(
    app: Flask, client: FlaskClient, member: Member, base_url: str
) -> Iterator[tuple[str, TestResponse]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda item: item.rule):
        if "GET" not in (rule.methods or ()):
            continue
        url = _url(rule, member)
        for headers in (member.headers, {}):
            response = client.get(url, headers=headers, base_url=base_url)
            yield rule.endpoint, response
            response.close()


def _check(endpoint: str, response: TestResponse, *, secure: bool) -> None:
    where = f"{endpoint} ({response.status_code}, {response.mimetype})"
    headers = response.headers
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    if secure:
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), where
        assert int(headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 86400
    else:
        assert "Strict-Transport-Security" not in headers, where
    if response.mimetype == "text/html":
        policy = headers.get("Content-Security-Policy", "")
        directives = dict(
            [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
        )
        script = directives.get("script-src", directives.get("default-src", ""))
        assert script in {"'self'", "'none'"}, where
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
        assert directives.get("frame-ancestors") in {"'none'", "'self'"}, where
        assert directives.get("base-uri") in {"'none'", "'self'"}, where
        assert headers.get("X-Frame-Options") in {"DENY", "SAMEORIGIN"}, where
        assert headers.get("Referrer-Policy") in {"no-referrer", "same-origin"}, where


@pytest.fixture
def everyone(app: Flask) -> Member:
    member = add_member(
        app, Role.SUPPLIER, Role.CHAIN_OWNER, Role.CERTIFICATION_BODY, Role.REGULATOR
    )
    add_user(app, member, "all@roles.example")
    return member


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_every_route_answers_with_the_security_headers(
    app: Flask, everyone: Member, secure: bool
) -> None:
    client = app.test_client()
    base_url = "https://localhost" if secure else "http://localhost"
    sign_in(client, "all@roles.example")
    pages: set[str] = set()
    seen = 0
    for endpoint, response in _walk(app, client, everyone, base_url):
        _check(endpoint, response, secure=secure)
        seen += 1
        if response.mimetype == "text/html" and response.status_code == 200:
            pages.add(endpoint)
    assert seen > 2 * 100
    assert pages >= EXPECTED_PAGES, EXPECTED_PAGES - pages
    # Error pages and redirects too.
    for response in (
        client.get("/no/such/page", base_url=base_url),
        app.test_client().get("/portal/keys", base_url=base_url),
    ):
        _check("error", response, secure=secure)


def test_private_json_is_not_stored_by_caches(app: Flask, everyone: Member) -> None:
    client = app.test_client()
    for path in ("/api/v1/footprints", "/api/v1/shares", "/3/footprints", "/api/v1/flows/outbound"):
        response = client.get(path, headers=everyone.headers)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    signed_in = app.test_client()
    sign_in(signed_in, "all@roles.example")
    assert signed_in.get("/api/v1/footprints").headers["Cache-Control"] == "no-store"
    # What anyone may read may be cached as its endpoint says.
    assert "no-store" not in client.get("/.well-known/jwks.json").headers["Cache-Control"]


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
_SCRIPT_BODY = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
# No page's policy lets inline styles through either.
_INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def test_no_page_or_template_runs_inline_script() -> None:
    files = sorted(EXCHANGE.rglob("*.html"))
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(EXCHANGE))
        assert not _INLINE_SCRIPT.search(text), where
        assert all(not body.strip() for body in _SCRIPT_BODY.findall(text)), where
        assert not _HANDLER.search(text), where
        assert not _JS_URL.search(text), where
        assert not _INLINE_STYLE.search(text), where


def test_the_scan_finds_inline_script() -> None:
    """The patterns above would catch what they are for."""
    assert _INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert _SCRIPT_BODY.findall('<script src="a.js">alert(1)</script>') == ["alert(1)"]
    assert _HANDLER.search('<img src="x" onerror="alert(1)">')
    assert _HANDLER.search("<body\nonload=go()>")
    assert _JS_URL.search('<a href="javascript:go()">')
    assert _INLINE_STYLE.search("<style>p { color: red }</style>")
    assert _INLINE_STYLE.search('<p style="color: red">')
    assert not _INLINE_SCRIPT.search('<script src="/static/portal.js" defer></script>')
    assert not _HANDLER.search('<input name="only" data-one="1">')


def test_the_agreements_page_takes_its_styles_from_a_file(client: FlaskClient) -> None:
    page = client.get("/mutual-recognition")
    assert page.status_code == 200
    found = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    stylesheet = client.get(found.group(1))
    assert stylesheet.status_code == 200
    assert stylesheet.mimetype == "text/css"
    assert b"blockquote" in stylesheet.data
    stylesheet.close()
