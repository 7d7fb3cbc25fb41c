"""Grades from scheme parameters: boundaries, benchmark ratios, percentiles, bands."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange.labels import grading
from exchange.labels.models import GradingMethod
from exchange.labels.services import value_per_unit
from tests.factories import pact_example

D = Decimal
CUTS = ["0.6", "0.8", "1.2", "2.0"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-9.22", 1),  # removals beat emissions: best grade
        ("0", 1),
        ("6", 1),  # ratio 0.6 exactly: still grade 1
        ("6.01", 2),
        ("8", 2),
        ("12", 3),
        ("12.0001", 4),
        ("20", 4),
        ("20.01", 5),
        ("1000", 5),
    ],
)
def test_benchmark_ratio(value: str, expected: int) -> None:
    parameters = grading.parse_parameters(
        GradingMethod.BENCHMARK, {"benchmark": "10", "cutPoints": CUTS}
    )
    assert grading.grade(parameters, D(value)).grade == expected


def test_fixed_bands_and_percentiles() -> None:
    bands = grading.parse_parameters(GradingMethod.BANDS, {"cutPoints": ["1", "2"]})
    assert [grading.grade(bands, D(v)).grade for v in ("1", "1.5", "2", "2.5")] == [1, 2, 2, 3]
    percentile = grading.parse_parameters(
        GradingMethod.PERCENTILE, {"cutPoints": ["25", "50", "75"]}
    )
    population = [D(v) for v in ("1", "2", "3", "4", "5", "6", "7", "8")]
    # Mid-rank: 3 has 2 below and itself → (2 + 0.5) / 8 = 31.25th percentile → grade 2.
    assert grading.percentile_rank(D(3), population) == D("31.25")
    result = grading.grade(percentile, D(3), population)
    assert (result.grade, result.population_size) == (2, 8)
    assert result.population_digest == grading.population_digest(list(reversed(population)))
    with pytest.raises(grading.SchemeError, match="at least 5"):
        grading.grade(percentile, D(3), population[:4])


@pytest.mark.parametrize(
    ("method", "parameters", "field"),
    [
        (GradingMethod.BENCHMARK, {"cutPoints": CUTS}, "parameters.benchmark"),
        (GradingMethod.BENCHMARK, {"benchmark": "-1", "cutPoints": CUTS}, "parameters.benchmark"),
        (GradingMethod.BANDS, {"cutPoints": ["1", "1"]}, "parameters.cutPoints"),
        (GradingMethod.BANDS, {"cutPoints": [str(i) for i in range(9)]}, "parameters.cutPoints"),
        (GradingMethod.BANDS, {"cutPoints": ["NaN"]}, "parameters.cutPoints.0"),
        (GradingMethod.BANDS, {"cutPoints": [1.5]}, "parameters.cutPoints.0"),
        (GradingMethod.BANDS, {"cutPoints": ["1"], "benchmark": "2"}, "parameters.benchmark"),
        (GradingMethod.PERCENTILE, {"cutPoints": ["50", "100"]}, "parameters.cutPoints"),
    ],
)
def test_bad_parameters_name_their_field(
    method: GradingMethod, parameters: dict[str, object], field: str
) -> None:
    with pytest.raises(grading.SchemeError) as raised:
        grading.parse_parameters(method, parameters)
    assert raised.value.field == field


def test_a_value_per_declared_unit_that_never_ends_is_kept_to_12_places() -> None:
    footprint = pact_example()
    footprint["pcf"] = {
        **footprint["pcf"],
        "declaredUnitAmount": "3",
        "pcfIncludingBiogenicUptake": "-1",
    }
    value, unit = value_per_unit(json.dumps(footprint))
    assert (value, unit) == (Decimal("-0.333333333333"), "kilogram")
