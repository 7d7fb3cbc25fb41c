"""Witnessed logs between live exchanges over TLS (issue 24): exchanges A (Hainan) and B (a
Lao programme running the same software) witness each other's logs, and C, a third
exchange, witnesses both as an independent witness. Each log's worker collects its
cosignatures over HTTPS (C2SP tlog-witness add-checkpoint); the checkpoints, bundles and
the label page then carry them, and verifiers hold them to the trust list's policy.

The three servers (one throwaway CA, a certificate for 127.0.0.1) start once for the module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from flask import Flask
from playwright.sync_api import Browser

from exchange import create_app
from exchange.keyring import ExchangeKey
from exchange.log import cosignature, note
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database
from exchange.witness import services as witnessing
from tests.conftest import fresh_database
from tests.e2e.conftest import command_app, run_command, running_server
from tests.factories import Member, add_member

# The exchanges' databases are built from EXCHANGE_TEST_DATABASE_URL (fresh_database).
pytestmark = [pytest.mark.e2e, pytest.mark.database]

ORIGINS = {
    "a": "footprint-exchange.hainan.example",
    "b": "carbon-footprint.vientiane.example",
    "c": "witness.independent.example",
}
# Hainan's programme operator's unified social credit code (a Chinese partner needs one).
USCC = "91460000000090000W"
NAMES = {
    "a": "Hainan Product Carbon Footprint Programme",
    "b": "Lao Carbon Footprint Programme",
}


@dataclasses.dataclass
class Exchange:
    """One live exchange over HTTPS: its URL, database, instance folder and an app on them."""

    letter: str
    url: str
    database_url: str
    instance: Path
    ca_file: Path
    app: Flask
    # The app the operator's ``exchange worker`` builds (command_app): a round of witness
    # submissions is due a second after the last one (not a minute).
    worker_app: Flask

    @property
    def origin(self) -> str:
        return ORIGINS[self.letter]

    def get(self, path: str, member: Member | None = None, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.url}{path}",
            headers=member.headers if member else {},
            params=params,
            timeout=30,
            verify=str(self.ca_file),
        )

    def post(self, path: str, member: Member, body: Any) -> requests.Response:
        return requests.post(
            f"{self.url}{path}",
            json=body,
            headers=member.headers,
            timeout=30,
            verify=str(self.ca_file),
        )

    def cli(self, *args: str) -> str:
        done = self.app.test_cli_runner().invoke(args=list(args))
        assert done.exit_code == 0, done.output
        return done.output.strip()

    def worker(self) -> str:
        """``exchange worker --once`` as the operator runs it: it submits to the witnesses
        over HTTPS, trusting the test CA (REQUESTS_CA_BUNDLE)."""
        time.sleep(1.1)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("REQUESTS_CA_BUNDLE", str(self.ca_file))
            done = run_command(self.worker_app, "worker", "--once")
        assert done.returncode == 0, done.stderr
        return done.stderr

    def push(self, member: Member) -> str:
        answered = self.post("/api/v1/footprints", member, member.envelope())
        assert answered.status_code == 201, answered.text
        return str(answered.json()["id"])


@pytest.fixture(scope="module")
def exchanges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Exchange]]:
    root = tmp_path_factory.mktemp("witnesses")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (root / name for name in ("cert.pem", "key.pem", "ca.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    for letter in ORIGINS:
        (root / letter).mkdir()
    with (
        fresh_database(root / "a") as url_a,
        fresh_database(root / "b") as url_b,
        fresh_database(root / "c") as url_c,
    ):
        urls = {"a": url_a, "b": url_b, "c": url_c}
        for url in urls.values():
            upgrade_database(url)
        started: dict[str, Exchange] = {}
        with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as environment:
            for letter, origin in ORIGINS.items():
                environment.setenv("EXCHANGE_ORIGIN", origin)
                instance = root / letter / "instance"
                base_url = stack.enter_context(
                    running_server(
                        urls[letter],
                        instance,
                        root / letter / "server.log",
                        tls=(cert_file, key_file, ca_file),
                    )
                )
                app = create_app(
                    {"DATABASE_URL": urls[letter], "EXCHANGE_ORIGIN": origin},
                    instance_path=str(instance),
                )
                worker_app = command_app(
                    instance, urls[letter], EXCHANGE_ORIGIN=origin, EXCHANGE_WITNESS_INTERVAL="1"
                )
                for made in (app, worker_app):
                    stack.callback(made.extensions["exchange.engine"].dispose)
                started[letter] = Exchange(
                    letter, base_url, urls[letter], instance, ca_file, app, worker_app
                )
            environment.delenv("EXCHANGE_ORIGIN")
            yield started


def register_partner(home: Exchange, other: Exchange, regulator: Member) -> str:
    """``home`` registers ``other`` as a partner programme (pinning its published keys)."""
    credentials = add_member(other.app, Role.PARTNER_PROGRAMME, register_key=False, country="TH")
    registered = home.post(
        "/api/v1/partners",
        regulator,
        {
            "name": NAMES[other.letter],
            **({"country": "LA"} if other.letter == "b" else {"country": "CN", "uscc": USCC}),
            "operator": "the programme's ministry",
            "contact": "pcf@example.org",
            "pactBaseUrl": other.url,
            "jwks": other.get("/.well-known/jwks.json").json(),
            "logOrigin": other.get("/api/v1/log/checkpoint", format="json").json()["origin"],
            "clientId": credentials.client_id,
            "clientSecret": credentials.client_secret,
        },
    )
    assert registered.status_code == 201, registered.text
    return str(registered.json()["id"])


def witness_vkey(exchange: Exchange) -> str:
    document = exchange.get("/api/v1/witness").json()
    assert document["submissionPrefix"] == f"{exchange.url}/api/v1/witness"
    return str(document["verifierKey"])


@pytest.fixture(scope="module")
def witnessed(exchanges: dict[str, Exchange]) -> dict[str, Exchange]:
    """A and B witness each other (each as the other's partner programme, from what it
    pinned of the partner); C witnesses both with the logs' own verifier keys. Each of A
    and B asks both its witnesses and requires both (2 of 2)."""
    a, b, c = exchanges["a"], exchanges["b"], exchanges["c"]
    for home, other in ((a, b), (b, a)):
        partner_id = register_partner(home, other, add_member(home.app, Role.REGULATOR))
        home.cli("witness", "witness-log", "--partner", partner_id)
        home.cli(
            "witness",
            "add",
            witness_vkey(other),
            "--url",
            f"{other.url}/api/v1/witness",
            "--partner",
            partner_id,
        )
        log_vkey = home.get("/api/v1/log/checkpoint", format="json").json()["verifierKey"]
        c.cli("witness", "witness-log", home.origin, "--key", log_vkey)
        home.cli(
            "witness",
            "add",
            witness_vkey(c),
            "--url",
            f"{c.url}/api/v1/witness",
            "--operator",
            "Independent witness",
        )
        assert home.cli("witness", "quorum", "2") == "2 of 2"
    return exchanges


def test_two_exchanges_witness_each_other_and_a_third_witnesses_both(
    witnessed: dict[str, Exchange], tmp_path: Path
) -> None:
    a, b, c = witnessed["a"], witnessed["b"], witnessed["c"]
    supplier_a, supplier_b = add_member(a.app), add_member(b.app, country="LA")
    record = a.push(supplier_a)
    b.push(supplier_b)

    # Before any worker ran, the newest checkpoint is the exchange's alone: a verifier that
    # requires the trust list's policy (2 of 2) cannot confirm the record.
    pinned = a.get("/.well-known/jwks.json").json()
    early = a.get(f"/api/v1/footprints/{record}/verification", supplier_a).json()
    assert verify_bundle(early, pinned=pinned).state == "cannot-confirm"

    for exchange in (a, b):
        exchange.worker()
    for exchange, partner in ((a, b), (b, a)):
        served = exchange.get("/api/v1/log/checkpoint").text
        trust = exchange.get("/.well-known/trust-list.json").json()["trustList"]
        policy = cosignature.parse_policy(trust["witnesses"]["policy"]).policy
        key: ExchangeKey = exchange.app.extensions["exchange.key"]
        checked = cosignature.check_witnessed(
            served, origin=exchange.origin, log_keys=key.public_keys(), policy=policy
        )
        assert checked.met and len(checked.by) == 2, checked
        listed = {item["name"]: item for item in trust["witnesses"]["witnesses"]}
        partner_witness = cosignature.parse_verifier_key(witness_vkey(partner)).name
        assert listed[partner_witness]["kind"] == "partner-programme"
        assert listed[partner_witness]["operator"] == NAMES[partner.letter]
        # What each witness holds of this log: the same checkpoint, with its cosignature.
        for witness in (partner, c):
            monitored = witness.get(
                f"/api/v1/witness/{witnessing.origin_hash(exchange.origin)}/checkpoint"
            )
            assert monitored.status_code == 200, monitored.text
            assert note.signature_lines(monitored.text)[0] == note.signature_lines(served)[0]

    # A's record, offline: witnessed by B and C, as A's signed trust list requires.
    bundle = a.get(f"/api/v1/footprints/{record}/verification", supplier_a).json()
    verdict = verify_bundle(bundle, pinned=pinned)
    assert verdict.state == "valid", verdict.problems
    assert verdict.witnesses is not None
    assert verdict.witnesses.summary == "witnessed by 2 of 2 witnesses (2 required)"
    assert set(verdict.witnesses.operators) == {NAMES["b"], "Independent witness"}
    # The standalone verifier, with the witness policy B gave A's verifiers pinned (only
    # B's witness, so "1 of 1 partner programmes").
    files = {
        "bundle.json": json.dumps(bundle),
        "jwks.json": json.dumps(pinned),
        "policy.txt": f"witness b {witness_vkey(b)}\nquorum b\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange.mutual_recognition.verify",
            str(tmp_path / "bundle.json"),
            "--jwks",
            str(tmp_path / "jwks.json"),
            "--policy",
            str(tmp_path / "policy.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert printed.returncode == 0, printed.stdout + printed.stderr
    answer = json.loads(printed.stdout)
    assert answer["state"] == "valid"
    assert answer["witnesses"]["by"] == [NAMES["b"]]

    # The log grows: the next round is submitted with consistency proofs from the sizes the
    # witnesses cosigned, and every witness moves forward, never back.
    before = a.get("/api/v1/log/checkpoint", format="json").json()["treeSize"]
    a.push(supplier_a)
    a.push(supplier_a)
    a.worker()
    after = a.get("/api/v1/log/witnesses").json()
    assert [item["cosignedSize"] > before for item in after["witnesses"]] == [True, True]
    assert all(item["failures"] == 0 for item in after["witnesses"])
    for witness in (b, c):
        logs = {item["origin"]: item for item in witness.get("/api/v1/witness").json()["logs"]}
        assert logs[a.origin]["treeSize"] == after["witnesses"][0]["cosignedSize"]


def test_the_label_page_waits_for_the_witnesses_then_says_who_witnessed(
    witnessed: dict[str, Exchange], browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.test_label_page import issue, page_url, verdict_of

    a = witnessed["a"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(a.ca_file))
    label, _, _ = issue(a.app, a.url)
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        # Issued after the witnesses' last round: genuine, but not yet witnessed (amber).
        page.goto(page_url(a.url, label["url"]))
        assert verdict_of(page) == "cannot-confirm"
        assert page.locator("#reasons li").first.get_attribute("data-code") == "not-witnessed"
        a.worker()
        page.reload()
        assert verdict_of(page) == "valid"
        witnessed_text = page.locator("#witnessed").inner_text()
        assert "witnessed by 2 of 2 witnesses" in witnessed_text
        assert NAMES["b"] in witnessed_text and "Independent witness" in witnessed_text
    finally:
        context.close()
