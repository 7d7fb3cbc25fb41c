"""``exchange serve``'s gunicorn: the settings it runs with, and no database connection of the
master's carried into a forked worker."""

from __future__ import annotations

from pathlib import Path

from exchange.system import gunicorn_settings
from exchange.system.gunicorn_settings import release_connections
from exchange.system.serving import ExchangeServer
from tests.shared_app import build_app


def test_the_server_runs_the_settings_module_with_the_commands_options(tmp_path: Path) -> None:
    app = build_app(f"sqlite:///{tmp_path / 'exchange.db'}", tmp_path / "instance")
    try:
        server = ExchangeServer(app, {"bind": "127.0.0.1:9", "workers": 3})
        assert server.cfg.preload_app is True
        assert server.cfg.workers == 3
        assert server.cfg.bind == ["127.0.0.1:9"]
        assert server.cfg.worker_class_str == gunicorn_settings.worker_class
        assert server.cfg.pre_fork.__name__ == "pre_fork"
        assert server.load() is app
    finally:
        release_connections(app)


def test_no_connection_of_the_master_is_left_for_a_worker_to_inherit(tmp_path: Path) -> None:
    """The master migrated, checked the node and counted a rate limit: every engine the app
    opened, the rate-limit counters' own SQLite file included, holds no connection after."""
    app = build_app(f"sqlite:///{tmp_path / 'exchange.db'}", tmp_path / "instance")
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
