"""``exchange witness``: the operator's commands for witnessing, both ways.

This exchange as a witness: ``key`` prints its verifier key (what a partner pins),
``witness-log`` / ``unwitness-log`` / ``logs`` manage the logs it cosigns. Witnesses of this
exchange's log: ``add`` / ``remove`` / ``quorum`` / ``list``, and ``collect`` runs one round
of submissions now (the worker does it every EXCHANGE_WITNESS_INTERVAL seconds).

``--partner <id>`` takes what the exchange already knows of a partner programme: for a log,
its origin and pinned trust anchors (looked up afresh at each submission, so the partner's
key changes follow); for a witness, the programme's name as its operator.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from exchange import web
from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.witness import collect, policy, services
from exchange.witness.models import WitnessKind
from exchange.witness.views import witness_key

PARTNERS = "exchange.witness.partners"


@click.group("witness")
def witness_cli() -> None:
    """Witnessed logs: cosign partners' checkpoints; have ours cosigned."""


def _sessions() -> sessionmaker[Session]:
    return current_app.extensions["exchange.sessions"]  # type: ignore[no-any-return]


def _partner(session: Session, partner_id: str) -> services.PartnerFacts:
    lookup: services.PartnerLookup | None = current_app.extensions.get(PARTNERS)
    if lookup is None:
        raise click.ClickException("this exchange knows no partner programmes")
    return lookup(session, partner_id)


def _fail(error: ExchangeError) -> click.ClickException:
    return click.ClickException(error.message)


@witness_cli.command("key")
@with_appcontext
def key_command() -> None:
    """Print this exchange's witness name and verifier key (type 0x04)."""
    found = witness_key()
    click.echo(f"{found.name}\n{found.verifier_key}")


@witness_cli.command("witness-log")
@click.argument("origin", required=False)
@click.option("--key", "keys", multiple=True, help="a note verifier key of the log (repeatable)")
@click.option("--partner", "partner_id", help="a partner programme: its log origin and anchors")
@with_appcontext
def witness_log_command(origin: str | None, keys: Sequence[str], partner_id: str | None) -> None:
    """Cosign the checkpoints of the log ORIGIN (or the partner's log)."""
    try:
        with transaction(_sessions()) as session:
            if partner_id is not None:
                facts = _partner(session, partner_id)
                if facts.log_origin is None:
                    raise click.ClickException(f"partner {partner_id} registered no log origin")
                if origin is not None and origin != facts.log_origin:
                    raise click.ClickException(f"the partner's log origin is {facts.log_origin}")
                origin = facts.log_origin
            if origin is None:
                raise click.ClickException("name the log's ORIGIN, or --partner")
            found = services.register_log(
                session, origin=origin, verifier_keys=keys, partner_id=partner_id
            )
            click.echo(f"witnessing {found.origin} (cosigned up to size {found.tree_size})")
    except ExchangeError as exc:
        raise _fail(exc) from exc


@witness_cli.command("unwitness-log")
@click.argument("origin")
@with_appcontext
def unwitness_log_command(origin: str) -> None:
    """Stop cosigning the log ORIGIN (what was cosigned is kept: no rollback if resumed)."""
    try:
        with transaction(_sessions()) as session:
            services.remove_log(session, origin)
    except ExchangeError as exc:
        raise _fail(exc) from exc


@witness_cli.command("logs")
@with_appcontext
def logs_command() -> None:
    """The logs this exchange witnesses: origin, size last cosigned, when."""
    with _sessions()() as session:
        for item in services.witnessed_logs(session):
            when = item.cosigned_at.isoformat() if item.cosigned_at else "never"
            click.echo(f"{item.origin}\t{item.tree_size}\t{when}")


@witness_cli.command("add")
@click.argument("verifier_key")
@click.option("--url", required=True, help="the witness's submission prefix")
@click.option("--operator", help="who runs it (default: the partner programme's name)")
@click.option("--partner", "partner_id", help="the partner programme that runs it")
@with_appcontext
def add_command(verifier_key: str, url: str, operator: str | None, partner_id: str | None) -> None:
    """Have our checkpoints cosigned by the witness of VERIFIER_KEY (name+id+base64)."""
    try:
        with transaction(_sessions()) as session:
            if partner_id is not None:
                operator = operator or _partner(session, partner_id).name
            if not operator:
                raise click.ClickException("name who runs the witness: --operator or --partner")
            found = policy.add_witness(
                session,
                verifier_key=verifier_key,
                url=url,
                operator=operator,
                kind=WitnessKind.PARTNER if partner_id else WitnessKind.INDEPENDENT,
                partner_id=partner_id,
            )
            click.echo(found.name)
    except ExchangeError as exc:
        raise _fail(exc) from exc


@witness_cli.command("remove")
@click.argument("name")
@with_appcontext
def remove_command(name: str) -> None:
    """Stop asking the witness NAME."""
    try:
        with transaction(_sessions()) as session:
            policy.remove_witness(session, name)
    except ExchangeError as exc:
        raise _fail(exc) from exc


@witness_cli.command("quorum")
@click.argument("k", type=click.IntRange(0))
@with_appcontext
def quorum_command(k: int) -> None:
    """Require K of the active witnesses to cosign (0: none required)."""
    try:
        with transaction(_sessions()) as session:
            policy.set_quorum(session, k)
            click.echo(f"{k} of {len(policy.active_witnesses(session))}")
    except ExchangeError as exc:
        raise _fail(exc) from exc


@witness_cli.command("list")
@with_appcontext
def list_command() -> None:
    """The witnesses of our log and how each is doing (JSON)."""
    with _sessions()() as session:
        document = {
            "quorum": policy.quorum(session),
            "witnesses": [
                policy.witness_status_json(item) for item in policy.active_witnesses(session)
            ],
        }
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@witness_cli.command("collect")
@with_appcontext
def collect_command() -> None:
    """Submit our current checkpoint to the witnesses now; one JSON line per witness."""
    config = current_app.config
    results = collect.collect(
        _sessions(),
        web.exchange_key(),
        str(config["EXCHANGE_ORIGIN"]),
        timeout=float(config["WITNESS_TIMEOUT_SECONDS"]),
        allow_private=bool(config["EVENTS_ALLOW_PRIVATE_HOSTS"]),
    )
    for result in results:
        click.echo(json.dumps(dataclasses.asdict(result), ensure_ascii=False))
