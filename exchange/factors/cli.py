"""``exchange factors``: import and export exchange files (or a published dataset through a
mapping file), load the starter dataset."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.factors import gwp, mapping, schemas, services
from exchange.factors.models import FactorKind, FactorStatus


def _echo_report(report: services.ImportReport) -> None:
    click.echo(
        f"{report.count('created')} created, {report.count('unchanged')} unchanged, "
        f"{report.count('rejected')} rejected"
    )
    for row in report.rows:
        for error in row.errors:
            where = f" {error['field']}" if error.get("field") else ""
            click.echo(f"row {row.row} ({row.code or '?'}){where}: {error['message']}", err=True)


@click.group("factors")
def factors_cli() -> None:
    """The factor database (因子数据库)."""


def _error_text(error: ExchangeError) -> str:
    """The message and, one per line, what it lists (a mapping's problems, say)."""
    lines = [error.message]
    for detail in error.details or []:
        if isinstance(detail, dict) and detail.get("message"):
            where = f"{detail['field']}: " if detail.get("field") else ""
            lines.append(f"  {where}{detail['message']}")
    return "\n".join(lines)


def _mapping(reference: str) -> mapping.Mapping:
    """A mapping file (TOML, or JSON by its extension), or a shipped mapping by name."""
    path = Path(reference)
    if path.is_file():
        syntax = "json" if path.suffix.lower() == ".json" else "toml"
        return mapping.parse_mapping(path.read_text("utf-8-sig"), syntax=syntax)
    return mapping.shipped(reference)


@factors_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "json"]),
    help="default: from the file's extension",
)
@click.option(
    "--mapping",
    "mapping_reference",
    metavar="MAPPING",
    help="FILE is a published dataset in its own layout: read it through this mapping file "
    "(TOML or JSON), or a shipped mapping by name (" + ", ".join(mapping.shipped_names()) + ")",
)
@with_appcontext
def import_command(file: Path, file_format: str | None, mapping_reference: str | None) -> None:
    """Load programme factors from FILE; good rows are stored, bad ones listed (exit 1)."""
    if mapping_reference and file_format:
        raise click.UsageError("--format goes without --mapping: the mapping names the format")
    try:
        with transaction(current_app.extensions["exchange.sessions"]) as session:
            if mapping_reference:
                report = mapping.import_mapped(
                    session,
                    file.read_bytes(),
                    _mapping(mapping_reference),
                    comment=f"imported from {file.name} through the mapping {mapping_reference}",
                )
            else:
                file_format = file_format or ("json" if file.suffix.lower() == ".json" else "csv")
                report = services.import_text(
                    session,
                    file.read_text("utf-8-sig"),
                    file_format,
                    comment=f"imported from {file.name}",
                )
    except ExchangeError as exc:
        raise click.ClickException(_error_text(exc)) from exc
    _echo_report(report)
    if report.count("rejected"):
        raise SystemExit(1)


@factors_cli.command("load-starter")
@with_appcontext
def load_starter_command() -> None:
    """Load the starter dataset shipped with the exchange (again: nothing changes)."""
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        report = services.load_starter(session)
    _echo_report(report)
    if report.count("rejected"):
        raise SystemExit(1)


@factors_cli.command("export")
@click.option("--format", "file_format", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--q", "text", help="text in the name, code or source")
@click.option("--region")
@click.option("--year", type=int)
@click.option("--category")
@click.option("--kind", type=click.Choice([k.value for k in FactorKind]))
@click.option(
    "--status",
    type=click.Choice([s.value for s in FactorStatus]),
    help="default: approved and retired",
)
@click.option("--gwp-set", type=click.Choice([s.value for s in gwp.GwpSet]))
@with_appcontext
def export_command(
    file_format: str,
    output: Path | None,
    text: str | None,
    region: str | None,
    year: int | None,
    category: str | None,
    kind: str | None,
    status: str | None,
    gwp_set: str | None,
) -> None:
    """Write the published factors matching the filters (stdout by default)."""
    filters = services.Filters(
        text=text,
        region=region,
        year=year,
        category=category,
        kind=FactorKind(kind) if kind else None,
        status=FactorStatus(status) if status else None,
        gwp_set=gwp.GwpSet(gwp_set) if gwp_set else None,
    )
    with transaction(current_app.extensions["exchange.sessions"]) as session:
        # No principal: the published set, which anyone may read.
        found = services.search(session, None, filters)
        if file_format == "csv":
            document = schemas.factors_csv(found)
        else:
            document = json.dumps(
                {"factors": [schemas.factor_json(f) for f in found]}, ensure_ascii=False, indent=2
            )
    if output is None:
        click.echo(document, nl=False)
    else:
        output.write_text(document, "utf-8")
        click.echo(f"{len(found)} factors written to {output}", err=True)
