"""Charts and the supply-chain picture as SVG, drawn on the server: no script, no styles
that a strict content security policy would block (presentation attributes only)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from markupsafe import Markup, escape

from exchange.portal import names

# Colour-blind safe (Okabe-Ito), each dark enough for white text or readable on white.
PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#666666")
GRADE_COLOURS: Final = {1: "#1a7f37", 2: "#57a639", 3: "#b58900", 4: "#d55e00", 5: "#b3261e"}


def _text(x: float, y: float, content: object, *, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="#1b1b1b">{escape(str(content))}</text>'
    )


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    # Every piece of text in ``body`` went through ``escape``; the rest are numbers.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bar_chart(title: str, items: Sequence[tuple[str, Decimal]], unit: str) -> Markup:
    """Horizontal bars of signed values (removals go left of the zero line)."""
    if not items:
        return Markup("")
    width, label_width, row = 640, 220, 26
    height = row * len(items) + 30
    low = min(Decimal(0), *(value for _label, value in items))
    high = max(Decimal(0), *(value for _label, value in items))
    span = (high - low) or Decimal(1)
    plot = width - label_width - 90

    def x_of(value: Decimal) -> float:
        return label_width + float((value - low) / span) * plot

    zero = x_of(Decimal(0))
    body = [f'<line x1="{zero:.1f}" y1="4" x2="{zero:.1f}" y2="{height - 20}" stroke="#444"/>']
    for index, (label, value) in enumerate(items):
        y = 8 + index * row
        left, right = sorted((x_of(value), zero))
        colour = PALETTE[2] if value < 0 else PALETTE[0]
        body.append(
            f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 1):.1f}" height="{row - 8}" '
            f'fill="{colour}"><title>{escape(label)}: {value} {escape(unit)}</title></rect>'
        )
        body.append(_text(label_width - 6, y + row - 12, label[:34], anchor="end"))
        body.append(_text(max(right, zero) + 4, y + row - 12, f"{_short(value)}"))
    body.append(_text(width - 4, height - 6, unit, anchor="end", size=11))
    return _svg(width, height, title, body)


def _short(value: Decimal) -> str:
    # As the label prints it: the bar beside a figure says what the label would say.
    return names.figure(value)


def stacked_columns(title: str, series: Mapping[str, Mapping[str, int]]) -> Markup:
    """Counts per period (x) stacked by series (a legend names each colour)."""
    periods = sorted({period for values in series.values() for period in values})
    if not periods:
        return Markup("")
    names = sorted(series, key=lambda name: -sum(series[name].values()))
    shown = names[: len(PALETTE) - 1]
    other = names[len(PALETTE) - 1 :]
    groups: list[tuple[str, Mapping[str, int]]] = [(name, series[name]) for name in shown]
    if other:
        merged: dict[str, int] = {}
        for name in other:
            for period, count in series[name].items():
                merged[period] = merged.get(period, 0) + count
        groups.append((f"+{len(other)}", merged))
    totals = [sum(values.get(period, 0) for _name, values in groups) for period in periods]
    top = max(totals) or 1
    width, plot_height, legend_row = 640, 200, 18
    column = min(60.0, (width - 60) / len(periods))
    every = max(1, math.ceil(48 / column))  # a period's name is ~45 units wide
    height = plot_height + 40 + legend_row * len(groups)
    body = [
        f'<line x1="50" y1="{plot_height + 10}" x2="{width}" y2="{plot_height + 10}" '
        'stroke="#444"/>',
        _text(46, 20, top, anchor="end", size=11),
    ]
    for index, period in enumerate(periods):
        x = 54 + index * column
        base = plot_height + 10.0
        for colour, (name, values) in zip(PALETTE, groups, strict=False):
            count = values.get(period, 0)
            if not count:
                continue
            size = count / top * (plot_height - 10)
            base -= size
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{column - 6:.1f}" height="{size:.1f}" '
                f'fill="{colour}"><title>{escape(name)} {period}: {count}</title></rect>'
            )
        # Years of months: name every few columns so that the names do not overlap.
        if index % every == 0:
            body.append(
                _text(x + (column - 6) / 2, plot_height + 26, period, anchor="middle", size=10)
            )
    for index, (colour, (name, _values)) in enumerate(zip(PALETTE, groups, strict=False)):
        y = plot_height + 36 + index * legend_row
        body.append(f'<rect x="54" y="{y}" width="12" height="12" fill="{colour}"/>')
        body.append(_text(72, y + 11, name[:80], size=11))
    return _svg(width, height, title, body)


def grade_bars(title: str, grades: Mapping[str, Mapping[int, int]]) -> Markup:
    """Per category, one bar split by grade (1 best, 5 worst) in proportion to the count."""
    if not grades:
        return Markup("")
    width, label_width, row = 640, 260, 28
    height = row * len(grades) + 40
    body: list[str] = []
    for index, category in enumerate(sorted(grades)):
        counts = grades[category]
        total = sum(counts.values()) or 1
        y = 8 + index * row
        x = float(label_width)
        body.append(_text(label_width - 6, y + 15, category.rsplit(":", 1)[-1][:36], anchor="end"))
        for grade in sorted(counts):
            size = counts[grade] / total * (width - label_width - 10)
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{size:.1f}" height="{row - 8}" '
                f'fill="{GRADE_COLOURS.get(grade, "#666")}"><title>{escape(category)} '
                f"grade {grade}: {counts[grade]}</title></rect>"
            )
            if size > 24:
                body.append(
                    f'<text x="{x + size / 2:.1f}" y="{y + 15}" font-size="12" '
                    f'text-anchor="middle" fill="#ffffff">{grade}:{counts[grade]}</text>'
                )
            x += size
    legend_y = height - 22
    for grade, colour in GRADE_COLOURS.items():
        x = label_width + (grade - 1) * 70
        body.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        body.append(_text(x + 16, legend_y + 11, f"{grade}", size=11))
    return _svg(width, height, title, body)


@dataclasses.dataclass(frozen=True, slots=True)
class GraphNode:
    key: str
    label: str
    tier: int
    kind: str
    flagged: bool = False


def supply_chain(
    title: str, nodes: Sequence[GraphNode], edges: Sequence[tuple[str, str]]
) -> Markup:
    """Tiers as columns, the product on the left, its inputs to the right; flagged nodes
    (stale or missing data) drawn with a thick dashed red border."""
    if not nodes:
        return Markup("")
    tiers: dict[int, list[GraphNode]] = {}
    for node in nodes:
        tiers.setdefault(node.tier, []).append(node)
    box_width, box_height, column, row = 170, 34, 210, 46
    width = column * len(tiers) + 20
    height = row * max(len(items) for items in tiers.values()) + 20
    where: dict[str, tuple[float, float]] = {}
    for column_index, tier in enumerate(sorted(tiers)):
        for row_index, node in enumerate(tiers[tier]):
            where[node.key] = (10 + column_index * column, 10 + row_index * row)
    body: list[str] = []
    for parent, child in edges:
        if parent in where and child in where:
            (x1, y1), (x2, y2) = where[parent], where[child]
            body.append(
                f'<line x1="{x1 + box_width:.1f}" y1="{y1 + box_height / 2:.1f}" '
                f'x2="{x2:.1f}" y2="{y2 + box_height / 2:.1f}" stroke="#777"/>'
            )
    fills = {"product": "#dbeafe", "record": "#dcfce7", "factor": "#f3f4f6", "missing": "#fee2e2"}
    for node in nodes:
        x, y = where[node.key]
        stroke = (
            'stroke="#b3261e" stroke-width="3" stroke-dasharray="6 3"'
            if node.flagged
            else 'stroke="#444"'
        )
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_width}" height="{box_height}" rx="4" '
            f'fill="{fills.get(node.kind, "#ffffff")}" {stroke}><title>{escape(node.label)}'
            f"</title></rect>"
        )
        body.append(_text(x + 6, y + 21, node.label[:26], size=11))
    return _svg(width, height, title, body)


def graph_of_explanation(
    tree: Mapping[str, Any], flagged: set[str]
) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """The nodes and edges of an ``explain`` tree (exchange.aggregation.services.explain)."""
    nodes: list[GraphNode] = []
    edges: list[tuple[str, str]] = []

    def walk(node: Mapping[str, Any], key: str, tier: int) -> None:
        for item in node["components"]:
            reference = item["input"]
            child_key = f"{key}/{item['position']}"
            kind = str(item["kind"])
            reference_id = str(
                reference.get("recordId")
                or reference.get("factorId")
                or reference.get("productId")
                or ""
            )
            label = item["label"] or reference.get("code") or reference_id or kind
            nodes.append(
                GraphNode(
                    key=child_key,
                    label=str(label),
                    tier=tier + 1,
                    kind="missing" if reference.get("withheld") else kind,
                    flagged=reference_id in flagged,
                )
            )
            edges.append((key, child_key))
            if "breakdown" in item:
                walk(item["breakdown"], child_key, tier + 1)

    nodes.append(
        GraphNode(
            key="root",
            label=str(tree["product"].get("name") or tree["product"].get("code")),
            tier=1,
            kind="product",
            flagged=bool(tree.get("stale")),
        )
    )
    walk(tree, "root", 1)
    return nodes, edges
