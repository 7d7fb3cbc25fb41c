"""Server-drawn SVG charts and the print sheet: text escaped, removals to the left, a PDF."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from PIL import Image

from exchange.portal import charts, sheets


def test_bars_escape_labels_and_put_removals_left_of_zero() -> None:
    svg = str(
        charts.bar_chart(
            "By component",
            [("<script>x</script>", Decimal("2")), ("tea uptake", Decimal("-1"))],
            "kg CO2e",
        )
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    zero = float(re.search(r'<line x1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    bars = [
        (float(x), float(width))
        for x, width in re.findall(r'<rect x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    ]
    (positive_x, _), (negative_x, negative_width) = bars
    assert positive_x == zero
    assert negative_x < zero and abs(negative_x + negative_width - zero) < 0.2
    assert charts.bar_chart("empty", [], "kg") == ""


def test_stacked_columns_merge_the_long_tail_into_one_series() -> None:
    series = {f"category {n}": {"2026-01": n + 1, "2026-02": 1} for n in range(10)}
    svg = str(charts.stacked_columns("Records", series))
    legend = re.findall(r'font-size="11" text-anchor="start" fill="#1b1b1b">([^<]+)<', svg)
    assert len(legend) == len(charts.PALETTE)
    assert legend[-1] == "+4"
    assert "2026-01" in svg and "2026-02" in svg


def test_years_of_months_name_only_every_few_columns() -> None:
    months = [f"{year}-{month:02d}" for year in (2024, 2025, 2026) for month in range(1, 13)]
    svg = str(charts.stacked_columns("Records", {"Tea": dict.fromkeys(months, 1)}))
    named = re.findall(r'font-size="10" text-anchor="middle" fill="#1b1b1b">([^<]+)<', svg)
    assert named[0] == "2024-01" and 4 <= len(named) <= 12
    assert svg.count("<rect") == len(months) + 1  # every month still has its column


def test_the_graph_flags_superseded_inputs() -> None:
    tree = {
        "product": {"name": "Drink", "code": "D"},
        "stale": False,
        "components": [
            {"position": 0, "label": "Bottle", "kind": "record", "input": {"recordId": "r1"}},
            {"position": 1, "label": "Power", "kind": "factor", "input": {"factorId": "f1"}},
        ],
    }
    nodes, edges = charts.graph_of_explanation(tree, {"r1"})
    assert [node.flagged for node in nodes] == [False, True, False]
    assert edges == [("root", "root/0"), ("root", "root/1")]
    svg = str(charts.supply_chain("Supply chain", nodes, edges))
    assert svg.count("stroke-dasharray") == 1


def test_label_sheet_is_an_a4_pdf() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 400), "white").save(buffer, "PNG")
    pdf = sheets.label_sheet_pdf(buffer.getvalue(), title="label 1")
    assert pdf.startswith(b"%PDF")
    # 210 x 297 mm in PDF points (1/72 inch).
    assert re.search(rb"/MediaBox \[ ?0 0 595\.2\d* 841\.9\d* ?\]", pdf), pdf[:400]
