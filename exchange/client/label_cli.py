"""Commands of a certification body and of a verifier: ``certificate`` and ``label``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click

from exchange.client.api import ExchangeAPIError
from exchange.client.cli import _client, _load_key, server_options
from exchange.client.labels import certificate_document, sign_certificate, verify_label_offline
from exchange.labels.verify import TrustListError, TrustListStale
from exchange.signing import SigningError, parse_json, public_key_from_jwk


def _json_file(path: Path) -> Any:
    try:
        return parse_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


# The exit status of a label that can be neither confirmed nor refused (a stale trust list).
CANNOT_CONFIRM = 3


@click.group("certificate")
def certificate_cli() -> None:
    """Certificates of a certification body, signed on this machine."""


@certificate_cli.command("sign")
@click.argument("footprint", type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--body", "body_id", required=True, help="Your organisation id.")
@click.option("--gtin", required=True, help="The certified product's GTIN.")
@click.option("--category", required=True, help="Product category the grade is computed in.")
@click.option("--days", type=click.IntRange(1, 730), default=None, help="Validity (two years).")
@click.option("--out", type=click.Path(path_type=Path), default=None)
def sign_certificate_command(
    footprint: Path,
    key_file: Path,
    body_id: str,
    gtin: str,
    category: str,
    days: int | None,
    out: Path | None,
) -> None:
    """Sign a certificate of the record FOOTPRINT (its PACT JSON, or the envelope as read)."""
    document = _json_file(footprint)
    if isinstance(document, dict) and "footprint" in document:
        document = document["footprint"]
    if not isinstance(document, dict) or "id" not in document:
        raise click.ClickException(f"{footprint}: not a PACT footprint")
    key = _load_key(key_file)
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0)
    certificate = certificate_document(
        body_id=body_id,
        record_id=str(document["id"]),
        footprint=document,
        gtin=gtin,
        category=category,
        issued=issued,
        valid_until=issued + dt.timedelta(days=days) if days else None,
    )
    envelope = sign_certificate(key, certificate)
    target = out or footprint.with_name(footprint.name.removesuffix(".json") + ".certificate.json")
    target.write_text(json.dumps(envelope, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    click.echo(f"signed certificate {certificate['id']} -> {target}")


@certificate_cli.command("submit")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@server_options
def submit_certificate(file: Path, url: str, client_id: str, client_secret: str) -> None:
    """Register a signed certificate FILE with the exchange; prints its registry number."""
    try:
        registered = _client(url, client_id, client_secret).certify(_json_file(file))
    except ExchangeAPIError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"certificate number {registered['number']}: {registered['status']}")


@click.group("label")
def label_cli() -> None:
    """Labels: verify a scanned label offline."""


@label_cli.command("verify")
@click.argument("text")
@click.option(
    "--trust-list",
    "trust_list",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="The exchange's /.well-known/trust-list.json, saved earlier.",
)
@click.option(
    "--pin",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="The exchange's public JWK (from /.well-known/jwks.json), obtained out of band.",
)
def verify_label_command(text: str, trust_list: Path, pin: Path) -> None:
    """Verify the scanned label TEXT with no network against a saved trust list.

    Exit status: 0 signature valid (offline only: whether the exchange issued this label with
    these claims, and whether its certificate was suspended or revoked, is not checked), 1
    invalid, 3 cannot confirm (the trust list is past its nextUpdate: fetch a fresh one).
    """
    jwk = _json_file(pin)
    keys = jwk.get("keys", [jwk]) if isinstance(jwk, dict) else []
    try:
        pinned = [public_key_from_jwk({k: v for k, v in key.items() if k != "d"}) for key in keys]
        verdict = verify_label_offline(text, trust_list=_json_file(trust_list), pinned=pinned)
    except TrustListStale as exc:
        click.echo(f"trust-list-stale: {exc}", err=True)
        click.echo("CANNOT CONFIRM (fetch a fresh /.well-known/trust-list.json)")
        raise SystemExit(CANNOT_CONFIRM) from exc
    except (SigningError, TrustListError) as exc:
        raise click.ClickException(str(exc)) from exc
    for reason in verdict.reasons:
        click.echo(f"{reason.code}: {reason.message}", err=True)
    if verdict.claims is not None:
        claims = verdict.claims
        click.echo(
            f"label {claims.label}: {claims.value} kg CO2e per {claims.unit}, grade "
            f"{claims.grade or '-'}, certificate {claims.certificate}, GTIN {claims.gtin}, "
            f"valid {claims.issued} to {claims.expires}"
        )
    if not verdict.valid:
        click.echo("INVALID")
        raise SystemExit(1)
    click.echo(
        "valid (offline: the signature only; not checked whether the exchange issued this "
        "label with these claims, nor whether its certificate was suspended or revoked)"
    )
