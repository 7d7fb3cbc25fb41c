"""Schemathesis over the exchange's own OpenAPI document, against a real server: as a supplier,
a chain-owner and the regulator with their bearer tokens, and anonymously, no answer may be a
5xx or break the document.

Each generated request is sent as every caller (generating it was most of the fuzz's CPU). The
operations are split into parts, each a test with a server of its own: together they are the
suite's longest run (thousands of requests), and apart they run on both pytest workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from flask import Flask

from exchange.apidoc.spec import build_document
from exchange.organisations.models import Role
from tests.apidoc.fuzzing import Caller, failures_of
from tests.e2e.conftest import running_server
from tests.factories import add_member

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A server of this test's own (the ``app`` fixture empties the database after it)."""
    with running_server(database_url, tmp_path / "instance", tmp_path / "server.log") as url:
        yield url


# The operations in this many parts, each a test with a server of its own.
PARTS = 4


@pytest.mark.parametrize("part", range(PARTS), ids=lambda part: f"part-{part + 1}-of-{PARTS}")
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    app: Flask, own_server: str, part: int
) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    customer = add_member(app, Role.CHAIN_OWNER)
    regulator = add_member(app, Role.REGULATOR)
    envelope = supplier.envelope()
    pushed = requests.post(
        f"{own_server}/api/v1/footprints", json=envelope, headers=supplier.headers, timeout=30
    )
    assert pushed.status_code == 201, pushed.text
    record_id = pushed.json()["id"]
    # The chain-owner reads the record through a share, as a customer does.
    shared = requests.post(
        f"{own_server}/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": record_id},
        headers=supplier.headers,
        timeout=30,
    )
    assert shared.status_code == 201, shared.text
    read = requests.get(
        f"{own_server}/3/footprints/{record_id}", headers=customer.headers, timeout=30
    )
    assert read.status_code == 200, read.text
    with app.test_request_context():
        schema = schemathesis.openapi.from_dict(build_document(app))
    # Each role with the ids it knows: the record (its own, or shared with it), its own
    # organisation and key; the anonymous caller with the generated ones.
    callers = [Caller("anonymous", {}, {})] + [
        Caller(
            name,
            member.headers,
            {
                "record_id": record_id,
                "organisation_id": member.organisation_id,
                "kid": member.key.kid,
            },
            only_token_readers=member is not supplier,
        )
        for name, member in (
            ("supplier", supplier),
            ("chain-owner", customer),
            ("regulator", regulator),
        )
    ]
    failures = failures_of(schema, own_server, callers, part=part, parts=PARTS)
    assert not failures, "\n\n".join(failures)


def test_a_url_beyond_gunicorns_request_line_limit_is_refused_as_documented(
    app: Flask, own_server: str
) -> None:
    """Refused by gunicorn itself (found by a randomised run: GET /api/v1/factors with a long
    query), with the answer the document gives every operation."""
    too_long = requests.get(f"{own_server}/api/v1/factors", params={"q": "x" * 5000}, timeout=30)
    assert too_long.status_code == 414
    with app.test_request_context():
        document = build_document(app)
    documented = document["paths"]["/api/v1/factors"]["get"]["responses"]["414"]
    assert too_long.headers["Content-Type"].split(";")[0] in documented["content"]
