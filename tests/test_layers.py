"""The layer contract covers the whole package, and no two areas import each other.

import-linter (``make lint``) checks the contracts of ``pyproject.toml``; these tests make
sure those contracts say what they must: every area (a package or top-level module under
``exchange``) has its place in the layers, none is excused by ``ignore_imports``, and the
graph of areas has no cycle, the root package (``create_app``) included, which no contract
can name as a layer. Function-level imports count: grimp reads every import statement.
"""

from __future__ import annotations

import collections
import tomllib
from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "exchange"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return {contract["id"]: contract for contract in contracts}


def _area(module: str) -> str:
    """``exchange.footprints.services.reading`` -> ``footprints``; the root is ``exchange``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, cache_dir=None)


@pytest.fixture(scope="module")
def area_imports(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Which areas each area imports (directly, at any place in a module)."""
    imports: dict[str, set[str]] = collections.defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if _area(imported) != _area(module):
                imports[_area(module)].add(_area(imported))
    return imports


def _layer_areas(layers: list[str]) -> Iterator[str]:
    for layer in layers:
        for name in layer.replace(":", "|").split("|"):
            yield name.strip().removeprefix(PACKAGE + ".")


def test_every_area_has_its_layer(graph: grimp.ImportGraph) -> None:
    areas = {_area(module) for module in graph.find_children(PACKAGE)}
    named = list(_layer_areas(_contracts()["layers"]["layers"]))
    assert len(named) == len(set(named)), "an area is named in two layers"
    assert areas - set(named) == set(), "areas without a layer: add them to pyproject.toml"
    assert set(named) - areas == set(), "layers naming no area"


def test_the_layers_excuse_no_import() -> None:
    for contract in _contracts().values():
        assert not contract.get("ignore_imports"), contract["id"]


def test_the_layers_are_strict() -> None:
    """Siblings in a layer are independent (``|``): none may import another."""
    for layer in _contracts()["layers"]["layers"]:
        assert ":" not in layer, layer


def _cycles(imports: Mapping[str, Set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one area (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(area: str) -> None:
        index[area] = low[area] = len(index)
        stack.append(area)
        on_stack.add(area)
        for other in sorted(imports.get(area, ())):
            if other not in index:
                visit(other)
                low[area] = min(low[area], low[other])
            elif other in on_stack:
                low[area] = min(low[area], index[other])
        if low[area] == index[area]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == area:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for area in sorted(set(imports) | {b for targets in imports.values() for b in targets}):
        if area not in index:
            visit(area)
    return found


def test_no_two_areas_import_each_other(area_imports: dict[str, set[str]]) -> None:
    assert _cycles(area_imports) == []


def test_only_the_console_script_imports_the_composition_root(
    area_imports: dict[str, set[str]],
) -> None:
    importers = {area for area, imported in area_imports.items() if PACKAGE in imported}
    assert importers <= {"cli"}


def test_the_cycle_finder_finds_cycles() -> None:
    imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    assert sorted(_cycles(imports)) == [["a", "b", "c"], ["e", "f"]]


def _documented_layers() -> list[str]:
    """The layers as docs/architecture/index.md draws them: the first text block under
    "## Layers", one layer a line, its areas in the second column."""
    page = (ROOT / "docs" / "architecture" / "index.md").read_text("utf-8")
    section = page.split("\n## Layers\n", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    layers = []
    for line in block.splitlines():
        areas = line[16:].split("  ", 1)[0].strip()
        layers.append(" | ".join(name.strip() for name in areas.split("|")))
    return layers


def test_the_architecture_page_draws_the_contract() -> None:
    contract = [
        " | ".join(name.strip().removeprefix(PACKAGE + ".") for name in layer.split("|"))
        for layer in _contracts()["layers"]["layers"]
    ]
    assert _documented_layers() == contract
