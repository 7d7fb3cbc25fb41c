"""The console script's own surface: its version and a help without Flask's loader options."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

from click.testing import CliRunner

from exchange.cli import main


def test_version_is_the_projects_not_flasks() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"exchange {version('footprint-exchange')}"
    assert "Flask" not in result.output


def test_help_lists_commands_without_flasks_loader_options() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for flask_option in ("--app", "--env-file", "--debug"):
        assert flask_option not in result.output
    assert "demo" in result.output and "serve" in result.output


def test_products_joins_the_chain_owners_commands_and_the_operators() -> None:
    """``exchange products``: the company-side group (exchange.client) with the one server
    command of the aggregation area added to it."""
    result = CliRunner().invoke(main, ["products", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("define", "bom", "compute", "explain", "export", "derive", "recompute-stale"):
        assert command in result.output


def test_a_company_command_starts_without_the_servers_code() -> None:
    """``exchange sign`` on a company's machine: importing the console script loads neither
    the database layer nor a server area (what made every command cost 1.2 s of CPU)."""
    probe = (
        "import sys, exchange.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'exchange.db', "
        "'exchange.footprints', 'exchange.demo', 'exchange.system.cli') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
