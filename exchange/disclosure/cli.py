"""``exchange disclosure``: the reminder pass and the compliance overview, for the operator."""

from __future__ import annotations

import datetime as dt
import json

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction, utcnow
from exchange.disclosure import services
from exchange.pact_wire.host import Host


def _moment(value: dt.datetime | None) -> dt.datetime:
    return utcnow() if value is None else value.replace(tzinfo=dt.UTC)


@click.group("disclosure")
def disclosure_cli() -> None:
    """Disclosure regime (信息披露): reminders and compliance."""


@disclosure_cli.command("remind")
@click.option("--now", type=click.DateTime(), help="the time to judge deadlines at (UTC)")
@with_appcontext
def remind_command(now: dt.datetime | None) -> None:
    """Send each company one reminder per change of an obligation to due-soon or overdue
    (listed for the portal, queued to its events endpoint for ``exchange worker``)."""
    base_url = (
        current_app.config.get("PUBLIC_URL") or f"https://{current_app.config['EXCHANGE_ORIGIN']}"
    )
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        report = services.remind(session, now=_moment(now), host=Host(base_url=base_url))
    click.echo(
        f"disclosure: {report.checked} obligation(s), {report.changed} changed, "
        f"{report.reminded} reminder(s), {report.events} event(s) queued"
    )


@disclosure_cli.command("overview")
@click.option("--now", type=click.DateTime(), help="the time to judge deadlines at (UTC)")
@with_appcontext
def overview_command(now: dt.datetime | None) -> None:
    """Print every obligation's state as JSON (counts by state first)."""
    moment = _moment(now)
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        obligations = services.all_obligations(session, now=moment)
        counts: dict[str, int] = {}
        for obligation in obligations:
            counts[obligation.state.value] = counts.get(obligation.state.value, 0) + 1
        document = {
            "asOf": moment.isoformat(),
            "counts": counts,
            "data": [
                {"organisationId": o.organisation_id, **services.reminder_detail(o)}
                for o in obligations
            ],
        }
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))
