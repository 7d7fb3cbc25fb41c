"""``exchange products``: a chain-owner's products, from its own machine.

Every command talks to the exchange API with the organisation's client credentials;
``derive`` signs the derived footprint locally with the private key, which never leaves the
machine. The group's one server command, ``recompute-stale`` (the operator's incremental
recomputation against the database), is the aggregation area's (:mod:`exchange.aggregation.cli`)
and joins the group in :mod:`exchange.cli`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import click

from exchange.aggregation import commitments
from exchange.client.api import ExchangeAPIError, ExchangeClient
from exchange.client.cli import server_options
from exchange.client.keys import LocalKey
from exchange.labels.verify import TrustListError, TrustListStale
from exchange.signing import SigningError, parse_json

# Members of the API's product documents that the commands print first: PACT's headline
# figure, which excludes biogenic uptake.
HEADLINE: Final = "pcfExcludingBiogenicUptake"
TO_ROOT_HEADLINE: Final = "contributionToRootExcludingBiogenicUptake"


def _client(url: str, client_id: str, client_secret: str) -> ExchangeClient:
    return ExchangeClient(base_url=url, client_id=client_id, client_secret=client_secret)


def _echo(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except ExchangeAPIError as exc:
        details = exc.body.get("details") if isinstance(exc.body, dict) else None
        for detail in details or ():
            click.echo(f"  {detail.get('field', '')}: {detail.get('message', '')}", err=True)
        raise click.ClickException(str(exc)) from exc


@click.group("products")
def products_cli() -> None:
    """Products, bills of materials and derived footprints (chain-owners)."""


@products_cli.command("define")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_options
def define_command(file: Path, url: str, client_id: str, client_secret: str) -> None:
    """Create or change a product from a JSON FILE (code, name, declaredUnit, lines...)."""
    try:
        document = json.loads(file.read_text("utf-8"))
    except ValueError as exc:
        raise click.ClickException(f"{file}: not JSON ({exc})") from exc
    product = _call(_client(url, client_id, client_secret).define_product, document)
    click.echo(f"product {product['code']}: {product['id']}")


@products_cli.command("bom")
@click.argument("product_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@server_options
def bom_command(product_id: str, file: Path, url: str, client_id: str, client_secret: str) -> None:
    """Replace a product's bill of materials from a CSV or JSON FILE."""
    client = _client(url, client_id, client_secret)
    text = file.read_text("utf-8-sig")
    if file.suffix.lower() == ".csv":
        product = _call(client.upload_bom, product_id, csv_text=text)
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise click.ClickException(f"{file}: not JSON ({exc})") from exc
        lines = document["lines"] if isinstance(document, dict) else document
        product = _call(client.upload_bom, product_id, lines=lines)
    click.echo(f"{len(product['lines'])} lines for {product['code']}")


@products_cli.command("compute")
@click.argument("product_id")
@server_options
def compute_command(product_id: str, url: str, client_id: str, client_secret: str) -> None:
    """Compute a product (and its own stale components); print the result."""
    body = _call(_client(url, client_id, client_secret).compute_product, product_id)
    result = body["result"]
    pcf = result["pcf"]
    click.echo(
        f"{result['product']['code']}: {_per_unit(pcf[HEADLINE], result['product'])} "
        f"(including biogenic uptake {pcf['total']}; fossil {pcf['fossil']}, biogenic "
        f"{pcf['biogenic']}, land use {pcf['landUse']}, packaging {pcf['packaging']}); "
        f"digest {body['digest']}"
    )
    for missing in result["missingSupplierData"]:
        click.echo(f"secondary instead of supplier data: {missing}", err=True)


def _per_unit(headline: str, product: dict[str, Any]) -> str:
    """PACT's headline figure as the CLI shows it first: excluding biogenic uptake."""
    return (
        f"{headline} kg CO2e per {product['declaredAmount']} {product['declaredUnit']} "
        "excluding biogenic uptake"
    )


