"""The test suite's line coverage: SlipCover collects it, coverage.py reports it.

coverage.py's tracer (Python 3.11 has no ``sys.monitoring``) made the in-process tests about
80 % slower: over two minutes of CPU in every ``make test``. SlipCover puts probes in the
bytecode and takes each out once its line has run, which costs a few per cent. Its own
report counts every physical line of a statement, though, where coverage.py counts
statements: this script hands SlipCover's executed lines to coverage.py, which reports them
as it always has, with the options of ``[tool.coverage]`` in pyproject.toml (the
exclusions and the ``fail_under`` floor).

Usage: ``python tools/coverage_report.py SLIPCOVER_JSON``; exits 2 below the floor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import coverage
from coverage.results import should_fail_under


def main(argv: list[str]) -> int:
    (report_path,) = argv
    collected = json.loads(Path(report_path).read_text())["files"]
    measured = coverage.Coverage()
    data = measured.get_data()
    data.erase()
    data.add_lines(
        {str(Path(name).resolve()): lines["executed_lines"] for name, lines in collected.items()}
    )
    # Every file under the measured source, imported or not, so that one no test imports
    # counts as missed rather than as absent.
    data.touch_files([str(Path(name).resolve()) for name in collected])
    total = measured.report()
    floor, precision = (
        measured.get_option(f"report:{name}") for name in ("fail_under", "precision")
    )
    assert isinstance(floor, int | float) and isinstance(precision, int), (floor, precision)
    if should_fail_under(total, floor, precision):
        print(f"FAIL: line coverage {total:.2f} % is below the floor of {floor} %")
        return 2
    print(f"line coverage {total:.2f} % (floor {floor} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
