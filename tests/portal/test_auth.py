"""Sign-in, CSRF, roles, language and the security headers of the portal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from exchange.db import transaction
from exchange.errors import Conflict, Unauthenticated, ValidationFailed
from exchange.organisations.models import Role, SigningKey
from exchange.portal import i18n, services
from exchange.portal.models import PortalUser
from exchange.portal.views.auth import ATTENTION
from exchange.portal.views.common import ACCOUNT_PAGES, MENU_GROUPS, NAVIGATION, PUBLIC_PAGES
from tests.conftest import EXCHANGE_PASSWORD_METHOD
from tests.factories import add_member
from tests.portal.helpers import PASSWORD, add_user, csrf, post, sign_in, text

TEMPLATES = Path(__file__).resolve().parents[2] / "exchange" / "portal" / "templates" / "portal"


def test_password_is_hashed_and_checked(app: Flask) -> None:
    member = add_member(app, Role.SUPPLIER)
    add_user(app, member, "Li.Wei@Example.cn")
    with transaction(app.extensions["exchange.sessions"]) as session:
        user = session.scalars(sa.select(PortalUser)).one()
        assert user.email == "li.wei@example.cn"
        assert PASSWORD not in user.password_hash and user.password_hash.startswith("scrypt:")
        assert services.sign_in(session, email="LI.WEI@example.cn", password=PASSWORD).id == user.id
        with pytest.raises(Unauthenticated):
            services.sign_in(session, email="li.wei@example.cn", password=PASSWORD + "x")
        with pytest.raises(Unauthenticated):
            services.sign_in(session, email="nobody@example.cn", password=PASSWORD)
        with pytest.raises(Conflict):
            services.create_user(
                session,
                organisation_id=member.organisation_id,
                email="li.wei@example.cn",
                name="Li",
                password=PASSWORD,
            )
        with pytest.raises(ValidationFailed) as refused:
            services.create_user(
                session, organisation_id=member.organisation_id, email="x", name="", password="s"
            )
        fields = {item["field"] for item in refused.value.details}
        assert fields == {"email", "name", "password"}


def test_the_exchange_hashes_passwords_with_full_strength_scrypt() -> None:
    """The tests' cheaper work factor (tests/conftest.py) is theirs alone."""
    assert EXCHANGE_PASSWORD_METHOD == "scrypt"  # werkzeug's default: N = 2**15, r = 8, p = 1
    hashed = generate_password_hash(PASSWORD, EXCHANGE_PASSWORD_METHOD)
    assert hashed.startswith("scrypt:32768:8:1$")


def test_sign_in_and_out(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "clerk@example.cn")
    wrong = client.post(
        "/portal/login", data={"email": email, "password": "nope", "csrf_token": csrf(client)}
    )
    assert wrong.status_code == 401
    assert "Unknown e-mail or wrong password" in text(wrong) or "密码" in text(wrong)
    assert client.get("/portal/records").status_code == 303  # to the sign-in page

    sign_in(client, email)
    page = client.get("/portal/records")
    assert page.status_code == 200
    assert "Test company" in text(page)
    out = post(client, "/portal/logout")
    assert out.status_code == 303
    again = client.get("/portal/records")
    assert again.status_code == 303 and "/portal/login" in again.headers["Location"]


def test_sign_in_redirects_only_within_the_site(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "next@example.cn")
    response = client.post(
        "/portal/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": csrf(client),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["Location"] == "/portal/"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "/portal/\r\nX: y", ""],
)
def test_safe_next_stays_on_the_site(target: str) -> None:
    from exchange.portal.views.common import safe_next

    assert safe_next(target, "/portal/") == "/portal/"
    assert safe_next("/portal/records?view=visible", "/portal/") == "/portal/records?view=visible"


def test_posts_without_or_with_a_wrong_token_are_refused_and_change_nothing(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.SUPPLIER, register_key=False)
    sign_in(client, add_user(app, member, "csrf@example.cn"))
    jwk = '{"kty": "OKP", "crv": "Ed25519", "x": "' + member.key.public_jwk()["x"] + '"}'
    without = client.post("/portal/keys", data={"jwk": jwk})
    wrong = client.post("/portal/keys", data={"jwk": jwk, "csrf_token": "forged"})
    header = client.post("/portal/keys", data={"jwk": jwk}, headers={"X-CSRF-Token": "forged"})
    for response in (without, wrong, header):
        assert response.status_code == 403
        assert "did not come from this site" in text(response)
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SigningKey)) == 0
    # The same form with the page's token works.
    assert post(client, "/portal/keys", {"jwk": jwk}).status_code == 303
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(SigningKey)) == 1


