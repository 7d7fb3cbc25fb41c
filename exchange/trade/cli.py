"""``exchange trade``: print a record's export as the exchange's operator."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange import web
from exchange.db import transaction
from exchange.errors import NotFound
from exchange.footprints.models import FootprintRecord
from exchange.trade import services


@click.group("trade")
def trade_cli() -> None:
    """Trade-policy exports (EU Battery Regulation declaration, CBAM embedded emissions)."""


@trade_cli.command("export")
@click.argument("kind", type=click.Choice(["battery-declaration", "cbam-report"]))
@click.argument("record_id")
@with_appcontext
def export_command(kind: str, record_id: str) -> None:
    """Print a record's export as JSON, or what it lacks (exit status 1)."""
    exporter = (
        services.battery_declaration if kind == "battery-declaration" else services.cbam_report
    )
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        record = session.get(FootprintRecord, record_id.lower())
        if record is None:
            raise click.ClickException(str(NotFound(f"no footprint {record_id}")))
        try:
            export = exporter(
                session,
                record,
                key=web.exchange_key(),
                origin=current_app.config["EXCHANGE_ORIGIN"],
            )
        except services.MissingData as missing:
            click.echo(json.dumps(missing.to_body(), ensure_ascii=False, indent=2))
            raise SystemExit(1) from None
    click.echo(json.dumps(export.document, ensure_ascii=False, indent=2))
