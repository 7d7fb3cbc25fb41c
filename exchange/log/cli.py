"""``exchange audit``: hold the stored log to its logged objects and signed checkpoints."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from exchange import web
from exchange.keyring import ExchangeKey
from exchange.log import services


@click.command("audit")
@click.option(
    "--chunk-size",
    default=services.AUDIT_CHUNK,
    show_default=True,
    type=click.IntRange(1),
    help="entries read at a time",
)
@with_appcontext
def audit_command(chunk_size: int) -> None:
    """Recompute every leaf and root of the log; exit 1 naming the first bad index."""
    factory: sessionmaker[Session] = current_app.extensions["exchange.sessions"]
    key: ExchangeKey = web.exchange_key()
    sources: Mapping[str, services.Source] = current_app.extensions.get("exchange.log_sources", {})
    with factory() as session:
        report = services.audit(
            session,
            key.public_keys(),
            current_app.config["EXCHANGE_ORIGIN"],
            sources,
            chunk_size=chunk_size,
            release_between_chunks=True,
        )
    if not report.ok:
        where = "" if report.first_bad_index is None else f" at index {report.first_bad_index}"
        click.echo(
            f"audit FAILED{where}: {report.problem} "
            f"({report.entries_checked} of {report.tree_size} entries checked)",
            err=True,
        )
        raise SystemExit(1)
    root = base64.b64encode(report.root_hash or b"").decode("ascii")
    click.echo(
        f"audit ok: {report.tree_size} entries, {report.checkpoints_checked} checkpoints, "
        f"root {root}"
    )
