"""The PostgreSQL pass keeps only the tests that touch the database under test
(tests/conftest.py): one that builds a database of its own, without the ``database_url``
fixture, must say so with the ``database`` mark, or it would silently run on SQLite alone."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Ways to reach the database under test other than the database_url fixture.
OWN_DATABASE = ("fresh_database(", "scratch_postgresql_database(", "EXCHANGE_TEST_DATABASE_URL")
HELPERS = {TESTS / "conftest.py", TESTS / "databases.py", Path(__file__).resolve()}


def test_every_module_that_builds_its_own_database_is_marked() -> None:
    unmarked = [
        str(path.relative_to(TESTS))
        for path in sorted(TESTS.rglob("test_*.py"))
        if path not in HELPERS
        and any(way in (text := path.read_text(encoding="utf-8")) for way in OWN_DATABASE)
        and "pytest.mark.database" not in text
    ]
    assert not unmarked, f"mark these modules pytest.mark.database: {unmarked}"