def _explained(node: dict[str, Any], indent: str = "") -> list[str]:
    """The breakdown tree as text: each figure is the headline, then the total with uptake."""
    lines = [
        f"{indent}{node['product']['code']}: {_per_unit(node['pcf'][HEADLINE], node['product'])} "
        f"(including biogenic uptake {node['pcf']['total']})"
        + (f" - stale: {node['staleReason']}" if node["stale"] else "")
    ]
    for item in node["components"]:
        kind = item["kind"] + (", secondary" if item["secondary"] else "")
        lines.append(
            f"{indent}  line {item['position']}, {item['label'] or item['category']} ({kind}), "
            f"{item['quantity']} {item['unit']}: {item[TO_ROOT_HEADLINE]} of the root "
            f"(including biogenic uptake {item['contributionToRoot']})"
        )
        if "breakdown" in item:
            lines += _explained(item["breakdown"], indent + "     ")
    return lines


@products_cli.command("explain")
@click.argument("product_id")
@click.option("--json", "as_json", is_flag=True, help="Print the tree as JSON instead.")
@server_options
def explain_command(
    product_id: str, as_json: bool, url: str, client_id: str, client_secret: str
) -> None:
    """Print the breakdown tree, by component and by tier."""
    explanation = _call(_client(url, client_id, client_secret).explain_product, product_id)
    if as_json:
        _echo(explanation)
        return
    for line in _explained(explanation["tree"]):
        click.echo(line)
    for tier in explanation["byTier"]:
        click.echo(
            f"tier {tier['tier']}: {tier[HEADLINE]} (including biogenic uptake {tier['total']})"
        )


