"""Portal test helpers: people who sign in for the test organisations, and CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from exchange.db import transaction
from exchange.portal import services
from tests.factories import Member

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(app: Flask, member: Member, email: str, *, language: str = "en") -> str:
    with transaction(app.extensions["exchange.sessions"]) as session:
        services.create_user(
            session,
            organisation_id=member.organisation_id,
            email=email,
            name=email.split("@")[0],
            password=PASSWORD,
            language=language,
        )
    return email


def csrf(client: FlaskClient, path: str = "/portal/login") -> str:
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found is not None, page.get_data(as_text=True)[:500]
    return found.group(1)


def sign_in(client: FlaskClient, email: str) -> None:
    response = client.post(
        "/portal/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(client)},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> TestResponse:
    """A form post with this session's token, as the page's own form sends it."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf(client, "/portal/")})


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)
