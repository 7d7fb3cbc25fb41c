"""Commands a company runs on its own machine: ``keys``, ``sign`` and ``push``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from exchange import signing
from exchange.client.api import ExchangeAPIError, ExchangeClient
from exchange.client.keys import LocalKey
from exchange.signing import SigningError

PUSH_BATCH_SIZE = 500


def _client(url: str, client_id: str, client_secret: str) -> ExchangeClient:
    return ExchangeClient(base_url=url, client_id=client_id, client_secret=client_secret)


_server_options = [
    click.option(
        "--url",
        envvar="EXCHANGE_URL",
        default="http://127.0.0.1:8000",
        show_default=True,
        help="Exchange base URL (EXCHANGE_URL).",
    ),
    click.option(
        "--client-id",
        envvar="EXCHANGE_CLIENT_ID",
        required=True,
        help="API client id (EXCHANGE_CLIENT_ID).",
    ),
    click.option(
        "--client-secret",
        envvar="EXCHANGE_CLIENT_SECRET",
        required=True,
        help="API client secret (EXCHANGE_CLIENT_SECRET).",
    ),
]


def server_options(function: Any) -> Any:
    for option in reversed(_server_options):
        function = option(function)
    return function


@click.group("keys")
def keys_cli() -> None:
    """Your organisation's signing keys (the private key stays on this machine)."""


@keys_cli.command("generate")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("signing-key.jwk.json"),
    show_default=True,
    help="Private key file to create (mode 0600).",
)
def generate_key(out: Path) -> None:
    """Create an Ed25519 key pair and print the public JWK to register."""
    key = LocalKey.generate()
    try:
        key.save(out)
    except FileExistsError as exc:
        raise click.ClickException(f"{out} exists; keys are never overwritten") from exc
    click.echo(
        f"private key written to {out} (keep it safe; it never leaves this machine)", err=True
    )
    click.echo(json.dumps(key.public_jwk(), indent=2))


@keys_cli.command("register")
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), required=True)
@server_options
def register_key(key_file: Path, url: str, client_id: str, client_secret: str) -> None:
    """Register the public half of KEY with the exchange."""
    key = _load_key(key_file)
    try:
        registered = _client(url, client_id, client_secret).register_key(key.public_jwk())
    except ExchangeAPIError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"registered key {registered['kid']}")


def _load_key(path: Path) -> LocalKey:
    try:
        return LocalKey.load(path)
    except SigningError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("sign")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="Your private key file.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write FILE.signed.json (default: beside each FILE).",
)
def sign_command(files: tuple[Path, ...], key_file: Path, out_dir: Path | None) -> None:
    """Sign PACT footprint FILES locally into envelopes ready to push."""
    key = _load_key(key_file)
    for path in files:
        try:
            footprint = signing.parse_json(path.read_bytes())
            envelope = key.sign_footprint(footprint)
        except (ValueError, SigningError) as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
        target = (out_dir or path.parent) / (path.name.removesuffix(".json") + ".signed.json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps(envelope, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        click.echo(f"signed {path} -> {target}")


@click.command("push")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@server_options
def push_command(files: tuple[Path, ...], url: str, client_id: str, client_secret: str) -> None:
    """Push signed envelope FILES to the exchange, in batches, with progress."""
    client = _client(url, client_id, client_secret)
    accepted = rejected = 0
    problems: list[str] = []
    chunks = [
        files[start : start + PUSH_BATCH_SIZE] for start in range(0, len(files), PUSH_BATCH_SIZE)
    ]
    progress = click.progressbar(chunks, label="pushing", file=sys.stderr, show_pos=True)
    with progress as bar:
        for chunk in bar:
            envelopes = []
            for path in chunk:
                try:
                    envelopes.append(signing.parse_json(path.read_bytes()))
                except ValueError as exc:
                    raise click.ClickException(f"{path}: not JSON ({exc})") from exc
            try:
                result = client.push_batch(envelopes)
            except ExchangeAPIError as exc:
                raise click.ClickException(str(exc)) from exc
            for item in result["results"]:
                path = chunk[item["index"]]
                if item["status"] == "rejected":
                    rejected += 1
                    error = item["error"]
                    fields = "; ".join(
                        f"{d.get('field', '')}: {d.get('message', '')}" for d in error["details"]
                    )
                    problems.append(
                        f"{path}: {error['message']}" + (f" ({fields})" if fields else "")
                    )
                else:
                    accepted += 1
                    if len(files) <= 20:
                        log_index = item["receipt"]["receipt"]["logIndex"]
                        click.echo(f"{path}: {item['status']} {item['id']}, log index {log_index}")
    for problem in problems:
        click.echo(f"rejected {problem}", err=True)
    click.echo(f"{accepted} accepted, {rejected} rejected")
    if rejected:
        raise SystemExit(1)