@products_cli.command("export")
@click.argument("product_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@server_options
def export_command(
    product_id: str, out: Path | None, url: str, client_id: str, client_secret: str
) -> None:
    """Write the reproducible result (every input with its contribution) as JSON."""
    body = _call(_client(url, client_id, client_secret).product_result, product_id)
    text = json.dumps(body, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, "utf-8")
        click.echo(f"wrote {out} (digest {body['digest']})")


@products_cli.command("request-missing")
@click.argument("product_id")
@server_options
def request_missing_command(product_id: str, url: str, client_id: str, client_secret: str) -> None:
    """Send a footprint request to every supplier whose data the result lacks."""
    body = _call(_client(url, client_id, client_secret).request_missing, product_id)
    for item in body["data"]:
        click.echo(f"request {item['requestId']} to {item['supplierId']}: {item['status']}")
    click.echo(f"{len(body['data'])} requests")


@products_cli.command("derive")
@click.argument("product_id")
@click.option("--key", "key_file", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--reference-year", type=int, default=None)
@click.option("--yes", is_flag=True, help="Submit without showing the draft first.")
@server_options
def derive_command(
    product_id: str,
    key_file: Path,
    reference_year: int | None,
    yes: bool,
    url: str,
    client_id: str,
    client_secret: str,
) -> None:
    """Review the derived footprint, sign it locally and submit it as a record."""
    try:
        key = LocalKey.load(key_file)
    except SigningError as exc:
        raise click.ClickException(str(exc)) from exc
    client = _client(url, client_id, client_secret)
    draft = _call(client.derived_draft, product_id, reference_year)
    if not yes:
        pcf = draft["pcf"]
        unit = {"declaredAmount": pcf["declaredUnitAmount"]}
        unit["declaredUnit"] = pcf["declaredUnitOfMeasurement"]
        click.echo(
            f"{draft['productNameCompany']}: {_per_unit(pcf[HEADLINE], unit)} (including "
            f"biogenic uptake {pcf['pcfIncludingBiogenicUptake']}), primary data share "
            f"{pcf.get('primaryDataShare', 'n/a')}"
        )
        for replaced in draft.get("precedingPfIds", ()):
            click.echo(f"replaces record {replaced} (it becomes Deprecated)")
        click.confirm("sign and submit?", abort=True)
    answer = _call(client.push, key.sign_footprint(draft))
    click.echo(f"submitted {answer['id']}, log index {answer['receipt']['receipt']['logIndex']}")


def _pinned(jwks_file: Path | None, client: ExchangeClient) -> tuple[list[bytes], str]:
    """The exchange keys to trust: pinned from a file, else as the exchange serves them."""
    if jwks_file is not None:
        try:
            # Pinned keys are trusted material: read as strictly as the exchange reads it.
            document = parse_json(jwks_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"{jwks_file}: {exc}") from exc
        source = f"pinned from {jwks_file}"
    else:
        document = _call(client.jwks)
        source = "as the exchange serves them now (pin them with --jwks for an offline check)"
    try:
        keys = [key.public_key for key in commitments.exchange_keys(document["keys"]).values()]
    except (KeyError, TypeError, SigningError) as exc:
        raise click.ClickException(f"not a JWK Set of Ed25519 keys: {exc}") from exc
    return keys, source


def _line_text(index: int, line: dict[str, Any], grant: str) -> str:
    reference = line.get("input") or {}
    named = (
        f"record {reference['recordId']} of {reference.get('owner')} (key {reference.get('kid')}, "
        f"log index {reference.get('logIndex')})"
        if reference.get("recordId")
        else f"factor {reference['code']} v{reference.get('version')}"
        if reference.get("code")
        else f"product {reference.get('productId')}"
    )
    contribution = line.get("contribution") or {}
    return (
        f"line {index}: {line.get('label') or line.get('category')}, {line.get('quantity')} "
        f"{line.get('unit')} of {named}: {contribution.get(HEADLINE)} (including biogenic "
        f"uptake {contribution.get('total')}) - opened to you as {grant}, matches its commitment"
    )


@products_cli.command("provenance")
@click.argument("record_id")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The exchange's JWK Set, pinned out of band, to check the attestation against.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the provenance as served, as JSON.")
@server_options
def provenance_command(
    record_id: str,
    jwks_file: Path | None,
    as_json: bool,
    url: str,
    client_id: str,
    client_secret: str,
) -> None:
    """Show and check a derived footprint's provenance: the lines you may open (each held
    against the commitment its owner signed) and the exchange's attestation for the rest."""
    client = _client(url, client_id, client_secret)
    envelope = _call(client.get, record_id)
    view = _call(client.provenance, record_id)
    if as_json:
        _echo(view)
    footprint = envelope["footprint"]
    data = commitments.provenance_of(footprint) or {
        name: view[name] for name in ("commitments", "commitmentRoot")
    }
    problems: list[str] = []
    lines: list[str] = []
    for item in view["lines"]:
        if item.get("problem"):
            problems.append(f"line {item['index']}: {item['problem']}")
        if not item["opened"]:
            continue
        try:
            line = commitments.check_opening(data, item["opening"])
        except commitments.OpeningRefused as exc:
            problems.append(f"line {item['index']}: {exc}")
            continue
        lines.append(_line_text(item["index"], line, item["grant"]))
    keys, source = _pinned(jwks_file, client)
    attestation = view.get("attestation")
    if attestation is None:
        problems.append("the exchange has not attested this footprint")
    else:
        try:
            trusted = commitments.keys_from_trust_list(_call(client.trust_list), pinned=keys)
        except (TrustListError, TrustListStale) as exc:
            raise click.ClickException(f"the trust list does not check out: {exc}") from exc
        verdict = commitments.verify_attestation(attestation, keys=trusted, footprint=footprint)
        problems += [f"attestation: {problem}" for problem in verdict.problems]
    if not as_json:
        totals = view["totals"] or {}
        click.echo(
            f"{record_id}: {totals.get(HEADLINE)} excluding biogenic uptake (including "
            f"{totals.get('total')}), {len(view['commitments'])} committed lines, root "
            f"{view['commitmentRoot']}"
        )
        for text in lines:
            click.echo(text)
        if view["withheld"]["count"]:
            click.echo(view["withheld"]["summary"])
        if attestation is not None and not any(p.startswith("attestation") for p in problems):
            statement = attestation["attestation"]
            click.echo(
                f"attestation: valid ({statement['provenance']}), log index "
                f"{attestation['logIndex']}, verified {statement['verifiedAt']}, issued "
                f"{statement['issuedAt']}; exchange keys {source}"
            )
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        raise SystemExit(1)
