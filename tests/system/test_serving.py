"""``exchange serve``'s gunicorn: the settings it runs with, and no database connection of the
master's carried into a forked worker."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from tests.shared_app import build_app


def _settings(monkeypatch: pytest.MonkeyPatch, directory: Path) -> ModuleType:
    """exchange.system.gunicorn_settings, imported without leaving its metrics directory in
    this process's environment: the apps the suite builds afterwards read it, and
    prometheus_client, imported already, could no longer switch to multiprocess mode."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory / "metrics"))
    return importlib.import_module("exchange.system.gunicorn_settings")


def test_the_server_runs_the_settings_module_with_the_commands_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(f"sqlite:///{tmp_path / 'exchange.db'}", tmp_path / "instance")
    settings = _settings(monkeypatch, tmp_path)
    serving = importlib.import_module("exchange.system.serving")
    try:
        server = serving.ExchangeServer(app, {"bind": "127.0.0.1:9", "workers": 3})
        assert server.cfg.preload_app is True
        assert server.cfg.workers == 3
        assert server.cfg.bind == ["127.0.0.1:9"]
        assert server.cfg.worker_class_str == settings.worker_class
        assert server.cfg.pre_fork.__name__ == "pre_fork"
        assert server.load() is app
    finally:
        settings.release_connections(app)


def test_no_connection_of_the_master_is_left_for_a_worker_to_inherit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master migrated, checked the node and counted a rate limit: every engine the app
    opened, the rate-limit counters' own SQLite file included, holds no connection after."""
    app = build_app(f"sqlite:///{tmp_path / 'exchange.db'}", tmp_path / "instance")
    release_connections = _settings(monkeypatch, tmp_path).release_connections
    engines = app.extensions["exchange.engines"]
    assert len(engines) == 2  # the exchange's database and the counters' file
    for engine in engines:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        assert engine.pool.checkedin() == 1
    release_connections(app)
    assert [engine.pool.checkedin() for engine in engines] == [0, 0]
    # and each engine opens a fresh connection when next used
    with engines[0].connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    release_connections(app)
