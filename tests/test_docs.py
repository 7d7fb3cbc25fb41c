"""The README stays a front door, and the docs site's generated API reference stays whole.

`make test` builds the site with `mkdocs build --strict`, which fails on a broken link or
anchor inside docs/ and on a page left out of the nav. What it cannot see is checked here:
the README (outside docs/) and what the reference page's hook renders.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from flask import Flask

from exchange.apidoc.spec import build_document

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A front door, not a manual: what-for-whom, the two commands, the map, the links.
README_MAX_LINES = 200
# [text](target) outside code; a target with a scheme is a web link, checked by nobody here.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(markdown: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", markdown, flags=re.DOTALL)
    return [
        target
        for target in LINK.findall(prose)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    ]


def test_the_readme_stays_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move the detail into "
        "a page under docs/ and link it"
    )


def test_every_link_of_the_readme_names_a_file_that_exists() -> None:
    links = _relative_links(README.read_text(encoding="utf-8"))
    assert links, "the README links the docs"
    broken = [link for link in links if not (ROOT / link.split("#", 1)[0]).exists()]
    assert broken == []


def test_the_link_check_sees_a_broken_link() -> None:
    # The check above must be able to fail: a link to nowhere is found, a web link is not.
    text = "see [x](docs/nowhere.md#a) and [y](https://example.org/) and [z](#local)"
    assert _relative_links(text) == ["docs/nowhere.md#a"]


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_every_docs_page_the_readme_links_is_in_the_sites_nav() -> None:
    # The README links docs pages as plain files; each must also be a page of the site.
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = {
        path.removeprefix("docs/")
        for path in (link.split("#", 1)[0] for link in _relative_links(README.read_text("utf-8")))
        if path.startswith("docs/") and path.endswith(".md")
    }
    assert pages
    assert sorted(pages - set(nav)) == []


def _hook() -> ModuleType:
    path = ROOT / "docs" / "hooks" / "openapi_reference.py"
    spec = importlib.util.spec_from_file_location("openapi_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_renders_every_operation_of_the_served_document(
    app: Flask,
) -> None:
    hook = _hook()
    document: dict[str, Any] = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document == build_document(app)
    rendered = hook.render(document)
    operations = [(method, path) for path, item in document["paths"].items() for method in item]
    assert operations
    missing = [
        f"{method.upper()} {path}"
        for method, path in operations
        if f"`{method.upper()} {path}`" not in rendered
    ]
    assert missing == []
    assert f"{len(operations)} operations" in rendered
