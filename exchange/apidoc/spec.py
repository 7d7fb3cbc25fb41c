"""Build the OpenAPI 3.1 document of the exchange's API from the app's own routes.

Paths, methods and path parameters come from ``app.url_map``, so a new route appears by
itself; what the routes cannot tell (query parameters, request bodies, response shapes) comes
from :mod:`exchange.apidoc.operations`, keyed by the Flask endpoint name. Whether an operation
needs a bearer token is read from its view: a view (or a helper of its module it calls) that
calls ``require_principal`` needs one, ``optional_principal`` takes one.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Iterator
from typing import Any, Final

from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from exchange import authentication
from exchange.apidoc import operations
from exchange.apidoc.operations import JSON, Op
from exchange.authentication import Authentication
from exchange.db import ROW_ID_MAX
from exchange.routing import PathValueConverter

# The prefixes the document covers; pages, the portal and static files are not API.
PREFIXES: Final = ("/api/v1", "/auth", "/3", "/.well-known")
# Routes under those prefixes that serve files, not an API.
NOT_API: Final = frozenset({"scenarios.static"})
# <name>, <converter:name>, <converter(arguments):name>
_VARIABLE: Final = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
REF: Final = "#/components/schemas/{model}"
ERROR_SCHEMA: Final = {"$ref": "#/components/schemas/Error"}
_ERROR_TEXT: Final = {
    400: "bad request: a parameter or the body is not valid",
    401: "no bearer token, or an unknown, revoked or expired one",
    403: "the caller may not do this (scope or role)",
    404: "no such resource, or one the caller may not see",
    409: "contradicts what is stored",
    413: "the body is larger than the limit",
    415: "the body is not of a media type the operation takes",
    422: "the record lacks data this answer needs (what is missing, field by field)",
}


def documented_rules(app: Flask) -> Iterator[Rule]:
    """Every route the document must describe."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_API or rule.endpoint == "static":
            continue
        if any(rule.rule == prefix or rule.rule.startswith(prefix + "/") for prefix in PREFIXES):
            yield rule


def openapi_path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """The rule's path in OpenAPI form and its path parameters with their types."""
    parameters: list[dict[str, Any]] = []

    def placeholder(match: re.Match[str]) -> str:
        name = match.group(1)
        parameters.append(
            {"name": name, "in": "path", "required": True, "schema": _converter_schema(rule, name)}
        )
        return "{" + name + "}"

    return _VARIABLE.sub(placeholder, rule.rule), parameters


def _converter_schema(rule: Rule, name: str) -> dict[str, Any]:
    converter = rule._converters[name]  # the bound converter werkzeug built for this rule
    if isinstance(converter, PathValueConverter):
        # A kind of id (exchange.routing): its pattern and lengths; anything else is a 404.
        return converter.json_schema()
    kind = type(converter).__name__
    if kind in ("IntegerConverter", "RowIdConverter"):
        # A larger row id is answered 404 (it names no row).
        maximum = ROW_ID_MAX if kind == "RowIdConverter" else getattr(converter, "max", None)
        schema: dict[str, Any] = {"type": "integer", "minimum": 0}
        if maximum is not None:
            schema["maximum"] = maximum
        return schema
    if kind == "AnyConverter":
        regex = converter.regex  # "(?:battery\-declaration|cbam\-report)"
        choices = regex[3:-1].replace("\\", "").split("|")
        return {"type": "string", "enum": choices}
    if kind == "PathConverter":
        return {"type": "string", "minLength": 1}
    # The default converter takes one non-empty segment: no slash.
    return {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}


