"""``exchange labels``: the exchange's label keys and its trust list, for the operator."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from exchange import web
from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.keyring import ExchangeKey
from exchange.labels import services


@click.group("labels")
def labels_cli() -> None:
    """Label keys and the signed trust list."""


def _sessions() -> sessionmaker[Session]:
    return current_app.extensions["exchange.sessions"]  # type: ignore[no-any-return]


@labels_cli.command("trust-list")
@with_appcontext
def print_trust_list() -> None:
    """Print the signed trust list (what /.well-known/trust-list.json serves), re-signing it
    first if what it lists changed or its renewal is due."""
    key: ExchangeKey = web.exchange_key()
    with transaction(_sessions()) as session:
        document = services.trust_list(
            session,
            key,
            origin=current_app.config["EXCHANGE_ORIGIN"],
            validity=services.trust_list_validity(current_app.config),
        )
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@labels_cli.command("revoke-key")
@click.argument("kid")
@click.option("--reason", required=True, help="Why (published in the trust list).")
@with_appcontext
def revoke_key(kid: str, reason: str) -> None:
    """Revoke a label key of the exchange from now on: labels it signs from today fail."""
    try:
        with transaction(_sessions()) as session:
            key = services.revoke_issuer_key(session, kid=kid, reason=reason)
            revoked_at = key.revoked_at
    except ExchangeError as exc:
        raise click.ClickException(exc.message) from exc
    assert revoked_at is not None
    click.echo(f"label key {kid} revoked at {revoked_at.isoformat()}")
