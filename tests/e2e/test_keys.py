"""``exchange keys rotate`` beside a running gunicorn: every worker moves to the new key at
once, without a restart, and what the old key signed still verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from flask import Flask

from exchange import signing
from exchange.log.verify import verify_receipt
from tests.e2e.conftest import running_server, server_environment
from tests.factories import add_member

pytestmark = pytest.mark.e2e


def _kids(base_url: str) -> list[str]:
    response = requests.get(f"{base_url}/.well-known/jwks.json", timeout=30)
    return [jwk["kid"] for jwk in response.json()["keys"]]


def test_a_rotation_reaches_every_worker(app: Flask, database_url: str, tmp_path: Path) -> None:
    origin = app.config["EXCHANGE_ORIGIN"]
    supplier = add_member(app)
    instance = tmp_path / "server-instance"
    with running_server(database_url, instance, tmp_path / "server.log", workers=2) as base_url:
        [old_kid] = _kids(base_url)
        envelope = supplier.envelope()
        before = requests.post(
            f"{base_url}/api/v1/footprints", json=envelope, headers=supplier.headers, timeout=30
        ).json()["receipt"]
        assert before["signature"]["kid"] == old_kid

        rotated = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "keys", "rotate"],
            env=server_environment(instance, database_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert f"retired {old_kid}" in rotated.stdout
        # many requests, over fresh connections, land on both workers: all agree
        answers = {tuple(_kids(base_url)) for _ in range(40)}
        [(new_kid, retired_kid)] = answers
        assert retired_kid == old_kid and new_kid != old_kid
        receipts = [
            requests.post(
                f"{base_url}/api/v1/footprints",
                json=supplier.envelope(),
                headers=supplier.headers,
                timeout=30,
            ).json()["receipt"]
            for _ in range(10)
        ]
        assert {receipt["signature"]["kid"] for receipt in receipts} == {new_kid}
        keys = [
            signing.public_key_from_jwk({n: jwk[n] for n in ("kty", "crv", "x")})
            for jwk in requests.get(f"{base_url}/.well-known/jwks.json", timeout=30).json()["keys"]
        ]
        entry = signing.canonical_json(
            {"footprint": envelope["footprint"], "signature": envelope["signature"]}
        )
        verify_receipt(before, public_key=keys, origin=origin, entry=entry)
        for receipt in receipts:
            verify_receipt(receipt, public_key=keys, origin=origin)

    audit = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "audit"],
        env=server_environment(instance, database_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert audit.returncode == 0 and audit.stdout.startswith("audit ok:"), audit.stderr
