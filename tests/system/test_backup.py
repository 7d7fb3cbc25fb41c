"""``exchange backup`` and ``exchange restore``: a logical dump restored into a fresh database
serves the same bytes, passes the audit, and dumps again to the same rows."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from exchange import create_app
from exchange.db import make_engine
from exchange.keyring import KEY_FILE_NAME
from exchange.system.backup import FORMAT
from tests.conftest import fresh_database
from tests.sites.test_views import Park, _linked, park  # noqa: F401  (the fixture)

# Some tests here build databases of their own from EXCHANGE_TEST_DATABASE_URL.
pytestmark = pytest.mark.database


def _cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


def _rows(path: Path) -> list[str]:
    """The dump's lines after its header (which holds the time and the dialect)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        header, *rows = lines.read().splitlines()
    assert json.loads(header)["format"] == FORMAT
    return rows


@pytest.fixture
def populated(app: Flask, park: Park) -> Park:  # noqa: F811
    """Records, shares, certificates, grades, parks and factories (a park is a site its
    factories point at), production, starter factors (exact decimals), and a sealed secret."""
    _linked(park)
    _cli(app, "factors", "load-starter")
    registered = park.client.put(
        "/api/v1/events-endpoint",
        json={"baseUrl": "https://pact.example.com", "clientId": "x", "clientSecret": "sealed"},
        headers=park.a.headers,
    )
    assert registered.status_code == 200, registered.get_json()
    return park


def _served(app: Flask, site: Park) -> dict[str, bytes]:
    client = app.test_client()
    pages = {
        "log-entries": client.get("/api/v1/log/entries"),
        "checkpoint": client.get("/api/v1/log/checkpoint"),
        "factors": client.get("/api/v1/factors?limit=1000", headers=site.a.headers),
        "list-a": client.get("/api/v1/footprints?limit=1000", headers=site.a.headers),
        "list-b": client.get("/api/v1/footprints?limit=1000", headers=site.b.headers),
        "pact-a": client.get("/3/footprints", headers=site.a.headers),
        "rollup": client.get(
            f"/api/v1/sites/{site.park}/rollup?asOf=2026-11-01T00:00:00Z",
            headers=site.park_owner.headers,
        ),
    }
    for name, record_id in site.records.items():
        owner = site.b if name.startswith("rb") else site.a
        pages[name] = client.get(f"/api/v1/footprints/{record_id}", headers=owner.headers)
    for name, response in pages.items():
        assert response.status_code == 200, (name, response.get_data(as_text=True))
    return {name: response.get_data() for name, response in pages.items()}


@pytest.mark.parametrize("name", ["exchange.jsonl", "exchange.jsonl.gz"])
def test_a_backup_restores_into_a_fresh_database_with_the_same_bytes(
    app: Flask,
    populated: Park,
    tmp_path: Path,
    name: str,
) -> None:
    before = _served(app, populated)
    dump = tmp_path / name
    assert "rows of" in _cli(app, "backup", str(dump))

    # the instance folder (the exchange's key) is backed up separately: copied here
    instance = tmp_path / "restored-instance"
    instance.mkdir()
    shutil.copy2(Path(app.instance_path) / KEY_FILE_NAME, instance / KEY_FILE_NAME)
    (tmp_path / "fresh").mkdir()
    with fresh_database(tmp_path / "fresh") as url:
        restored = create_app({"DATABASE_URL": url, "TESTING": True}, instance_path=str(instance))
        try:
            assert "restored" in _cli(restored, "restore", str(dump))
            assert _cli(restored, "audit").startswith("audit ok:")
            assert _served(restored, populated) == before
            again = tmp_path / f"again-{name}"
            _cli(restored, "backup", str(again))
            assert _rows(again) == _rows(dump)
            # a second restore into the now full database is refused and changes nothing
            refused = restored.test_cli_runner().invoke(args=["restore", str(dump)])
            assert refused.exit_code != 0 and "not empty" in refused.output
            assert _served(restored, populated) == before
        finally:
            restored.extensions["exchange.engine"].dispose()


# Where `make test` finds PostgreSQL; a SQLite run restores into it when it answers.
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_a_sqlite_backup_restores_into_postgresql(
    app: Flask, populated: Park, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if app.extensions["exchange.engine"].dialect.name != "sqlite":
        pytest.skip("the suite runs on PostgreSQL: this test moves SQLite's data there")
    probe = make_engine(POSTGRES_URL)
    try:
        with probe.connect():
            pass
    except sa.exc.OperationalError:
        pytest.skip("no PostgreSQL server answers")
    finally:
        probe.dispose()
    before = _served(app, populated)
    dump = tmp_path / "exchange.jsonl"
    _cli(app, "backup", str(dump))
    instance = tmp_path / "restored-instance"
    instance.mkdir()
    shutil.copy2(Path(app.instance_path) / KEY_FILE_NAME, instance / KEY_FILE_NAME)
    monkeypatch.setenv("EXCHANGE_TEST_DATABASE_URL", POSTGRES_URL)
    with fresh_database(tmp_path) as url:
        restored = create_app({"DATABASE_URL": url, "TESTING": True}, instance_path=str(instance))
        try:
            assert restored.extensions["exchange.engine"].dialect.name == "postgresql"
            assert "restored" in _cli(restored, "restore", str(dump))
            assert _cli(restored, "audit").startswith("audit ok:")
            assert _served(restored, populated) == before
            again = tmp_path / "again.jsonl"
            _cli(restored, "backup", str(again))
            assert sorted(_rows(again)) == sorted(_rows(dump))
        finally:
            restored.extensions["exchange.engine"].dispose()


def test_a_backup_of_another_schema_revision_is_refused(
    app: Flask, populated: Park, tmp_path: Path
) -> None:
    dump = tmp_path / "exchange.jsonl"
    _cli(app, "backup", str(dump))
    header, rest = dump.read_text(encoding="utf-8").split("\n", 1)
    older = tmp_path / "older.jsonl"
    older.write_text(json.dumps({**json.loads(header), "revision": "0001"}) + "\n" + rest)
    (tmp_path / "fresh").mkdir()
    with fresh_database(tmp_path / "fresh") as url:
        restored = create_app(
            {"DATABASE_URL": url, "TESTING": True}, instance_path=str(tmp_path / "other")
        )
        try:
            refused = restored.test_cli_runner().invoke(args=["restore", str(older)])
            assert refused.exit_code != 0 and "schema revision 0001" in refused.output
            # nothing was loaded: the real dump still restores
            assert "restored" in _cli(restored, "restore", str(dump))
        finally:
            restored.extensions["exchange.engine"].dispose()


def test_a_file_that_is_not_a_backup_is_refused(app: Flask, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"hello": "world"}\n')
    refused = app.test_cli_runner().invoke(args=["restore", str(bogus)])
    assert refused.exit_code != 0 and "not a Footprint Exchange backup" in refused.output
