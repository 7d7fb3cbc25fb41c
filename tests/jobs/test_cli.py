"""``exchange worker`` when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path

from exchange import create_app


def test_worker_once_reports_an_unreachable_database_and_fails(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "exchange.db"
    app = create_app({"DATABASE_URL": f"sqlite:///{missing}"}, instance_path=str(tmp_path / "i"))
    try:
        result = app.test_cli_runner().invoke(args=["worker", "--once"])
    finally:
        app.extensions["exchange.engine"].dispose()
    assert result.exit_code == 1, result.output
    assert "Error: the database is unavailable: unable to open database file" in result.output
