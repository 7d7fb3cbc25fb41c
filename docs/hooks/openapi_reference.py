"""MkDocs hook: the API reference page, rendered at build time from the OpenAPI document.

The page ``api/reference.md`` holds a marker; this hook replaces it with every operation of
the document that the app itself serves at ``GET /api/v1/openapi.json`` (built by
``exchange.apidoc`` from the app's routes). The app is built with a throwaway instance folder
and SQLite file, so the build needs no database, no network and no configuration, and the
page can never drift from the routes: a new route appears in the next ``make docs``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

PAGE = "api/reference.md"
MARKER = "<!-- openapi-operations -->"
METHODS = ("get", "post", "put", "patch", "delete")

_document: dict[str, Any] | None = None


def served_document() -> dict[str, Any]:
    """The OpenAPI document as ``GET /api/v1/openapi.json`` answers it, on a fresh app."""
    from exchange import create_app
    from exchange.system.services import upgrade_database

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with tempfile.TemporaryDirectory(prefix="exchange-docs-") as instance:
        # A migrated database, as any served exchange has: hooks that run before every
        # request (agreement expiries) read it.
        database_url = f"sqlite:///{Path(instance) / 'exchange.db'}"
        upgrade_database(database_url)
        app = create_app(
            {
                "DATABASE_URL": database_url,
                # The build's own environment must not change what is documented.
                "REQUIRE_HTTPS": False,
                "ACCESS_LOG": None,
                # No access-log line for the one request in the build's output.
                "LOG_LEVEL": "WARNING",
                "METRICS_DIRECTORY": None,
                "METRICS_TOKEN": None,
            },
            instance_path=instance,
        )
        try:
            response = app.test_client().get("/api/v1/openapi.json")
            if response.status_code != 200:
                raise PluginError(
                    f"GET /api/v1/openapi.json answered {response.status_code}: "
                    f"{response.get_data(as_text=True)[:300]}"
                )
            document: dict[str, Any] = response.get_json()
        finally:
            app.extensions["exchange.engine"].dispose()
            # create_app installs the exchange's JSON log handler on the root logger; the
            # build's own messages stay as MkDocs prints them.
            root.handlers[:] = handlers
            root.setLevel(level)
    return document


def _text(text: str) -> str:
    """A docstring's first line as Markdown: one line, reST literals as Markdown code."""
    return " ".join(text.split()).replace("``", "`").replace("<", "&lt;")


def _auth(operation: dict[str, Any]) -> str:
    schemes = [next(iter(item), None) for item in operation.get("security", [])]
    if not schemes:
        return "no authentication"
    if "basicAuth" in schemes:
        return "client id and secret (HTTP Basic or form)"
    if None in schemes:
        return "bearer token optional"
    return "bearer token"


def _statuses(operation: dict[str, Any]) -> str:
    # 414 is on every operation and answered by gunicorn, not the app: the page says it once.
    codes = sorted(code for code in operation.get("responses", {}) if code != "414")
    ok = [code for code in codes if code.startswith(("2", "3"))]
    errors = [code for code in codes if code not in ok]
    return ", ".join(f"**{code}**" for code in ok) + ("; " + ", ".join(errors) if errors else "")


def _inputs(operation: dict[str, Any]) -> str:
    query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
    parts = []
    if query:
        parts.append("query " + ", ".join(f"`{name}`" for name in query))
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        parts.append("body " + ", ".join(f"`{media}`" for media in body))
    return " · ".join(parts)


def render(document: dict[str, Any]) -> str:
    """Markdown: the operations of each tag (the area whose blueprint serves them)."""
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                tag = (operation.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, operation))
    count = sum(len(operations) for operations in by_tag.values())
    out = [
        f"{count} operations on {len(document['paths'])} paths, from "
        f"`{document['info']['title']}` (OpenAPI {document['openapi']}), grouped by the area "
        "that serves them. Each names its authentication, its inputs besides the path, and "
        "its statuses: in bold those that succeed; the others are errors with the one error "
        'body `{"code", "message", "details"}`. Any operation may also be answered 414 by the '
        "HTTP server itself when its URL is too long.",
        "",
        "Areas: " + ", ".join(f"[{tag}](#{tag})" for tag in sorted(by_tag)),
        "",
    ]
    for tag in sorted(by_tag):
        out += [f"## {tag}", ""]
        for method, path, operation in sorted(by_tag[tag], key=lambda row: (row[1], row[0])):
            details = [_auth(operation), _inputs(operation), "statuses " + _statuses(operation)]
            out += [
                f"- **`{method.upper()} {path}`** — {_text(operation.get('summary', ''))}  ",
                "  " + " · ".join(part for part in details if part),
            ]
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill the reference page's marker; leave every other page alone."""
    global _document
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its marker {MARKER}")
    if _document is None:
        _document = served_document()
    return markdown.replace(MARKER, render(_document))
