"""exchange.web: how a database error in the middle of a request is answered."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError


class DriverError(Exception):
    """What a database driver raises."""


def failing_view(*, lost: bool) -> str:
    raise OperationalError(
        "INSERT INTO footprint_records ...", {}, DriverError("boom"), connection_invalidated=lost
    )


@pytest.mark.fresh_app  # adds a route
@pytest.mark.parametrize("lost", [True, False])
def test_a_lost_database_connection_is_503_and_any_other_database_error_500(
    app: Flask, lost: bool
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production, not as in tests
    app.add_url_rule("/failing", "failing", lambda: failing_view(lost=lost))
    response = app.test_client().get("/failing")
    body = response.get_json()
    assert set(body) == {"code", "message", "details"}
    if lost:
        assert response.status_code == 503
        assert body["code"] == "ServiceUnavailable" and "send the request again" in body["message"]
        assert response.headers["Retry-After"] == "1"
    else:
        assert response.status_code == 500
        assert body["code"] == "InternalError" and "Retry-After" not in response.headers
    assert body["details"][0]["requestId"]
