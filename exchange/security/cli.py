"""``exchange security unlock``: lift a portal sign-in lock before its window ends."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.errors import ServiceUnavailable
from exchange.security import services


@click.group("security")
def security_cli() -> None:
    """Rate limits and sign-in locks."""


@security_cli.command("unlock")
@click.option("--email", help="the portal account to unlock")
@click.option("--address", help="the client IP address to unlock")
@with_appcontext
def unlock_command(email: str | None, address: str | None) -> None:
    """Forget the failed sign-ins of an account or an address."""
    if not email and not address:
        raise click.UsageError("give --email, --address or both")
    limiter: services.Limiter = current_app.extensions["exchange.limiter"]
    config = current_app.config
    try:
        if email:
            account = email.strip().lower()
            limiter.reset(services.ACCOUNT_FAILURES, account, config["LOGIN_LOCKOUT_ACCOUNT"])
            click.echo(f"unlocked the account {account}")
        if address:
            address = address.strip()
            limiter.reset(services.ADDRESS_FAILURES, address, config["LOGIN_LOCKOUT_ADDRESS"])
            click.echo(f"unlocked the address {address}")
    except ServiceUnavailable as exc:
        # Redis is away (logged at ERROR by the counter): a message, not a traceback.
        raise click.ClickException(exc.message) from exc
