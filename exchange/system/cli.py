"""Administration: migrate the database and run the server."""

from __future__ import annotations

import logging
import os
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.system.services import upgrade_database


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the schema by running the migrations."""
    upgrade_database(current_app.config["DATABASE_URL"])
    click.echo("database is at the newest schema")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=None, type=int, help="gunicorn workers (default from gunicorn.conf.py)"
)
@click.option(
    "--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS certificate (PEM)"
)
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS private key (PEM)"
)
@with_appcontext
def serve_command(
    host: str, port: int, workers: int | None, certfile: str | None, keyfile: str | None
) -> None:
    """Migrate, then serve with gunicorn (terminating TLS when given a certificate and key)."""
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("give both --certfile and --keyfile, or neither")
    upgrade_database(current_app.config["DATABASE_URL"])
    os.environ["EXCHANGE_INSTANCE_PATH"] = current_app.instance_path
    os.environ.setdefault("EXCHANGE_DATABASE_URL", current_app.config["DATABASE_URL"])
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:exchange.system.gunicorn_settings",
        "--bind",
        f"{host}:{port}",
    ]
    if workers:
        argv += ["--workers", str(workers)]
    if certfile and keyfile:
        argv += ["--certfile", certfile, "--keyfile", keyfile]
    argv.append("exchange:create_app()")
    logging.getLogger(__name__).info(
        "serving on %s://%s:%s", "https" if certfile else "http", host, port
    )
    os.execv(sys.executable, argv)
