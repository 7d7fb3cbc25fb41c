"""``exchange partners``: partner programmes, agreements, sync and offline bundle checks.

The commands that change partners or agreements act for the regulator organisation
(``--regulator``, or the only one registered), exactly as its API calls would.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
import requests
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from exchange import signing, web
from exchange.db import transaction
from exchange.errors import ExchangeError
from exchange.mutual_recognition import schemas, services
from exchange.mutual_recognition.verify import verdict_json, verify_bundle
from exchange.organisations.models import OrganisationRole, Role
from exchange.organisations.principals import Principal
from exchange.organisations.services import get_organisation
from exchange.partners.models import AgreementStatus, PartnerStatus


@click.group("partners")
def partners_cli() -> None:
    """Partner programmes, mutual-recognition agreements and federation sync."""


def _sessions() -> sessionmaker[Session]:
    return current_app.extensions["exchange.sessions"]  # type: ignore[no-any-return]


def _describe(error: ExchangeError) -> str:
    lines = [error.message]
    lines += [f"  {item.get('field', '')}: {item.get('message', '')}" for item in error.details]
    return "\n".join(lines)


def _regulator(session: Session, organisation_id: str | None) -> Principal:
    """The regulator the command acts for."""
    if organisation_id is None:
        found = list(
            session.scalars(
                sa.select(OrganisationRole.organisation_id).where(
                    OrganisationRole.role == Role.REGULATOR
                )
            )
        )
        if len(found) != 1:
            raise click.ClickException(
                "name the regulator organisation with --regulator "
                f"({len(found)} organisations have the regulator role)"
            )
        organisation_id = found[0]
    organisation = get_organisation(session, organisation_id)
    if not organisation.has_role(Role.REGULATOR):
        raise click.ClickException(f"organisation {organisation_id} is not the regulator")
    return Principal.acting_for(
        organisation, client_id="cli", scopes={"footprints:read", "footprints:write"}
    )


def _load_json(source: str) -> Any:
    """A JSON document from a file, or from an https/http URL."""
    try:
        if source.startswith(("https://", "http://")):
            response = requests.get(source, timeout=15)
            response.raise_for_status()
            return signing.parse_json(response.content)
        return signing.parse_json(Path(source).read_bytes())
    except signing.JSONRefused as exc:  # a name twice: another verifier may read the first
        raise click.ClickException(f"{source}: {exc.message}") from exc


def _echo(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


regulator_option = click.option(
    "--regulator", "regulator_id", help="the regulator organisation the change is made by"
)


@partners_cli.command("add")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 (a foreign programme)")
@click.option("--operator", required=True, help="who runs the programme")
@click.option("--uscc", help="its unified social credit code, if it has one (a domestic programme)")
@click.option("--contact", default="")
@click.option("--pact-url", required=True, help="base URL of the partner's PACT host")
@click.option("--jwks", "jwks_source", required=True, help="its JWK Set: a file or a URL")
@click.option("--log-origin", help="origin line of its log's checkpoints, if it has a log")
@click.option("--client-id", help="client credentials its host gave us")
@click.option("--client-secret")
@click.option("--filter", "filters", multiple=True, help="PACT filter for syncs, NAME=VALUE")
@click.option("--disclosure", type=click.Choice(sorted(schemas.DISCLOSURES)), default="public")
@regulator_option
@with_appcontext
def add_partner(
    name: str,
    country: str,
    operator: str,
    uscc: str | None,
    contact: str,
    pact_url: str,
    jwks_source: str,
    log_origin: str | None,
    client_id: str | None,
    client_secret: str | None,
    filters: tuple[str, ...],
    disclosure: str,
    regulator_id: str | None,
) -> None:
    """Onboard a partner programme, pinning its JWK Set now."""
    sync_filters: dict[str, list[str]] = {}
    for item in filters:
        filter_name, _, value = item.partition("=")
        sync_filters.setdefault(filter_name, []).append(value)
    body: dict[str, Any] = {
        "name": name,
        "country": country,
        "operator": operator,
        "contact": contact,
        "pactBaseUrl": pact_url,
        "jwks": _load_json(jwks_source),
        "logOrigin": log_origin,
        "syncFilters": sync_filters,
        "recognisedDisclosure": disclosure,
    }
    if uscc is not None:
        body["uscc"] = uscc
    if client_id is not None:
        body |= {"clientId": client_id, "clientSecret": client_secret}
    try:
        with transaction(_sessions()) as session:
            partner = services.register_partner(
                session,
                _regulator(session, regulator_id),
                schemas.parse_partner(body),
                key=web.exchange_key(),
                allow_private=current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
            )
            click.echo(partner.id)
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc


@partners_cli.command("list")
@with_appcontext
def list_partners() -> None:
    """Every partner programme, one per line."""
    with transaction(_sessions()) as session:
        for partner in services.list_partners(session):
            click.echo(
                f"{partner.id}  {partner.country}  {partner.status.value:<10}  {partner.name}"
            )


@partners_cli.command("status")
@click.argument("partner_id")
@click.argument("status", type=click.Choice([s.value for s in PartnerStatus]))
@click.option("--reason", required=True)
@regulator_option
@with_appcontext
def partner_status(partner_id: str, status: str, reason: str, regulator_id: str | None) -> None:
    """Suspend, reinstate (active) or withdraw a partner programme."""
    try:
        with transaction(_sessions()) as session:
            services.set_partner_status(
                session,
                _regulator(session, regulator_id),
                partner_id,
                PartnerStatus(status),
                reason,
            )
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc
    click.echo(f"partner {partner_id} is {status}")


@partners_cli.command("agreement")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@regulator_option
@with_appcontext
def create_agreement(file: Path, regulator_id: str | None) -> None:
    """Draft an agreement from a JSON file (as POST /api/v1/agreements takes it)."""
    try:
        with transaction(_sessions()) as session:
            agreement = services.create_agreement(
                session,
                _regulator(session, regulator_id),
                schemas.parse_agreement(_load_json(str(file))),
            )
            click.echo(str(agreement.id))
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc


@partners_cli.command("agreement-status")
@click.argument("agreement_id", type=int)
@click.argument("status", type=click.Choice([s.value for s in AgreementStatus]))
@click.option("--reason", required=True)
@regulator_option
@with_appcontext
def agreement_status(agreement_id: int, status: str, reason: str, regulator_id: str | None) -> None:
    """Grant, suspend, reinstate (granted) or withdraw an agreement."""
    try:
        with transaction(_sessions()) as session:
            services.set_agreement_status(
                session,
                _regulator(session, regulator_id),
                agreement_id,
                AgreementStatus(status),
                reason,
            )
    except ExchangeError as exc:
        raise click.ClickException(_describe(exc)) from exc
    click.echo(f"agreement {agreement_id} is {status}")


@partners_cli.command("agreements")
@with_appcontext
def list_agreements() -> None:
    """Every agreement, drafts included, one per line."""
    with transaction(_sessions()) as session:
        for agreement in services.list_agreements(
            session, _regulator_or_none(session), status=None
        ):
            click.echo(
                f"{agreement.id:>5}  {agreement.status.value:<10}  "
                f"{agreement.valid_until.date().isoformat()}  {agreement.title}"
            )


def _regulator_or_none(session: Session) -> Principal | None:
    try:
        return _regulator(session, None)
    except click.ClickException:
        return None


@partners_cli.command("sync")
@click.argument("partner_ids", nargs=-1)
@click.option("--max-pages", type=int, help="stop after this many pages (the next sync resumes)")
@with_appcontext
def sync_command(partner_ids: tuple[str, ...], max_pages: int | None) -> None:
    """Pull and verify new records from every active partner (or those named)."""
    sessions = _sessions()
    if not partner_ids:
        with transaction(sessions) as session:
            partner_ids = tuple(
                partner.id
                for partner in services.list_partners(session)
                if partner.status == PartnerStatus.ACTIVE
            )
    failed = False
    for partner_id in partner_ids:
        report = services.sync_partner(
            sessions,
            partner_id,
            key=web.exchange_key(),
            origin=current_app.config["EXCHANGE_ORIGIN"],
            max_pages=max_pages,
            allow_private=current_app.config["EVENTS_ALLOW_PRIVATE_HOSTS"],
            on_accepted=services.records_accepted_hook(
                current_app.config.get("PUBLIC_URL")
                or f"https://{current_app.config['EXCHANGE_ORIGIN']}"
            ),
        )
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        # A fork, an error or a walk that stopped before its end is not a finished sync.
        stopped = not report.complete and max_pages is None
        failed = failed or report.error is not None or report.fork is not None or stopped
    if failed:
        raise click.ClickException(
            "some partners could not be synced completely (see their errors and forks)"
        )


@partners_cli.command("revoke-anchor")
@click.argument("partner_id")
@click.argument("kid")
@click.option("--reason", required=True)
@click.option(
    "--revoked-at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
    help="from when (UTC when no offset is given; now by default, never in the future)",
)
@regulator_option
@with_appcontext
def revoke_anchor_command(
    partner_id: str, kid: str, reason: str, revoked_at: dt.datetime | None, regulator_id: str | None
) -> None:
    """Revoke a partner's pinned trust anchor; every recognition under it is flagged."""
    moment = None
    if revoked_at is not None:
        moment = revoked_at if revoked_at.tzinfo else revoked_at.replace(tzinfo=dt.UTC)
    with transaction(_sessions()) as session:
        try:
            services.revoke_anchor(
                session,
                _regulator(session, regulator_id),
                partner_id,
                kid,
                reason,
                revoked_at=moment,
            )
        except ExchangeError as error:
            raise click.ClickException(_describe(error)) from error
    click.echo(f"trust anchor {kid} of partner {partner_id} revoked")


@partners_cli.command("verify-bundle")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", required=True, help="the exchange's pinned JWK Set")
@click.option("--origin", help="the exchange's log origin, if pinned")
def verify_bundle_command(file: Path, jwks_source: str, origin: str | None) -> None:
    """Check a verification bundle offline against the pinned exchange key."""
    try:
        document = _load_json(str(file))
        pinned = _load_json(jwks_source)
    except (ValueError, OSError, requests.RequestException) as exc:
        raise click.ClickException(f"cannot read the bundle or the JWK Set: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("bundle"), dict):
        raise click.ClickException(
            f'{file} is not a verification bundle: a JSON object with a "bundle" object and '
            'its "signature", as GET /api/v1/footprints/<id>/verification answers'
        )
    verdict = verify_bundle(document, pinned=pinned, origin=origin)
    _echo(verdict_json(verdict))
    if not verdict.ok:
        raise SystemExit(1)
