"""A hostile pass over the exchange's own OpenAPI document, against a real server: one part
of each generated request is corrupted (NUL and control characters in a path or query
parameter, a header, Basic credentials or a cookie; a JSON body with too many digits, a
duplicate name, another charset or invalid UTF-8): a 4xx, never a 5xx. A module of its own so
that it runs beside the schemathesis module on the other worker."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from flask import Flask
from schemathesis.core.result import Ok

from exchange.apidoc.spec import build_document
from exchange.organisations.models import Role
from tests.apidoc.fuzzing import HostileCount, hostile_failures
from tests.factories import add_member


@pytest.mark.e2e
def test_hostile_requests_to_every_operation_are_never_a_server_error(
    app: Flask, live_server: str
) -> None:
    """Through gunicorn, which refuses some of it itself (a raw NUL in a header, say)."""
    supplier = add_member(app, Role.SUPPLIER)
    pushed = requests.post(
        f"{live_server}/api/v1/footprints",
        json=supplier.envelope(),
        headers=supplier.headers,
        timeout=30,
    )
    assert pushed.status_code == 201, pushed.text
    with app.test_request_context():
        schema = schemathesis.openapi.from_dict(build_document(app))
    count: HostileCount = {"tried": 0, "server errors": 0}
    known = {
        "record_id": pushed.json()["id"],
        "organisation_id": supplier.organisation_id,
        "kid": supplier.key.kid,
    }
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document is our own: every operation loads
        failures += hostile_failures(result.ok(), live_server, supplier.headers, known, count)
    assert count["tried"] >= 200, count
    assert not failures, f"{count}\n" + "\n\n".join(failures)