class _Schemas:
    """The document's ``components/schemas``: pydantic models and their definitions."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def of(self, schema: type[BaseModel] | dict[str, Any], mode: str) -> dict[str, Any]:
        if isinstance(schema, dict):
            found = copy.deepcopy(schema)
            for name, definition in found.pop("$defs", {}).items():
                self.components.setdefault(name, definition)
            return found
        generated = schema.model_json_schema(
            by_alias=True,
            ref_template=REF,
            mode="serialization" if mode == "response" else "validation",
        )
        for name, definition in generated.pop("$defs", {}).items():
            self.components.setdefault(name, definition)
        name = schema.__name__
        self.components.setdefault(name, generated)
        return {"$ref": REF.format(model=name)}


def _media(
    schemas: _Schemas, media_types: tuple[str, ...], schema: Any, mode: str
) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media_type in media_types:
        if media_type.startswith(("application/json", "application/cloudevents+json")):
            content[media_type] = {"schema": schemas.of(schema, mode)}
        else:
            content[media_type] = {"schema": {"type": "string"}}
    return content


def _operation(
    app: Flask, rule: Rule, method: str, op: Op, schemas: _Schemas, path_parameters: list[Any]
) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    auth = authentication.of(rule.endpoint)
    doc = inspect.getdoc(view) or ""
    summary = op.summary or (doc.splitlines()[0] if doc else rule.endpoint.replace("_", " "))
    parameters = [*path_parameters]
    if op.paged:
        parameters.append(
            {
                "name": "limit",
                "in": "query",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": app.config["PAGE_SIZE_MAX"],
                },
            }
        )
    parameters.extend(copy.deepcopy(list(op.query)))
    result: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + ("" if method == "get" else "_" + method),
        "summary": summary.rstrip("."),
        "tags": [rule.endpoint.split(".")[0]],
    }
    if doc and doc != summary:
        result["description"] = doc
    if parameters:
        result["parameters"] = parameters
    # Any operation may name something that is not there (in its path, query or body).
    statuses: set[int] = {400, 404, *op.errors}
    if auth is Authentication.REQUIRED:
        result["security"] = [{"bearerAuth": []}]
        statuses |= {401, 403}
    elif auth is Authentication.OPTIONAL:
        result["security"] = [{}, {"bearerAuth": []}]
        statuses |= {401, 403}
    elif auth is Authentication.CLIENT_CREDENTIALS:
        # HTTP Basic, or the client's id and secret in the form body.
        result["security"] = [{"basicAuth": []}, {}]
    else:
        result["security"] = []
    if op.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": _media(schemas, op.body_media, op.body, "request"),
        }
        statuses |= {409, 413, 415}
    responses: dict[str, Any] = {}
    for status, (media_types, schema) in sorted(op.ok.items()):
        response: dict[str, Any] = {"description": "success" if status < 300 else "partial"}
        if media_types:
            response["content"] = _media(schemas, media_types, schema, "response")
        responses[str(status)] = response
    for status in sorted(statuses - set(op.ok)):
        if status in op.raw_errors:
            media_types, schema = op.raw_errors[status]
            content = _media(schemas, media_types, schema, "response")
        else:
            content = {"application/json": {"schema": ERROR_SCHEMA}}
        responses[str(status)] = {
            "description": _ERROR_TEXT.get(status, "error"),
            "content": content,
        }
    # Not the app's answer: gunicorn refuses a request line beyond its limit (4094 bytes)
    # itself, before the app sees the request, with its own HTML page.
    responses["414"] = {
        "description": "the URL is too long; answered by the HTTP server, not the API",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
    result["responses"] = responses
    return result


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every API route of ``app``."""
    schemas = _Schemas()
    schemas.components["Error"] = {
        "type": "object",
        "description": "The one JSON error body of the exchange; codes include PACT's.",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(documented_rules(app), key=lambda item: item.rule):
        path, path_parameters = openapi_path(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = operations.OPERATIONS.get(rule.endpoint, operations.DEFAULT)
            paths.setdefault(path, {})[method.lower()] = _operation(
                app, rule, method.lower(), op, schemas, path_parameters
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Footprint Exchange API",
            "version": "1",
            "description": (
                "Signed product carbon footprints between companies and programmes "
                "(PACT v3 host under /3). Errors have one body: Error."
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an access token from POST /auth/token",
                },
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "an API client's id and secret (OAuth2 client credentials)",
                },
            },
        },
    }


__all__ = ["JSON", "build_document", "documented_rules", "openapi_path"]
