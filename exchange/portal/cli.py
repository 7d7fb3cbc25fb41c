"""``exchange portal``: people who sign in to the web portal for an organisation."""

from __future__ import annotations

from collections.abc import Callable

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from exchange.db import transaction, utcnow
from exchange.errors import ExchangeError
from exchange.portal import services
from exchange.portal.models import PortalUser

# Asked for at the terminal (not echoed, twice) or read from the environment, so that a
# password need not stand on a command line where `ps` and shell histories show it.
password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="EXCHANGE_PORTAL_PASSWORD",
    help="asked for when not given (or set EXCHANGE_PORTAL_PASSWORD)",
)


@click.group("portal")
def portal_cli() -> None:
    """Users of the web portal (API clients stay for machines)."""


@portal_cli.command("add-user")
@click.option("--org", "organisation_id", required=True, help="organisation id")
@click.option("--email", required=True)
@click.option("--name", required=True)
@password_option
@click.option("--language", type=click.Choice(services.LANGUAGES), default="zh", show_default=True)
@with_appcontext
def add_user(organisation_id: str, email: str, name: str, password: str, language: str) -> None:
    """Let a person sign in for an organisation; its roles are the organisation's."""
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            user = services.create_user(
                session,
                organisation_id=organisation_id,
                email=email,
                name=name,
                password=password,
                language=language,
            )
            click.echo(f"user {user.id} <{user.email}> of organisation {user.organisation_id}")
    except ExchangeError as exc:
        lines = [exc.message]
        lines += [f"  {item.get('field', '')}: {item.get('message', '')}" for item in exc.details]
        raise click.ClickException("\n".join(lines)) from exc


@portal_cli.command("list-users")
@with_appcontext
def list_users() -> None:
    """Every portal user, one per line."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        for user in session.scalars(sa.select(PortalUser).order_by(PortalUser.email)):
            state = "disabled" if user.disabled_at else "active"
            click.echo(f"{user.id}  {user.email}  {user.organisation_id}  {state}")


def _change_user(email: str, change: Callable[[Session, PortalUser], None]) -> PortalUser:
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            user = services.user_by_email(session, email)
            change(session, user)
            return user
    except ExchangeError as exc:
        raise click.ClickException(exc.message) from exc


@portal_cli.command("disable-user")
@click.option("--email", required=True)
@with_appcontext
def disable_user(email: str) -> None:
    """Stop a person signing in; every session they have ends at once, on every node."""
    user = _change_user(
        email, lambda session, user: services.disable_user(session, user, now=utcnow())
    )
    click.echo(f"user {user.id} <{user.email}> disabled; their sessions ended")


@portal_cli.command("enable-user")
@click.option("--email", required=True)
@with_appcontext
def enable_user(email: str) -> None:
    """Let a disabled person sign in again (with the same password)."""
    user = _change_user(email, services.enable_user)
    click.echo(f"user {user.id} <{user.email}> enabled")


@portal_cli.command("set-password")
@click.option("--email", required=True)
@password_option
@with_appcontext
def set_password(email: str, password: str) -> None:
    """(Operators) Reset a person's password; every session they have ends."""
    user = _change_user(email, lambda session, user: services.set_password(session, user, password))
    click.echo(f"password of user {user.id} <{user.email}> set; their sessions ended")