def test_sign_in_itself_needs_the_token(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "login-csrf@example.cn")
    response = client.post("/portal/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/portal/records").status_code == 303


def test_a_private_key_is_never_taken(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER, register_key=False)
    sign_in(client, add_user(app, member, "private@example.cn"))
    document = dict(member.key.public_jwk())
    document["d"] = "A" * 43
    import json

    refused = post(client, "/portal/keys", {"jwk": json.dumps(document)})
    assert refused.status_code == 400
    assert "private key" in text(refused)


@pytest.mark.parametrize(
    "path",
    [
        "/portal/regulator",
        "/portal/regulator/factors",
        "/portal/regulator/rules",
        "/portal/regulator/grading",
        "/portal/regulator/accreditation",
        "/portal/certification",
        "/portal/products",
    ],
)
def test_a_supplier_cannot_open_other_roles_pages(
    app: Flask, client: FlaskClient, path: str
) -> None:
    member = add_member(app, Role.SUPPLIER)
    sign_in(client, add_user(app, member, "supplier@example.cn"))
    response = client.get(path)
    assert response.status_code == 403
    assert "do not allow this page" in text(response)


def test_a_supplier_cannot_post_to_the_regulators_forms(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    body = add_member(app, Role.CERTIFICATION_BODY)
    sign_in(client, add_user(app, member, "sneaky@example.cn"))
    response = post(
        client,
        f"/portal/regulator/accreditation/{body.organisation_id}",
        {"status": "granted", "reason": "self-service"},
    )
    assert response.status_code == 403
    assert client.get("/api/v1/accreditations").get_json()["data"] == []


def test_language_switch_is_remembered(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "lang@example.cn", language="en")
    page = client.get("/portal/login", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in text(page)
    assert "Sign in" in text(page)
    response = client.post(
        "/portal/language", data={"lang": "zh", "next": "/portal/login", "csrf_token": csrf(client)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/portal/login"
    page = client.get("/portal/login", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in text(page)
    assert "登录" in text(page)
    # Signed in, a switch is kept on the user too.
    sign_in(client, email)
    post(client, "/portal/language", {"lang": "en"})
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert session.scalars(sa.select(PortalUser.language)).one() == "en"


def test_pages_carry_a_strict_policy_and_no_inline_code(app: Flask, client: FlaskClient) -> None:
    member = add_member(app, Role.SUPPLIER, Role.CHAIN_OWNER)
    sign_in(client, add_user(app, member, "csp@example.cn"))
    for path in ("/portal/", "/portal/records", "/portal/upload", "/portal/keys", "/portal/verify"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = text(response)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert " style=" not in html, path
        assert 'rel="stylesheet"' in html


def test_every_template_has_labels_for_its_fields() -> None:
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text()
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
        hidden = set(re.findall(r'<input[^>]*type="hidden"[^>]*id="([^"]+)"', html))
        hidden |= set(re.findall(r'<input[^>]*id="([^"]+)"[^>]*type="hidden"', html))
        labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', html))
        assert ids - hidden <= labelled, (template.name, ids - hidden - labelled)


def test_every_text_has_a_chinese_translation() -> None:
    pattern = re.compile(r"""_\(\s*"((?:[^"\\]|\\.)*)"|_\(\s*'((?:[^'\\]|\\.)*)'""")
    wanted: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        for double, single in pattern.findall(template.read_text()):
            wanted.add(double or single)
    for items in NAVIGATION.values():
        wanted |= {label for _endpoint, label in items}
    wanted |= {label for label, _endpoints in MENU_GROUPS} | {"More"}
    wanted |= {label for _endpoint, label in PUBLIC_PAGES + ACCOUNT_PAGES}
    wanted |= {label for label, _endpoint in ATTENTION.values()}
    missing = sorted(text for text in wanted if text not in i18n.ZH)
    assert missing == []


def test_signing_in_keeps_the_language_the_sign_in_page_was_read_in(
    app: Flask, client: FlaskClient
) -> None:
    """An account stored in Chinese, a browser asking for English: the sign-in page was read
    in English, so the portal stays English after signing in, and the account follows."""
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "kept@example.cn", language="zh")
    english = {"Accept-Language": "en-GB,en;q=0.9"}
    assert '<html lang="en">' in text(client.get("/portal/login", headers=english))
    token = csrf(client)
    signed_in = client.post(
        "/portal/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers=english,
    )
    assert signed_in.status_code == 303
    home = text(client.get("/portal/", headers=english))
    assert '<html lang="en">' in home and "Welcome" in home
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert session.scalars(sa.select(PortalUser.language)).one() == "en"
    # A browser that names no language gets the account's.
    other = app.test_client()
    sign_in(other, email)
    assert '<html lang="en">' in text(other.get("/portal/"))
