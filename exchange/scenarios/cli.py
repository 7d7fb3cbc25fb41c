"""``exchange scenarios``: the application scenarios from the exchange's database, for the
operator (or a cron job writing files): the same documents as /api/v1/scenarios, as JSON or
CSV on standard output.

``--as ORGANISATION`` reads as that organisation would (its roles decide: the company and
the regulator get a full disclosure report); without it, as an anonymous reader.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from exchange import web
from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.keyring import ExchangeKey
from exchange.log.services import ensure_checkpoint
from exchange.organisations.principals import Principal
from exchange.organisations.services import get_organisation
from exchange.scenarios import schemas, services
from exchange.scenarios.services.disclosure import READ_SCOPE

_FORMAT = click.option(
    "--format",
    "output",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="JSON document or CSV table.",
)
_AS = click.option(
    "--as",
    "viewer_id",
    default=None,
    metavar="ORGANISATION",
    help="Read as this organisation (id); anonymous without it.",
)


@click.group("scenarios")
def scenarios_cli() -> None:
    """Green procurement, disclosure reports and carbon-inclusion reductions."""


def _sessions() -> sessionmaker[Session]:
    return current_app.extensions["exchange.sessions"]  # type: ignore[no-any-return]


def _viewer(session: Session, viewer_id: str | None) -> Principal | None:
    if viewer_id is None:
        return None
    organisation = get_organisation(session, viewer_id)
    return Principal.acting_for(organisation, client_id="cli", scopes={READ_SCOPE})


def _args(**options: object) -> dict[str, str]:
    """Options as the query parameters the API takes, so both are parsed alike."""
    return {name: str(value) for name, value in options.items() if value is not None}


def _run(
    work: Callable[[Session], tuple[dict[str, Any], Sequence[str], list[dict[str, object]]]],
    output: str,
) -> None:
    try:
        with transaction(_sessions()) as session:
            document, columns, rows = work(session)
    except ExchangeError as exc:
        for detail in exc.details:
            click.echo(f"  {detail.get('field', '')}: {detail.get('message', '')}", err=True)
        raise click.ClickException(exc.message) from exc
    if output == "csv":
        click.echo(schemas.to_csv(columns, rows), nl=False)
    else:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@scenarios_cli.command("procurement")
@click.option("--category", required=True, help="Product category (classification URN).")
@click.option("--grade", required=True, help="Worst grade accepted (1 is best).")
@click.option("--rule", default=None, help="Only records citing this accounting rule code.")
@click.option("--region", default=None, help="PACT region, country or subdivision (CN, CN-HI).")
@click.option("--as-of", "as_of", default=None, help="Date (YYYY-MM-DD) or date-time.")
@_FORMAT
@with_appcontext
def procurement_command(
    category: str, grade: str, rule: str | None, region: str | None, as_of: str | None, output: str
) -> None:
    """The green-procurement list (绿色采购清单): certified products at or better than a grade."""
    query = _args(category=category, grade=grade, rule=rule, region=region, asOf=as_of)

    def work(session: Session) -> tuple[dict[str, Any], Sequence[str], list[dict[str, object]]]:
        found = services.procurement_list(session, schemas.procurement_query(query))
        return (
            schemas.procurement_json(found),
            schemas.PROCUREMENT_COLUMNS,
            schemas.procurement_rows(found),
        )

    _run(work, output)


@scenarios_cli.command("disclosure")
@click.argument("company_id")
@_AS
@click.option("--include-deprecated", is_flag=True, help="List superseded records too.")
@_FORMAT
@with_appcontext
def disclosure_command(
    company_id: str, viewer_id: str | None, include_deprecated: bool, output: str
) -> None:
    """A company's disclosure report (full for the company and the regulator, else public)."""
    key: ExchangeKey = web.exchange_key()
    origin = str(current_app.config["EXCHANGE_ORIGIN"])

    def work(session: Session) -> tuple[dict[str, Any], Sequence[str], list[dict[str, object]]]:
        viewer = _viewer(session, viewer_id)
        checkpoint = ensure_checkpoint(session, key, origin)
        report = services.disclosure_report(
            session,
            viewer,
            company_id,
            log_size=checkpoint.tree_size,
            include_deprecated=include_deprecated,
        )
        indexes = [item.record.log_index for item in report.records]
        indexes += [entry.certificate.log_index for entry in report.certificates]
        document = schemas.disclosure_json(
            report, services.leaf_hashes(session, indexes), checkpoint.note
        )
        return document, schemas.DISCLOSURE_COLUMNS, schemas.disclosure_rows(document)

    _run(work, output)


@scenarios_cli.command("reductions")
@click.option("--record", default=None, help="Footprint record id.")
@click.option("--certificate", default=None, help="Certificate (registry) number.")
@click.option("--category", default=None, help="Category, when the record does not say it.")
@click.option("--quantity", default=None, help="Quantity sold or consumed (a decimal).")
@click.option("--quantity-unit", default=None, help="Its unit (the scheme's unit if omitted).")
@click.option("--scheme-version", default=None, help="A scheme version other than the newest.")
@_AS
@_FORMAT
@with_appcontext
def reductions_command(
    record: str | None,
    certificate: str | None,
    category: str | None,
    quantity: str | None,
    quantity_unit: str | None,
    scheme_version: str | None,
    viewer_id: str | None,
    output: str,
) -> None:
    """Carbon-inclusion (碳普惠) reduction of a product against its category benchmark."""
    query = _args(
        record=record,
        certificate=certificate,
        category=category,
        quantity=quantity,
        quantityUnit=quantity_unit,
        schemeVersion=scheme_version,
    )

    def work(session: Session) -> tuple[dict[str, Any], Sequence[str], list[dict[str, object]]]:
        found = services.reduction(
            session, _viewer(session, viewer_id), schemas.reduction_query(query)
        )
        document = schemas.reduction_json(found)
        return document, schemas.REDUCTION_COLUMNS, schemas.reduction_rows(document)

    _run(work, output)
