"""``exchange rules``: read the accounting rules list and the demand catalogue."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction
from exchange.rules import schemas, services
from exchange.rules.models import RuleStatus


@click.group("rules")
def rules_cli() -> None:
    """The accounting rules list (核算规则清单) and demand catalogue (需求目录)."""


@rules_cli.command("list")
@click.option("--status", type=click.Choice([s.value for s in RuleStatus]))
@with_appcontext
def list_command(status: str | None) -> None:
    """Every rule, one per line: code, status, declared unit, boundary, title."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        for rule in services.list_rules(session, status=RuleStatus(status) if status else None):
            click.echo(
                f"{rule.code:<20} {rule.status.value:<10} {rule.declared_unit:<14} "
                f"{rule.system_boundary.value:<16} {rule.title}"
            )


@rules_cli.command("demands")
@click.option("--open", "open_only", is_flag=True, help="only demands no listed rule answers")
@with_appcontext
def demands_command(open_only: bool) -> None:
    """The demand catalogue, one per line."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        for demand in services.list_demands(session, open_only=open_only):
            body = schemas.demand_json(demand)
            answered = f"answered by {body['ruleCode']}" if body["ruleCode"] else "open"
            click.echo(f"{body['id']:>5}  {answered:<24} {body['category']}")
