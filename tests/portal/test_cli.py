"""``exchange portal add-user``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from exchange.db import transaction
from exchange.organisations.models import Role
from exchange.portal.models import PortalUser
from tests.factories import add_member


def test_add_user(app: Flask) -> None:
    member = add_member(app, Role.SUPPLIER)
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "portal",
            "add-user",
            "--org",
            member.organisation_id,
            "--email",
            "Clerk@Coop.example",
            "--name",
            "Clerk",
            "--language",
            "en",
        ],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "clerk@coop.example" in result.output
    with transaction(app.extensions["exchange.sessions"]) as session:
        user = session.scalars(sa.select(PortalUser)).one()
        assert user.organisation_id == member.organisation_id and user.language == "en"

    short = runner.invoke(
        args=[
            *("portal", "add-user", "--org", member.organisation_id),
            *("--email", "b@coop.example", "--name", "B", "--password", "short"),
        ]
    )
    assert short.exit_code != 0
    assert "password: at least 10 characters" in short.output
    listed = runner.invoke(args=["portal", "list-users"])
    assert "clerk@coop.example" in listed.output and "b@coop.example" not in listed.output
