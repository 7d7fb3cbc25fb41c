"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when
EXCHANGE_TEST_DATABASE_URL names a server), a session, the app and its test client."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session

from exchange.db import make_engine, make_session_factory
from exchange.models import metadata
from exchange.portal import services as portal_services
from exchange.system.services import upgrade_database
from tests.databases import scratch_postgresql_database
from tests.shared_app import SharedApp, build_app

# Timing belongs in bench/, not in tests: a loaded CI machine must not fail a property test.
settings.register_profile("exchange", deadline=None)
settings.load_profile("exchange")

# Portal passwords are scrypt hashes at werkzeug's default work factor (N = 2**15): about
# 0.1 s of CPU a hash, on purpose. The tests create and sign in portal users thousands of
# times, which at that cost was most of the CPU of the in-process suite; in this process they
# hash with the same scrypt at N = 2**10. The servers and CLIs the tests start hash as the
# exchange does (tests/portal/test_auth.py checks the exchange's own method).
EXCHANGE_PASSWORD_METHOD = portal_services.PASSWORD_METHOD
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"

# The official PACT v3 files, carried unchanged (with their licence) inside the repository.
PACT_DIR = Path(__file__).resolve().parent / "pact" / "official"

# Tests here start real servers or browsers; so does any test using one of these fixtures.
E2E_DIRECTORY = Path(__file__).resolve().parent / "e2e"
E2E_FIXTURES = frozenset({"live_server", "tls_server", "module_live_server", "module_tls_server"})
# Module-scoped servers and browsers (tests/e2e/conftest.py): the tests that share one run on
# one xdist worker under ``--dist loadgroup``, so that each is started once.
MODULE_SHARED_FIXTURES = frozenset(
    {"module_live_server", "module_tls_server", "browser", "module_exchanges"}
)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(portal_services, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
        # The unknown user's hash follows (made with the method in force), so that a failed
        # sign-in costs what a good one does.
        yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark end-to-end tests ``e2e`` (``-m "not e2e"`` is the fast in-process suite) and run
    them first, group the tests of a module that share a server or browser on one xdist
    worker, and, on a server database, keep only the tests that touch the database under
    test."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if E2E_DIRECTORY in item.path.parents or names & (E2E_FIXTURES | {"browser"}):
            item.add_marker(pytest.mark.e2e)
        if names & MODULE_SHARED_FIXTURES:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    # The end-to-end tests first (stable: module order kept): they are the long ones, and a
    # long test handed out last keeps one worker busy after the other has finished.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
    if os.environ.get("EXCHANGE_TEST_DATABASE_URL"):
        # The SQLite pass ran every test; a test that touches no database (signing, QR,
        # Merkle, the docs, the demo and the wheel, which run on SQLite by design) would
        # only repeat itself here. A test touches the database under test when it uses
        # ``database_url`` (every database fixture and server does) or says so itself.
        kept = [item for item in items if _touches_the_database(item)]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[item for item in items if item not in kept])
            items[:] = kept


def _touches_the_database(item: pytest.Item) -> bool:
    return "database_url" in getattr(item, "fixturenames", ()) or any(item.iter_markers("database"))


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file in ``directory``, or a new database on the
    server EXCHANGE_TEST_DATABASE_URL names, dropped afterwards."""
    server_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{directory / 'exchange.db'}"
        return
    with scratch_postgresql_database(server_url, "fx_test") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this test run, built by running the migrations."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        upgrade_database(url)
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def empty_all_tables(engine: Engine) -> None:
    """Delete every row, children first.

    On PostgreSQL in one round trip (one DELETE per table was ~60 round trips after every
    test, most of the fixture's time on a busy machine). On SQLite, whose driver takes one
    statement per call, one query first names the tables that hold a row (a test writes a
    handful of the ~70), and only those are emptied: a DELETE per table through SQLAlchemy
    was ~6 ms of CPU after every test, the probe and the few DELETEs a tenth of that.
    """
    deletes, probe = _emptying_statements(engine.dialect)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("; ".join(deletes))
            return
        # sorted: the children-first order, whatever order the union answers in
        for index in sorted(connection.exec_driver_sql(probe).scalars()):
            connection.exec_driver_sql(deletes[index])


@functools.cache
def _emptying_statements(dialect: Dialect) -> tuple[tuple[str, ...], str]:
    """A DELETE per table, children first, and the query naming (by their index) the tables
    that hold a row: worked out once, not after every test."""
    tables = list(reversed(metadata.sorted_tables))
    quote = dialect.identifier_preparer.format_table
    probe = " UNION ALL ".join(
        f"SELECT {index} WHERE EXISTS (SELECT 1 FROM {quote(table)})"
        for index, table in enumerate(tables)
    )
    return tuple(f"DELETE FROM {quote(table)}" for table in tables), probe


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session on an empty database; what a test leaves is removed after it."""
    session = make_session_factory(engine)()
    try:
        yield session
    finally:
        session.close()
        empty_all_tables(engine)


@pytest.fixture(scope="session")
def _shared_app_holder() -> Iterator[list[SharedApp]]:
    """The worker's shared app (built at first use; rebuilt after a test it cannot undo)."""
    holder: list[SharedApp] = []
    yield holder
    for shared in holder:
        shared.dispose()


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    _shared_app_holder: list[SharedApp],
) -> Iterator[Flask]:
    """The app on an empty database (what the test leaves is removed after it).

    One app serves every test of a worker and is put back as it was after each (config,
    extensions, instance folder, counters, metrics: see tests/shared_app.py). A test that
    adds routes or hooks, which Flask allows only before an app's first request, is marked
    ``@pytest.mark.fresh_app`` and gets an app of its own (instance under ``tmp_path``).
    """
    if request.node.get_closest_marker("fresh_app"):
        application = build_app(database_url, tmp_path / "instance")
        try:
            yield application
        finally:
            application.extensions["exchange.engine"].dispose()
            empty_all_tables(engine)
        return
    if not _shared_app_holder:
        instance = tmp_path_factory.mktemp("shared-app") / "instance"
        _shared_app_holder.append(SharedApp.build(database_url, instance))
    shared = _shared_app_holder[-1]
    try:
        yield shared.app
    finally:
        empty_all_tables(engine)
        if shared.reusable():
            shared.reset()
        else:
            _shared_app_holder.remove(shared)
            shared.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
