"""The portal's sign-in lockout: per account and per address, reset by a good sign-in,
explained in both languages, and visible to the operator in the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

from exchange import create_app
from exchange.organisations.models import Role
from tests.conftest import empty_all_tables
from tests.factories import add_member
from tests.portal.helpers import PASSWORD, add_user, csrf

ADDRESS = "192.0.2.33"


@pytest.fixture
def portal(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Flask]:
    application = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "LOGIN_LOCKOUT_ACCOUNT": "3/900",
            "LOGIN_LOCKOUT_ADDRESS": "8/900",
        },
        instance_path=str(tmp_path / "instance"),
    )
    yield application
    application.extensions["exchange.engine"].dispose()
    empty_all_tables(engine)


def attempt(client: FlaskClient, email: str, password: str, address: str = ADDRESS) -> TestResponse:
    return client.post(
        "/portal/login",
        data={"email": email, "password": password, "csrf_token": csrf(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_an_account_locks_after_repeated_failures_even_for_the_right_password(
    portal: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    email = add_user(portal, add_member(portal, Role.SUPPLIER), "li@coop.example")
    client = portal.test_client()
    client.set_cookie("portal_lang", "en")
    caplog.set_level(logging.WARNING, logger="exchange.security")
    for _ in range(3):
        assert attempt(client, email, "wrong password!").status_code == 401
    locked = attempt(client, email, PASSWORD)
    assert locked.status_code == 429
    page = locked.get_data(as_text=True)
    assert "Too many failed sign-in attempts." in page
    assert re.search(r"Try again in ([1-9]|1[0-5]) minutes\.", page)
    assert 1 <= int(locked.headers["Retry-After"]) <= 900
    # The same in Chinese.
    client.set_cookie("portal_lang", "zh")
    chinese = attempt(client, email.upper(), PASSWORD).get_data(as_text=True)
    assert "登录失败次数过多" in chinese
    assert "分钟后重试" in chinese
    # Still not signed in: the portal asks for the sign-in page.
    assert client.get("/portal/keys").status_code == 303
    # The operator sees who failed, from where, and the lock.
    messages = [record.getMessage() for record in caplog.records]
    assert any("sign-in failed for li@coop.example from 192.0.2.33" in m for m in messages)
    assert any("portal account li@coop.example is locked" in m for m in messages)
    assert any("refused for li@coop.example" in m for m in messages)
    # Another person signs in from elsewhere as usual.
    other = add_user(portal, add_member(portal, Role.SUPPLIER), "wang@farm.example")
    assert attempt(portal.test_client(), other, PASSWORD, "192.0.2.99").status_code == 303


def test_a_successful_sign_in_forgives_the_failures(portal: Flask) -> None:
    email = add_user(portal, add_member(portal, Role.SUPPLIER), "chen@coop.example")
    client = portal.test_client()
    for _ in range(2):
        assert attempt(client, email, "wrong password!").status_code == 401
    assert attempt(client, email, PASSWORD).status_code == 303
    for _ in range(2):
        assert attempt(portal.test_client(), email, "wrong password!").status_code == 401
    assert attempt(portal.test_client(), email, PASSWORD).status_code == 303


def test_an_address_guessing_many_accounts_is_locked_out(portal: Flask) -> None:
    member = add_member(portal, Role.SUPPLIER)
    real = add_user(portal, member, "zhou@coop.example")
    client = portal.test_client()
    for number in range(8):
        assert attempt(client, f"guess{number}@coop.example", "password123").status_code == 401
    assert attempt(client, real, PASSWORD).status_code == 429
    assert attempt(portal.test_client(), real, PASSWORD, "192.0.2.34").status_code == 303


def test_the_operator_can_lift_a_lock(portal: Flask) -> None:
    email = add_user(portal, add_member(portal, Role.SUPPLIER), "he@coop.example")
    client = portal.test_client()
    for _ in range(3):
        attempt(client, email, "wrong password!")
    assert attempt(client, email, PASSWORD).status_code == 429
    runner = portal.test_cli_runner()
    assert runner.invoke(args=["security", "unlock"]).exit_code == 2
    result = runner.invoke(args=["security", "unlock", "--email", "HE@coop.example"])
    assert result.exit_code == 0, result.output
    assert "unlocked the account he@coop.example" in result.output
    assert attempt(client, email, PASSWORD).status_code == 303
