"""Shared fixtures: a migrated database (SQLite, or PostgreSQL when
EXCHANGE_TEST_DATABASE_URL names a server), a session, the app and its test client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from exchange import create_app
from exchange.db import make_engine, make_session_factory
from exchange.models import metadata
from exchange.system.services import upgrade_database
from tests.databases import scratch_postgresql_database

# Timing belongs in bench/, not in tests: a loaded CI machine must not fail a property test.
settings.register_profile("exchange", deadline=None)
settings.load_profile("exchange")

# The official PACT v3 files, carried unchanged (with their licence) inside the repository.
PACT_DIR = Path(__file__).resolve().parent / "pact" / "official"


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
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session on an empty database; what a test leaves is removed after it."""
    session = make_session_factory(engine)()
    try:
        yield session
    finally:
        session.close()
        empty_all_tables(engine)


@pytest.fixture
def app(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(
        {"DATABASE_URL": database_url, "TESTING": True}, instance_path=str(tmp_path / "instance")
    )
    yield application
    application.extensions["exchange.engine"].dispose()
    empty_all_tables(engine)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
