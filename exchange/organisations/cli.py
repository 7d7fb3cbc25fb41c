"""Administration of organisations and their API clients."""

from __future__ import annotations

import json

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.organisations import services
from exchange.organisations.models import Organisation, Role
from exchange.organisations.schemas import organisation_json


@click.group("org")
def org_cli() -> None:
    """Organisations registered on the exchange."""


@org_cli.command("create")
@click.option("--name", required=True)
@click.option("--country", default="CN", show_default=True, help="ISO 3166-1 alpha-2")
@click.option("--uscc", help="unified social credit code (required for CN)")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([role.value for role in Role]),
)
@click.option("--company-id", "company_ids", multiple=True, help="extra PACT company URN")
@with_appcontext
def create_org(
    name: str, country: str, uscc: str | None, roles: tuple[str, ...], company_ids: tuple[str, ...]
) -> None:
    """Register an organisation; prints it as JSON."""
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            organisation = services.create_organisation(
                session,
                name=name,
                country=country,
                uscc=uscc,
                roles=[Role(role) for role in roles],
                company_ids=company_ids,
            )
            click.echo(json.dumps(organisation_json(organisation), ensure_ascii=False, indent=2))
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc


@org_cli.command("list")
@with_appcontext
def list_orgs() -> None:
    """Every organisation, one per line."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        for organisation in session.scalars(sa.select(Organisation).order_by(Organisation.name)):
            roles = ",".join(sorted(item.role.value for item in organisation.roles))
            click.echo(
                f"{organisation.id}  {organisation.country}  {roles:<30}  {organisation.name}"
            )


@click.group("client")
def client_cli() -> None:
    """API clients (OAuth2 client credentials) of organisations."""


@client_cli.command("create")
@click.option("--org", "organisation_id", required=True, help="organisation id")
@click.option("--name", default="default", show_default=True)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(sorted(services.SCOPES)),
    help="granted scopes (default: all)",
)
@with_appcontext
def create_client(organisation_id: str, name: str, scopes: tuple[str, ...]) -> None:
    """Create client credentials; the secret is printed once and never stored."""
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            credentials = services.create_client(
                session,
                organisation_id=organisation_id,
                name=name,
                scopes=scopes or services.SCOPES,
            )
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc
    click.echo(
        json.dumps(
            {"client_id": credentials.client_id, "client_secret": credentials.client_secret},
            indent=2,
        )
    )


def _describe(error: ExchangeError) -> str:
    lines = [error.message]
    lines += [f"  {item.get('field', '')}: {item.get('message', '')}" for item in error.details]
    return "\n".join(lines)
