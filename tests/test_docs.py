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

import click
import yaml
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from exchange.apidoc.spec import build_document
from exchange.cli import main
from exchange.routing import RefusedPathValue

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


# `exchange <command> [<subcommand>] ... --option` inside code (fenced blocks, `spans`).
# It starts a command line: at the start, after a path (.venv/bin/), `$(`, `&&` or `;`.
INVOCATION = re.compile(r"(?:^\s*|[(/]|&& |; )exchange((?: +[a-z][a-z0-9-]*)+)([^\n#;|&]*)")


def _code(markdown: str) -> list[str]:
    """Code of a Markdown text: each shell block's lines (continuations joined, comments
    dropped) and each inline span. Text blocks (diagrams, sample output) are not code."""
    pieces: list[str] = []
    prose: list[str] = []
    block: list[str] | None = None  # lines of the open fence, None outside one
    shell = False
    for line in markdown.splitlines():
        fence = re.match(r"\s*```(\w*)", line)
        if fence and block is None:
            block, shell = [], fence.group(1) in {"", "sh", "bash", "console", "shell"}
        elif fence and block is not None:
            if shell:
                joined = re.sub(r"\\\n\s*", " ", "\n".join(block))
                pieces += [re.sub(r"(^|\s)#.*", "", code) for code in joined.splitlines()]
            block = None
        elif block is not None:
            block.append(line)
        else:
            prose.append(line)
    pieces += re.findall(r"`([^`\n]+)`", "\n".join(prose))
    return pieces


def _documented_invocations() -> list[tuple[str, list[str], list[str]]]:
    """(file, command words, options) of every `exchange ...` command the docs show."""
    found = []
    for path in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        for piece in _code(path.read_text(encoding="utf-8")):
            for words, rest in INVOCATION.findall(piece):
                options = re.findall(r"(?:^|\s|\[)(--[a-z][a-z0-9-]*)", rest)
                found.append((str(path.relative_to(ROOT)), words.split(), options))
    return found


def test_every_command_and_option_the_docs_show_exists(app: Flask) -> None:
    # What `exchange --help` lists: the console script's own commands (those it imports only
    # when run included) and the app's.
    context = click.Context(main)
    commands: dict[str, click.Command] = {**main.commands, **app.cli.commands}
    for name in main.deferred:
        deferred = main.get_command(context, name)
        assert deferred is not None, name
        commands[name] = deferred
    invocations = _documented_invocations()
    assert len(invocations) > 50, "the docs show the commands"
    wrong = []
    for where, words, options in invocations:
        command = commands.get(words[0])
        if command is None:
            wrong.append(f"{where}: exchange {words[0]}")
            continue
        for word in words[1:]:
            if not isinstance(command, click.Group):
                break  # an argument of the command
            sub = command.get_command(context, word)
            if sub is None:
                wrong.append(f"{where}: exchange {' '.join(words)} (no {word!r})")
                break
            command = sub
        known = {opt for param in command.params for opt in param.opts} | {"--help"}
        wrong += [
            f"{where}: exchange {' '.join(words)} {option}"
            for option in options
            if option not in known
        ]
    assert wrong == []


# A path of the exchange inside code: /api/v1/..., /3/..., /.well-known/..., the pages.
PATH = re.compile(
    r"(?<![a-z_>])(/(?:api/v1|3|\.well-known|auth|portal|01|mutual-recognition|healthz|metrics)"
    r"(?:[A-Za-z0-9_.\-/]|<[^>\s]+(?: [^>\s]+)*>|\{[^}\s]+\}|\$\w+)*)"
)
# Where the prose names a prefix (every route under /3), not a route.
PREFIXES = {"/api/v1", "/3", "/auth", "/.well-known", "/01"}


def _documented_paths() -> list[tuple[str, str]]:
    """(file, path) of every exchange URL path the README and docs show in code."""
    found = []
    for path in [README, *sorted((ROOT / "docs").rglob("*.md"))]:
        for piece in _code(path.read_text(encoding="utf-8")):
            for url in PATH.findall(piece):
                url = url.rstrip(".,")
                if url.rstrip("/") not in PREFIXES:
                    found.append((str(path.relative_to(ROOT)), url))
    return found


def test_every_path_the_docs_show_is_a_route_of_the_app(app: Flask) -> None:
    adapter = app.url_map.bind("exchange.example")
    paths = _documented_paths()
    assert len(paths) > 100, "the docs show the paths"
    wrong = []
    for where, path in paths:
        # A placeholder (<id>, <customer id>, {record_id}, $BODY_ID) stands for some value.
        concrete = re.sub(r"<[^>]+>|\{[^}]+\}|\$\w+", "1", path)
        try:
            adapter.match(concrete, method="GET")
        except (MethodNotAllowed, RequestRedirect):
            pass  # the route is there, for another method or with a trailing slash
        except RefusedPathValue:
            pass  # the route is there; "1" is no id of the kind its converter takes
        except NotFound:
            wrong.append(f"{where}: {path}")
    assert wrong == []
