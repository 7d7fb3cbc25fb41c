"""Portal sessions live in the database: a copy of someone's cookie, taken while they were
signed in, opens nothing after they sign out, change their password, are disabled, or leave
the session idle, on whichever worker or node it is replayed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange import create_app
from exchange.db import transaction, utcnow
from exchange.organisations.models import Role
from exchange.portal import services
from exchange.portal.models import PortalSession, PortalUser
from tests.factories import add_member
from tests.portal.helpers import PASSWORD, add_user, post, sign_in, text

COOKIE = "fx_portal"
PAGE = "/portal/keys"  # any page behind the sign-in


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(app: Flask) -> Clock:
    moved = Clock()
    app.extensions["exchange.portal.clock"] = moved
    return moved


def copy_cookie(client: FlaskClient, app: Flask) -> FlaskClient:
    """The attacker's browser, holding a copy of ``client``'s session cookie."""
    stolen = client.get_cookie(COOKIE)
    assert stolen is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen.value)
    return thief


def signed_in(response_status: int) -> bool:
    # A page behind the sign-in answers 200, or 303 to the sign-in page without a session.
    assert response_status in (200, 303)
    return response_status == 200


@pytest.fixture
def victim(app: Flask, client: FlaskClient) -> Iterator[tuple[FlaskClient, str]]:
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "victim@example.cn")
    sign_in(client, email)
    yield client, email


def user_of(app: Flask, email: str) -> PortalUser:
    with transaction(app.extensions["exchange.sessions"]) as session:
        user = services.user_by_email(session, email)
        session.expunge(user)
        return user


def test_a_copied_cookie_opens_nothing_after_sign_out(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, _email = victim
    thief = copy_cookie(client, app)
    assert signed_in(thief.get(PAGE).status_code)  # the copy works while the session lives
    assert post(client, "/portal/logout").status_code == 303
    replay = thief.get(PAGE)
    assert replay.status_code == 303 and "/portal/login" in replay.headers["Location"]
    assert not signed_in(client.get(PAGE).status_code)


def test_sign_out_on_one_node_ends_the_session_on_every_node(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, _email = victim
    other_node = create_app(
        {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True},
        instance_path=app.instance_path,
    )
    try:
        thief = copy_cookie(client, other_node)
        assert signed_in(thief.get(PAGE).status_code)
        assert post(client, "/portal/logout").status_code == 303
        assert not signed_in(thief.get(PAGE).status_code)
    finally:
        other_node.extensions["exchange.engine"].dispose()


def test_a_password_change_ends_every_other_session(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, email = victim
    thief = copy_cookie(client, app)
    second_browser = app.test_client()
    sign_in(second_browser, email)
    new_password = "a brand new passphrase"
    changed = post(
        client,
        "/portal/password",
        {"password": PASSWORD, "new_password": new_password, "confirm_password": new_password},
    )
    assert changed.status_code == 303, text(changed)[:500]
    assert not signed_in(thief.get(PAGE).status_code)
    assert not signed_in(second_browser.get(PAGE).status_code)
    # The person who changed it carries on, in a new session.
    assert signed_in(client.get(PAGE).status_code)
    assert copy_cookie(client, app).get_cookie(COOKIE) != thief.get_cookie(COOKIE)
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert services.sign_in(session, email=email, password=new_password).email == email


def test_a_wrong_current_password_changes_nothing(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, email = victim
    thief = copy_cookie(client, app)
    wrong = post(
        client,
        "/portal/password",
        {"password": "not it at all", "new_password": "x" * 12, "confirm_password": "x" * 12},
    )
    short = post(
        client,
        "/portal/password",
        {"password": PASSWORD, "new_password": "short", "confirm_password": "short"},
    )
    differ = post(
        client,
        "/portal/password",
        {"password": PASSWORD, "new_password": "x" * 12, "confirm_password": "y" * 12},
    )
    assert (wrong.status_code, short.status_code, differ.status_code) == (400, 400, 400)
    assert "The current password is wrong." in text(wrong)
    assert signed_in(thief.get(PAGE).status_code)  # nothing changed, nothing ended
    with transaction(app.extensions["exchange.sessions"]) as session:
        assert services.sign_in(session, email=email, password=PASSWORD).email == email


def test_an_operators_reset_and_disabling_end_the_sessions(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, email = victim
    runner = app.test_cli_runner()
    thief = copy_cookie(client, app)
    reset = runner.invoke(
        args=["portal", "set-password", "--email", email],
        env={"EXCHANGE_PORTAL_PASSWORD": "z" * 12},
    )
    assert reset.exit_code == 0, reset.output
    assert not signed_in(thief.get(PAGE).status_code)
    assert not signed_in(client.get(PAGE).status_code)

    fresh = app.test_client()
    with transaction(app.extensions["exchange.sessions"]) as session:
        user = services.user_by_email(session, email)
        services.set_password(session, user, PASSWORD)
    sign_in(fresh, email)
    thief = copy_cookie(fresh, app)
    disabled = runner.invoke(args=["portal", "disable-user", "--email", email])
    assert disabled.exit_code == 0, disabled.output
    assert not signed_in(thief.get(PAGE).status_code)
    assert not signed_in(fresh.get(PAGE).status_code)
    with transaction(app.extensions["exchange.sessions"]) as session:
        count = sa.select(sa.func.count()).select_from(PortalSession)
        assert session.scalar(count) == 0
    # Enabling again does not bring an old session back.
    assert runner.invoke(args=["portal", "enable-user", "--email", email]).exit_code == 0
    assert not signed_in(thief.get(PAGE).status_code)
    unknown = runner.invoke(args=["portal", "disable-user", "--email", "nobody@example.cn"])
    assert unknown.exit_code != 0 and "no portal user" in unknown.output


def test_a_session_ends_after_the_idle_time_and_its_lifetime(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    idle = dt.timedelta(seconds=app.config["PORTAL_SESSION_IDLE_SECONDS"])
    lifetime = dt.timedelta(seconds=app.config["PORTAL_SESSION_LIFETIME_SECONDS"])
    assert idle < lifetime
    member = add_member(app, Role.SUPPLIER)
    email = add_user(app, member, "idle@example.cn")
    sign_in(client, email)
    thief = copy_cookie(client, app)
    # Used just within the idle time, again and again: it lives on...
    for _ in range(3):
        clock.now += idle - dt.timedelta(seconds=5)
        assert signed_in(client.get(PAGE).status_code)
    # ... a copy left unused meanwhile is the same session, so it lives too; then nobody
    # comes for the idle time, and neither opens anything.
    clock.now += idle
    assert not signed_in(thief.get(PAGE).status_code)
    assert not signed_in(client.get(PAGE).status_code)

    # However busy, a session ends at its lifetime after sign-in.
    sign_in(client, email)
    started = clock.now
    while clock.now - started < lifetime - idle:
        clock.now += idle / 2
        assert signed_in(client.get(PAGE).status_code)
    clock.now = started + lifetime
    assert not signed_in(client.get(PAGE).status_code)


def test_the_database_holds_no_usable_session_token(
    app: Flask, victim: tuple[FlaskClient, str]
) -> None:
    client, _email = victim
    with transaction(app.extensions["exchange.sessions"]) as session:
        stored = session.scalars(sa.select(PortalSession.token_hash)).one()
    with client.session_transaction() as cookie_session:
        assert cookie_session["sid"] != stored
    # A backup's row, put in a forged cookie, is not the token the cookie carries.
    assert len(stored) == 64
    forged = app.test_client()
    with forged.session_transaction() as cookie_session:
        cookie_session["sid"] = stored
    assert not signed_in(forged.get(PAGE).status_code)
    # A cookie of the old kind (a user id, signed with the same key) is no session at all.
    old_kind = app.test_client()
    with old_kind.session_transaction() as cookie_session:
        cookie_session["user_id"] = user_of(app, "victim@example.cn").id
    assert not signed_in(old_kind.get(PAGE).status_code)
