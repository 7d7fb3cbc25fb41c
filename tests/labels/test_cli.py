"""The body's and verifier's commands, and the operator's ``exchange labels``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from exchange.cli import main
from exchange.labels.cli import labels_cli
from tests.labels.builders import CATEGORY, GTIN, programme


def test_sign_a_certificate_then_verify_its_label_offline(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    fx = programme(app, client)
    fx.accredit()
    footprint = fx.record()
    (tmp_path / "record.json").write_text(json.dumps(footprint))
    fx.body.key.save(tmp_path / "body.jwk.json")
    runner = CliRunner()
    signed = runner.invoke(
        main,
        [
            "certificate", "sign", str(tmp_path / "record.json"),
            "--key", str(tmp_path / "body.jwk.json"),
            "--body", fx.body.organisation_id, "--gtin", GTIN, "--category", CATEGORY,
        ],
    )  # fmt: skip
    assert signed.exit_code == 0, signed.output
    envelope = json.loads((tmp_path / "record.certificate.json").read_text())
    created = client.post("/api/v1/certificates", json=envelope, headers=fx.body.headers)
    assert created.status_code == 201, created.get_json()
    label = fx.label(created.get_json()["number"])

    (tmp_path / "trust.json").write_text(client.get("/.well-known/trust-list.json").data.decode())
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").data.decode())
    arguments = ["--trust-list", str(tmp_path / "trust.json"), "--pin", str(tmp_path / "jwks.json")]
    ok = runner.invoke(main, ["label", "verify", label["url"], *arguments])
    assert ok.exit_code == 0, ok.output
    assert "-9.22 kg CO2e per kilogram" in ok.output and "valid (offline" in ok.output
    bad = runner.invoke(main, ["label", "verify", label["url"].replace("?L=0", "?L=1"), *arguments])
    assert bad.exit_code == 1 and "INVALID" in bad.output

    # A trust list pinned to another key is refused outright.
    fx.supplier.key.save(tmp_path / "other.jwk.json")
    other = [
        "--trust-list",
        str(tmp_path / "trust.json"),
        "--pin",
        str(tmp_path / "other.jwk.json"),
    ]
    refused = runner.invoke(main, ["label", "verify", label["url"], *other])
    assert refused.exit_code == 1 and "pinned" in refused.output


def test_operator_commands(app: Flask) -> None:
    runner = app.test_cli_runner()
    printed = runner.invoke(labels_cli, ["trust-list"])
    assert printed.exit_code == 0, printed.output
    kid = json.loads(printed.output)["trustList"]["exchange"]["labelKeys"][0]["kid"]
    revoked = runner.invoke(labels_cli, ["revoke-key", "--reason", "rotated", "--", kid])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    again = runner.invoke(labels_cli, ["revoke-key", "--reason", "rotated", "--", kid])
    assert again.exit_code == 1 and "was revoked" in again.output
