"""Administration: migrate the database, run the server, back up and restore."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from exchange.errors import ExchangeError
from exchange.keyring import load_or_create_exchange_key, rotate_exchange_key
from exchange.system import backup
from exchange.system.nodes import node_problem
from exchange.system.services import upgrade_database
from exchange.witness.keys import load_witness_key


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
def serve_command(
    host: str, port: int, workers: int | None, certfile: str | None, keyfile: str | None
) -> None:
    """Migrate, then serve with gunicorn (terminating TLS when given a certificate and key)."""
    if bool(certfile) != bool(keyfile):
        raise click.UsageError("give both --certfile and --keyfile, or neither")
    # Imported before the app is built: it names the metrics directory of the workers, which
    # prometheus_client reads when the app first imports it (exchange.observability).
    from exchange.system.gunicorn_settings import release_connections
    from exchange.system.serving import ExchangeServer

    # Not an app command (``with_appcontext``): the console script would have built the app
    # to find it, before the line above.
    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        upgrade_database(app.config["DATABASE_URL"])
        check_node()
    release_connections(app)
    options: dict[str, Any] = {"bind": f"{host}:{port}"}
    if workers:
        options["workers"] = workers
    if certfile and keyfile:
        options |= {"certfile": certfile, "keyfile": keyfile}
    logging.getLogger(__name__).info(
        "serving on %s://%s:%s", "https" if certfile else "http", host, port
    )
    ExchangeServer(app, options).run()


def check_node() -> None:
    """Refuse to start a node whose keys or origin are not the exchange's (see
    :mod:`exchange.system.nodes`)."""
    with current_app.extensions["exchange.sessions"]() as session:
        problem = node_problem(
            session,
            current_app.extensions["exchange.keyring"].current(),
            current_app.config["EXCHANGE_ORIGIN"],
            adopt_keys=current_app.config["ADOPT_KEYS"],
        )
    if problem is not None:
        raise click.ClickException(f"this node must not serve this exchange: {problem}")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def backup_command(file: Path) -> None:
    """Write every table to FILE (JSON lines; gzip if it ends in .gz), one consistent snapshot.

    The keys folder (EXCHANGE_KEYS_PATH, else the instance folder) is not in the database:
    back it up separately.
    """
    report = backup.backup_to_file(current_app.extensions["exchange.engine"], file)
    click.echo(
        f"backup of schema {report.revision}: {report.rows} rows of {report.tables} tables "
        f"in {file}"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def restore_command(file: Path) -> None:
    """Load a backup into this exchange's database, which must be empty; migrates it first."""
    upgrade_database(current_app.config["DATABASE_URL"])
    try:
        report = backup.restore_from_file(current_app.extensions["exchange.engine"], file)
    except ExchangeError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"restored {report.rows} rows of {report.tables} tables (schema {report.revision})")


@click.command("rotate")
@with_appcontext
def rotate_key_command() -> None:
    """(Operators) Retire the exchange's signing key and make a new current one.

    The retired key is kept in the keys folder and published in the JWK Set and the
    trust list, so everything it signed still verifies; secrets it sealed still open.
    Running servers and workers take the new key at their next request or round.
    """
    key = rotate_exchange_key(Path(current_app.config["KEYS_PATH"]))
    click.echo(f"the exchange now signs with {key.kid}")
    for item in key.retired:
        click.echo(f"retired {item.key.kid} at {item.retired_at.isoformat()}")


@click.command("init")
@with_appcontext
def init_keys_command() -> None:
    """(Operators) Make the exchange's keys in the keys folder where missing, and name them.

    The keys folder is EXCHANGE_KEYS_PATH, else the instance folder. Run this once, on one
    machine, then give every node of the exchange that folder: mount it on each, or copy it
    (keeping its files readable by their owner only). Existing keys are never replaced.
    """
    keys_path = Path(current_app.config["KEYS_PATH"])
    key = load_or_create_exchange_key(keys_path)
    witness = load_witness_key(keys_path, current_app.config)
    click.echo(f"keys folder {keys_path}")
    click.echo(f"exchange key {key.kid}")
    for item in key.retired:
        click.echo(f"retired {item.key.kid} at {item.retired_at.isoformat()}")
    click.echo(f"witness key {witness.verifier_key}")
