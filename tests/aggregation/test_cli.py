"""A chain-owner's workflow from its own machine, with ``exchange products`` against a
real server: define, upload a CSV bill of materials, compute, derive, sign, submit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from exchange.client.keys import LocalKey
from exchange.organisations.models import Role
from tests.aggregation.test_views import load_factors
from tests.e2e.conftest import running_server
from tests.e2e.test_exchange import run_cli
from tests.factories import add_member

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    with running_server(database_url, tmp_path / "instance", tmp_path / "server.log") as url:
        yield url


def test_a_chain_owner_uses_the_cli(app: Flask, server: str, tmp_path: Path) -> None:
    load_factors(app)
    owner = add_member(app, Role.CHAIN_OWNER, register_key=False)
    env = {
        **os.environ,
        "EXCHANGE_URL": server,
        "EXCHANGE_CLIENT_ID": owner.client_id,
        "EXCHANGE_CLIENT_SECRET": owner.client_secret,
        "EXCHANGE_INSTANCE_PATH": str(tmp_path / "cli-instance"),
    }
    assert run_cli("keys", "generate", "--out", "key.jwk", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("keys", "register", "--key", "key.jwk", env=env, cwd=tmp_path).returncode == 0
    (tmp_path / "jam.json").write_text(
        json.dumps({"code": "JAM", "name": "Mango jam", "declaredUnit": "kilogram"})
    )
    defined = run_cli("products", "define", "jam.json", env=env, cwd=tmp_path)
    assert defined.returncode == 0, defined.stderr
    product_id = defined.stdout.split()[-1]
    (tmp_path / "jam.csv").write_text(
        "category,label,quantity,unit,factorCode\n"
        "component,sugar,600,g,test.sugar\n"
        "electricity,cooking,0.5,kWh,test.grid\n"
    )
    uploaded = run_cli("products", "bom", product_id, "jam.csv", env=env, cwd=tmp_path)
    assert uploaded.returncode == 0, uploaded.stderr
    computed = run_cli("products", "compute", product_id, env=env, cwd=tmp_path)
    assert computed.returncode == 0, computed.stderr
    # 0.6 x 0.9 + 0.5 x 0.5306: PACT's headline figure (excluding biogenic uptake) first
    assert computed.stdout.startswith(
        "JAM: 0.8053 kg CO2e per 1 kilogram excluding biogenic uptake "
        "(including biogenic uptake 0.8053;"
    )
    explained = run_cli("products", "explain", product_id, env=env, cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.splitlines() == [
        "JAM: 0.8053 kg CO2e per 1 kilogram excluding biogenic uptake "
        "(including biogenic uptake 0.8053)",
        "  line 0, sugar (factor, secondary), 600 g: 0.54 of the root "
        "(including biogenic uptake 0.54)",
        "  line 1, cooking (factor, secondary), 0.5 kWh: 0.2653 of the root "
        "(including biogenic uptake 0.2653)",
        "tier 2: 0.8053 (including biogenic uptake 0.8053)",
    ]
    as_json = run_cli("products", "explain", product_id, "--json", env=env, cwd=tmp_path)
    assert json.loads(as_json.stdout)["tree"]["pcf"]["pcfExcludingBiogenicUptake"] == "0.8053"

    derived = run_cli(
        "products", "derive", product_id, "--key", "key.jwk", "--yes", env=env, cwd=tmp_path
    )
    assert derived.returncode == 0, derived.stderr
    record_id = derived.stdout.split()[1].rstrip(",")
    served = requests.get(
        f"{server}/api/v1/footprints/{record_id}", headers=owner.headers, timeout=30
    ).json()
    assert served["footprint"]["pcf"]["pcfIncludingBiogenicUptake"] == "0.8053"
    product = requests.get(
        f"{server}/api/v1/products/{product_id}", headers=owner.headers, timeout=30
    ).json()
    assert product["derivedRecords"][0]["recordId"] == record_id
    assert product["derivedRecords"][0]["matchedResult"] is True
    # The chain-owner checks what it signed: every line opens against its commitment, and
    # the exchange's attestation holds under the exchange key it pinned.
    (tmp_path / "jwks.json").write_text(
        json.dumps(requests.get(f"{server}/.well-known/jwks.json", timeout=30).json())
    )
    checked = run_cli(
        "products", "provenance", record_id, "--jwks", "jwks.json", env=env, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].startswith(f"{record_id}: 0.8053 excluding biogenic uptake")
    assert lines[1] == (
        "line 0: sugar, 600 g of factor test.sugar v1: 0.54 (including biogenic uptake 0.54) "
        "- opened to you as computation, matches its commitment"
    )
    assert lines[-1].startswith("attestation: valid (committed), log index ")
    assert lines[-1].endswith("exchange keys pinned from jwks.json")
    # Another organisation it is shared with opens nothing and is told why.
    customer = add_member(app, Role.CHAIN_OWNER)
    requests.post(
        f"{server}/api/v1/shares",
        json={"organisationId": customer.organisation_id, "recordId": record_id},
        headers=owner.headers,
        timeout=30,
    )
    as_customer = {
        **env,
        "EXCHANGE_CLIENT_ID": customer.client_id,
        "EXCHANGE_CLIENT_SECRET": customer.client_secret,
    }
    checked = run_cli(
        "products", "provenance", record_id, "--jwks", "jwks.json", env=as_customer, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[1] == (
        "2 lines of the chain-owner's own activity data — attested by the exchange"
    )
    # A pinned key that is not the exchange's: the attestation cannot be trusted.
    (tmp_path / "other.json").write_text(json.dumps({"keys": [LocalKey.generate().public_jwk()]}))
    refused = run_cli(
        "products", "provenance", record_id, "--jwks", "other.json", env=env, cwd=tmp_path
    )
    assert refused.returncode == 1
    assert "trust list does not check out" in refused.stderr
    # A pinned file naming "keys" twice is refused, not read as its last copy (another reader
    # of the same file would trust the first).
    real = json.dumps(requests.get(f"{server}/.well-known/jwks.json", timeout=30).json()["keys"])
    forged = json.dumps([LocalKey.generate().public_jwk()])
    (tmp_path / "twice.json").write_text(f'{{"keys": {forged}, "keys": {real}}}')
    refused = run_cli(
        "products", "provenance", record_id, "--jwks", "twice.json", env=env, cwd=tmp_path
    )
    assert refused.returncode == 1
    assert "twice.json" in refused.stderr and "keys" in refused.stderr
