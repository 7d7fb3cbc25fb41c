"""``exchange products recompute-stale``: the operator's (or a cron job's) incremental
recomputation of stale products against the database. The rest of the ``products`` group
runs on a chain-owner's own machine (:mod:`exchange.client.product_cli`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.aggregation import services
from exchange.db import transaction
from exchange.errors import ExchangeError


@click.command("recompute-stale")
@with_appcontext
def recompute_stale_command() -> None:
    """Recompute exactly the stale products of every owner (run by the operator)."""
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            outcome = services.recompute_stale(session)
    except ExchangeError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{outcome.computed} recomputed, {outcome.changed} changed")
