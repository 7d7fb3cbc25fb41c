"""The served OpenAPI document: valid OpenAPI 3.1, complete, and true to PACT's examples."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from exchange import limits
from exchange.apidoc.spec import NOT_API, PREFIXES, documented_rules, openapi_path
from exchange.db import ROW_ID_MAX
from exchange.organisations.models import Role
from tests.conftest import PACT_DIR
from tests.factories import add_member


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = response.get_json()
    assert isinstance(document, dict)
    return document


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    document = _document(client)
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_api_route_and_method_is_documented(app: Flask, client: FlaskClient) -> None:
    paths = _document(client)["paths"]
    api_rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIXES) and rule.endpoint not in NOT_API
    ]
    assert {rule.endpoint for rule in api_rules} == {
        rule.endpoint for rule in documented_rules(app)
    }
    missing = []
    for rule in api_rules:
        path, _ = openapi_path(rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing
    # And nothing beyond them.
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    expected = {
        (openapi_path(rule)[0], method.lower())
        for rule in api_rules
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert documented == expected


def test_path_parameters_carry_their_types(client: FlaskClient) -> None:
    paths = _document(client)["paths"]
    certificate = paths["/api/v1/certificates/{certificate_id}"]["get"]["parameters"][0]
    assert certificate["schema"] == {"type": "integer", "minimum": 0, "maximum": ROW_ID_MAX}
    kind = paths["/api/v1/trade/records/{record_id}/{kind}"]["get"]["parameters"][1]
    assert kind["schema"]["enum"] == ["battery-declaration", "cbam-report"]


def test_security_follows_the_declarations(client: FlaskClient) -> None:
    paths = _document(client)["paths"]
    assert paths["/api/v1/shares"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/footprints/{record_id}"]["get"]["security"] == [{}, {"bearerAuth": []}]
    assert paths["/.well-known/jwks.json"]["get"]["security"] == []
    assert paths["/auth/token"]["post"]["security"] == [{"basicAuth": []}, {}]
    assert "bearerAuth" in _document(client)["components"]["securitySchemes"]


def _placeholder(parameter: dict[str, Any]) -> str:
    """A well-formed value of the parameter that names nothing: a malformed id is refused
    (404) before the caller is looked at."""
    schema = parameter["schema"]
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema["type"] == "integer":
        return "987654321"
    if schema.get("maxLength") == limits.KID:
        return "A" * limits.KID
    return "00000000-0000-4000-8000-000000000000"


def test_every_operation_answers_anonymous_and_bad_token_calls_as_documented(
    app: Flask, client: FlaskClient
) -> None:
    """Behaviour, not the document's word: called without a token, exactly the operations
    documented bearer-only answer 401; called with a token that names nothing, exactly those
    documented with bearerAuth (required or optional) answer 401; with a valid token, none
    does. A view that reads its caller otherwise than its endpoint declares (and so than the
    document says) fails here: access.require_principal and access.optional_principal refuse to
    run."""
    member = add_member(app, Role.SUPPLIER)
    wrong = []
    for path, operations in _document(client)["paths"].items():
        for method, operation in operations.items():
            security = operation["security"]
            if {"basicAuth": []} in security:
                continue  # the token endpoint: OAuth2's own client authentication
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", _placeholder(parameter))
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            for headers, expected in (
                ({}, security == [{"bearerAuth": []}]),
                ({"Authorization": "Bearer no-such-token"}, {"bearerAuth": []} in security),
                (member.headers, False),
            ):
                response = client.open(url, method=method.upper(), json=body, headers=headers)
                if (response.status_code == 401) != expected:
                    wrong.append(f"{method.upper()} {path} {headers}: {response.status_code}")
                response.close()
    assert not wrong, "\n".join(wrong)


def test_every_error_status_has_the_common_error_body(client: FlaskClient) -> None:
    document = _document(client)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400 or path == "/auth/token" or "html" in path:
                    continue
                if status == "414":  # gunicorn's own page, before the app (test_fuzz)
                    assert set(response["content"]) == {"text/html"}, (method, path)
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Validator:
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


def test_pact_examples_match_the_documented_pact_answers(client: FlaskClient) -> None:
    document = _document(client)
    listed = document["paths"]["/3/footprints"]["get"]["responses"]["200"]
    one = document["paths"]["/3/footprints/{record_id}"]["get"]["responses"]["200"]
    list_example = json.loads((PACT_DIR / "examples" / "list-footprints-response.json").read_text())
    get_example = json.loads((PACT_DIR / "examples" / "get-footprint-response.json").read_text())
    _validator(document, listed["content"]["application/json"]["schema"]).validate(list_example)
    _validator(document, one["content"]["application/json"]["schema"]).validate(get_example)
    broken = {"data": {**get_example["data"], "pcf": "none"}}
    assert not _validator(document, one["content"]["application/json"]["schema"]).is_valid(broken)
