"""The pure engine on hand-computed cases: three tiers, mixed units, a negative biogenic
input, secondary factors, cycles, and byte-identical results."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange import signing
from exchange.aggregation import engine
from exchange.aggregation.engine import Line, Node, Quality, Source, SourceKind

D = Decimal


def record(key: str, unit: str, amount: str, values: tuple[str, ...], **quality: object) -> Source:
    return Source(
        key=key,
        kind=SourceKind.RECORD,
        declared_unit=unit,
        declared_amount=D(amount),
        values=tuple(D(v) for v in values),  # type: ignore[arg-type]
        quality=Quality(coverage=D(1), **quality),  # type: ignore[arg-type]
        reference={"recordId": key},
    )


def factor(key: str, unit: str, value: str) -> Source:
    return Source(
        key=key,
        kind=SourceKind.FACTOR,
        declared_unit=unit,
        declared_amount=D(1),
        values=(D(value), D(value), D(0), D(0), D(0)),
        quality=Quality(primary_data_share=D(0), coverage=D(0)),
        reference={"factorId": key},
    )


# Sugar: 10 kg carry -2.5 kg CO2e in total (fossil 3.2, biogenic uptake -6.5, land use 0.8).
SUGAR = record(
    "sugar",
    "kilogram",
    "10",
    ("-2.5", "3.2", "-6.5", "0.8", "0"),
    primary_data_share=D(50),
    dqr=(D("1.5"), D(2), D("2.5")),
)
# Bottles: 100 pieces carry 12 kg CO2e, all fossil, all packaging.
BOTTLE = record(
    "bottle",
    "piece",
    "100",
    ("12", "12", "0", "0", "12"),
    primary_data_share=D(80),
    dqr=(D(1), D(1), D(1)),
)
GRID = factor("grid", "kWh", "0.5306")  # kg CO2e per kWh (secondary)
TRUCK = factor("truck", "t·km", "0.1")  # kg CO2e per t·km (secondary)
SOURCES = {source.key: source for source in (SUGAR, BOTTLE, GRID, TRUCK)}

# Syrup is declared per 2 litres: its lines are per 2 L.
SYRUP = Node(
    id="syrup",
    declared_unit="liter",
    declared_amount=D(2),
    lines=(
        Line(position=0, quantity=D(500), unit="g", source="sugar", label="sugar"),
        Line(position=1, quantity=D("3.6"), unit="MJ", source="grid", category="electricity"),
    ),
)
# One bottle of drink: 330 mL of syrup, a bottle, 50 kg·km of transport.
DRINK = Node(
    id="drink",
    declared_unit="piece",
    declared_amount=D(1),
    lines=(
        Line(position=0, quantity=D(330), unit="mL", child="syrup", label="syrup"),
        Line(position=1, quantity=D(1), unit="piece", source="bottle", category="packaging"),
        Line(position=2, quantity=D(50), unit="kg·km", source="truck", category="transport"),
    ),
)


def test_three_tiers_mixed_units_hand_computed() -> None:
    results = engine.compute({"drink": DRINK, "syrup": SYRUP}, SOURCES)

    # Syrup per 2 L: 0.5 kg of sugar is 0.05 of its 10 kg declared amount:
    #   total -2.5 x 0.05 = -0.125, fossil 0.16, biogenic -0.325, land use 0.04;
    # 3.6 MJ = 1 kWh of grid electricity: 0.5306 (fossil).
    syrup = results["syrup"]
    assert syrup.values == (D("0.4056"), D("0.6906"), D("-0.325"), D("0.04"), D(0))
    # Weights |-0.125| and 0.5306 (sum 0.6556): primary share 0.125 x 50 / 0.6556,
    # coverage 0.125 / 0.6556; only the sugar states DQRs.
    assert syrup.quality == Quality(
        primary_data_share=D("9.533251982916"),
        dqr=(D("1.5"), D(2), D("2.5")),
        coverage=D("0.190665039658"),
    )

    # Drink: 0.33 L of syrup is 0.165 of its 2 L declared amount: 0.4056 x 0.165 = 0.066924;
    # a bottle is 1/100 of 12 = 0.12; 50 kg·km = 0.05 t·km x 0.1 = 0.005.
    drink = results["drink"]
    assert drink.values == (
        D("0.191924"),  # 0.066924 + 0.12 + 0.005
        D("0.238949"),  # 0.6906 x 0.165 + 0.12 + 0.005
        D("-0.053625"),  # -0.325 x 0.165
        D("0.0066"),  # 0.04 x 0.165
        D("0.12"),
    )
    # Weights 0.066924, 0.12, 0.005 (sum 0.191924):
    # primary share (0.066924 x 9.533251982916 + 0.12 x 80) / 0.191924
    # coverage (0.066924 x 0.190665039658 + 0.12) / 0.191924
    # DQRs over syrup and bottle only (0.186924): e.g. (0.066924 x 1.5 + 0.12) / 0.186924
    assert drink.quality == Quality(
        primary_data_share=D("53.344049497221"),
        dqr=(D("1.179013930795"), D("1.358027861591"), D("1.537041792386")),
        coverage=D("0.691732493665"),
    )


def test_negative_totals_are_allowed() -> None:
    node = Node("carbon-sink", "kilogram", D(1), (Line(0, D(2), "kg", source="sugar"),))
    result = engine.compute({"carbon-sink": node}, SOURCES)["carbon-sink"]
    assert result.values == (D("-0.5"), D("0.64"), D("-1.3"), D("0.16"), D(0))


def test_an_incompatible_unit_names_both_units() -> None:
    node = Node("bad", "kilogram", D(1), (Line(0, D(1), "kWh", source="sugar", label="sugar"),))
    with pytest.raises(engine.AggregationError) as caught:
        engine.compute({"bad": node}, SOURCES)
    assert "kWh" in caught.value.message and "kilogram" in caught.value.message


def test_a_cycle_is_an_error_naming_it() -> None:
    a = Node("a", "kg", D(1), (Line(0, D(1), "kg", child="b"),))
    b = Node("b", "kg", D(1), (Line(0, D(1), "kg", child="c"), Line(1, D(1), "kg", source="sugar")))
    c = Node("c", "kg", D(1), (Line(0, D(1), "kg", child="a"),))
    with pytest.raises(engine.CycleError) as caught:
        engine.compute({"a": a, "b": b, "c": c}, SOURCES, names={"a": "A", "b": "B", "c": "C"})
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert "A -> B -> C -> A" in caught.value.message


def test_full_and_incremental_results_are_identical_and_documents_byte_identical() -> None:
    full = engine.compute({"drink": DRINK, "syrup": SYRUP}, SOURCES)
    # Incremental: only the drink, with the syrup's stored (rounded) result as known input.
    known = {"syrup": full["syrup"].as_source(SYRUP)}
    partial = engine.compute({"drink": DRINK}, SOURCES, known=known)
    assert partial["drink"] == full["drink"]

    def document() -> bytes:
        resolve = {**SOURCES, **known}
        detailed = engine.compute_node(DRINK, resolve, detail=True)
        return signing.canonical_json(engine.result_document({"id": "drink"}, detailed))

    first = document()
    assert first == document()
    parsed = signing.canonical_json(json.loads(first))
    assert parsed == first
    assert b'"secondary":true' in first and b'"total":"0.191924"' in first


def test_pieces_convert_through_the_mass_per_piece_and_a_non_terminating_ratio_rounds() -> None:
    # A crate record declared per 4 pieces of 0.5 kg each (2 kg per declared unit): 3 kg of
    # crates are 6 pieces, 1.5 declared units of 8 kg CO2e: 12.
    crate = Source(
        "crate", SourceKind.RECORD, "piece", D(4), (D(8), D(8), D(0), D(0), D(0)),
        Quality(coverage=D(1)), mass_per_declared_unit=D(2),
    )  # fmt: skip
    # 1 MJ is 1/3.6 kWh = 0.277777777778 kWh (rounded half-even to 12 places), x 0.5306.
    node = Node(
        "n", "kg", D(1),
        (Line(0, D(3), "kg", source="crate"), Line(1, D(1), "MJ", source="grid")),
    )  # fmt: skip
    result = engine.compute({"n": node}, {"crate": crate, "grid": GRID})["n"]
    assert result.values[0] == D("12.147388888889")  # 12 + 0.1473888888890068
