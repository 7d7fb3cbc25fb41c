"""``exchange flows``: the regulator's flow summary and an owner's outbound flows, as JSON."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction
from exchange.footprints.flows import schemas, services
from exchange.footprints.flows.models import FlowKind
from exchange.organisations.principals import Principal


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


@click.group("flows")
def flows_cli() -> None:
    """Data-flow supervision (数据流通监管)."""


@flows_cli.command("summary")
@click.option("--period", type=click.Choice(services.PERIODS), default="month", show_default=True)
@click.option("--from", "since", type=click.DateTime(), help="flows from (UTC)")
@click.option("--to", "until", type=click.DateTime(), help="flows before (UTC)")
@with_appcontext
def summary_command(period: str, since: dt.datetime | None, until: dt.datetime | None) -> None:
    """Print flow counts per company pair and partner country, as the regulator sees them."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        result = services.summary(
            session, None, period=period, since=_utc(since), until=_utc(until)
        )
        document = schemas.summary_json(result)
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@flows_cli.command("outbound")
@click.argument("organisation_id")
@click.option("--record", "record_id", help="only this record")
@click.option("--recipient", "recipient_id", help="only this recipient (organisation or partner)")
@click.option("--kind", "kinds", multiple=True, type=click.Choice([k.value for k in FlowKind]))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@with_appcontext
def outbound_command(
    organisation_id: str,
    record_id: str | None,
    recipient_id: str | None,
    kinds: tuple[str, ...],
    limit: int,
) -> None:
    """Print who received an organisation's records (newest first)."""
    # The operator acts for the owner, with the owner's read scope and no other role.
    owner = Principal(
        organisation_id=organisation_id,
        client_id="exchange-cli",
        scopes=frozenset({"footprints:read"}),
        roles=frozenset(),
    )
    query = services.OutboundQuery(
        record_id=record_id,
        recipient_id=recipient_id,
        kinds=frozenset(FlowKind(kind) for kind in kinds),
        limit=limit,
    )
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        page = services.outbound(session, owner, query)
        document = {"data": [schemas.flow_json(flow) for flow in page.flows]}
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))
