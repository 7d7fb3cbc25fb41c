"""Grades from a scheme's parameters: benchmark ratio, percentile of a population, fixed bands.

Pure. Grade 1 is best. With cut points c1 < c2 < … < cn a quantity q gets grade
1 + (the number of cut points below q): q ≤ c1 is grade 1, c1 < q ≤ c2 is grade 2, …,
q > cn is grade n + 1. The quantity is the value itself (fixed bands), its ratio to the
category benchmark (benchmark ratio) or its percentile rank in the population (percentile).
Values are kg CO2e per ONE declared unit, so a scheme compares like with like.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from exchange.labels.claims import MAX_GRADE
from exchange.labels.models import GradingMethod

MIN_POPULATION: Final = 5


class SchemeError(ValueError):
    """Scheme parameters that cannot grade anything; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True, slots=True)
class Parameters:
    """A scheme's checked parameters; ``benchmark`` only for the benchmark-ratio method."""

    method: GradingMethod
    cut_points: tuple[Decimal, ...]
    benchmark: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"cutPoints": [str(point) for point in self.cut_points]}
        if self.benchmark is not None:
            document["benchmark"] = str(self.benchmark)
        return document


def _decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise SchemeError(field, "a decimal number, as a string")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise SchemeError(field, "a decimal number, as a string") from exc
    if not number.is_finite():
        raise SchemeError(field, "a finite number")
    return number


def parse_parameters(method: GradingMethod, document: object) -> Parameters:
    """Check a scheme's parameters: cut points strictly rising, 1 to 8 of them."""
    if not isinstance(document, dict):
        raise SchemeError("parameters", "an object")
    allowed = {"cutPoints", "benchmark"} if method is GradingMethod.BENCHMARK else {"cutPoints"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise SchemeError(f"parameters.{unknown[0]}", f"not a parameter of {method.value}")
    points = document.get("cutPoints")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_GRADE - 1:
        raise SchemeError("parameters.cutPoints", f"a list of 1 to {MAX_GRADE - 1} cut points")
    cut_points = tuple(
        _decimal(point, f"parameters.cutPoints.{index}") for index, point in enumerate(points)
    )
    if any(later <= earlier for earlier, later in itertools.pairwise(cut_points)):
        raise SchemeError("parameters.cutPoints", "cut points must rise strictly")
    benchmark = None
    if method is GradingMethod.BENCHMARK:
        benchmark = _decimal(document.get("benchmark"), "parameters.benchmark")
        if benchmark <= 0:
            raise SchemeError("parameters.benchmark", "a benchmark is greater than zero")
    if method is GradingMethod.PERCENTILE and not (cut_points[0] > 0 and cut_points[-1] < 100):
        raise SchemeError("parameters.cutPoints", "percentile cut points lie between 0 and 100")
    return Parameters(method=method, cut_points=cut_points, benchmark=benchmark)


def grade_of(quantity: Decimal, cut_points: Sequence[Decimal]) -> int:
    return 1 + sum(1 for point in cut_points if quantity > point)


def percentile_rank(value: Decimal, population: Sequence[Decimal]) -> Decimal:
    """Mid-rank percentile: 100 * (below + equal / 2) / size."""
    below = sum(1 for item in population if item < value)
    equal = sum(1 for item in population if item == value)
    return Decimal(100) * (Decimal(below) + Decimal(equal) / 2) / Decimal(len(population))


def population_digest(population: Sequence[Decimal]) -> str:
    """SHA-256 of the sorted values, one normalised decimal a line: what a grade was ranked in."""
    text = "\n".join(str(value.normalize()) for value in sorted(population))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Grading:
    grade: int
    population_size: int | None = None
    population_digest: str | None = None


def grade(parameters: Parameters, value: Decimal, population: Sequence[Decimal] = ()) -> Grading:
    """The grade of ``value`` (per one declared unit) under checked parameters."""
    if parameters.method is GradingMethod.BANDS:
        return Grading(grade_of(value, parameters.cut_points))
    if parameters.method is GradingMethod.BENCHMARK:
        assert parameters.benchmark is not None
        return Grading(grade_of(value / parameters.benchmark, parameters.cut_points))
    if len(population) < MIN_POPULATION:
        raise SchemeError(
            "population",
            f"a percentile grade needs a population of at least {MIN_POPULATION} values "
            f"(the category has {len(population)})",
        )
    rank = percentile_rank(value, population)
    return Grading(
        grade_of(rank, parameters.cut_points), len(population), population_digest(population)
    )
