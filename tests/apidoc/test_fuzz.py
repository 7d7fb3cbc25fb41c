"""Schemathesis over the exchange's own OpenAPI document, against a real server: as a supplier
with a bearer token and anonymously, no answer may be a 5xx or break the document."""

from __future__ import annotations

from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from exchange.apidoc.spec import build_document
from exchange.partners.models import Role
from tests.factories import add_member

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Small and derandomised: the same cases every run, a few minutes at most on a loaded machine.
EXAMPLES = 8


def _fuzz(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    path_parameters: dict[str, Any],
    mode: GenerationMode,
) -> None:
    known = {
        name: value
        for name, value in path_parameters.items()
        if any(parameter.name == name for parameter in operation.path_parameters)
    }

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(mode, path_parameters=known or None))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


def _failures(
    schema: Any, base_url: str, headers: dict[str, str], known: dict[str, Any]
) -> list[str]:
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, base_url, headers, known, mode)
            except hypothesis.errors.Unsatisfiable:
                # Nothing to make invalid: no parameters, no body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:
                found.append(f"{operation.label} ({mode.value}):\n{exc}")
    return found


@pytest.mark.e2e
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    app: Flask, live_server: str
) -> None:
    supplier = add_member(app, Role.SUPPLIER)
    customer = add_member(app, Role.CHAIN_OWNER)
    envelope = supplier.envelope()
    pushed = requests.post(
        f"{live_server}/api/v1/footprints", json=envelope, headers=supplier.headers, timeout=30
    )
    assert pushed.status_code == 201, pushed.text
    record_id = pushed.json()["id"]
    with app.test_request_context():
        document = build_document(app)
    schema = schemathesis.openapi.from_dict(document)
    known = {
        "record_id": record_id,
        "organisation_id": supplier.organisation_id,
        "kid": supplier.key.kid,
    }
    failures = _failures(schema, live_server, supplier.headers, known)
    failures += _failures(schema, live_server, {}, {})
    assert customer.organisation_id
    assert not failures, "\n\n".join(failures)
