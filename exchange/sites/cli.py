"""``exchange sites``: roll-ups for the operator, as the regulator may see them."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction, utcnow
from exchange.sites import schemas, services
from exchange.sites.models import Site


@click.group("sites")
def sites_cli() -> None:
    """Factories and parks (绿色园区、工厂)."""


@sites_cli.command("rollup")
@click.argument("site_id")
@click.option("--from", "period_from", type=click.DateTime(), help="periods starting from (UTC)")
@click.option("--to", "period_to", type=click.DateTime(), help="periods ending by (UTC)")
@with_appcontext
def rollup_command(
    site_id: str, period_from: dt.datetime | None, period_to: dt.datetime | None
) -> None:
    """Print a site's production-weighted roll-up (records disclosed to the regulator)."""
    start = period_from.replace(tzinfo=dt.UTC) if period_from else None
    end = period_to.replace(tzinfo=dt.UTC) if period_to else None
    now = utcnow()
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        site = session.get(Site, site_id)
        if site is None:
            raise click.ClickException(f"no site {site_id}")
        whole, factories = services.site_rollup(
            session, None, site_id, now=now, period_from=start, period_to=end
        )
        document = schemas.site_rollup_json(
            site, whole, factories, now=now, period_from=start, period_to=end
        )
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))
