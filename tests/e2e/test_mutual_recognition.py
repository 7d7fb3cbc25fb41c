"""Mutual recognition between two live exchanges on loopback: two servers, two databases,
two exchange keys. Exchange A (Hainan) registers exchange B (a Lao programme running the
same software) as a partner, recognises and refuses B's records, lets B verify one of its
own records offline, flags a recognition when the agreement is suspended, refuses a record
altered in B's database, and suspends B when B's log is rewritten."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from exchange import create_app
from exchange.footprints.models import FootprintRecord
from exchange.log import merkle
from exchange.log.models import LogCheckpoint, LogEntry, LogNode
from exchange.log.services import node_id
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database
from tests.conftest import empty_all_tables, fresh_database
from tests.e2e.conftest import command_app, run_command, running_server
from tests.factories import Member, add_member
from tests.mutual_recognition.builders import OUT_OF_SCOPE, agreement_body, partner_envelope

# The two exchanges' databases are built from EXCHANGE_TEST_DATABASE_URL (fresh_database).
pytestmark = [pytest.mark.e2e, pytest.mark.database]

B_ORIGIN = "carbon-footprint.vientiane.example"


class Exchange:
    """One live exchange: its URL, database, instance folder and an app on its database."""

    def __init__(self, url: str, database_url: str, instance: Path) -> None:
        self.url = url
        self.database_url = database_url
        self.instance = instance
        self.app: Flask = create_app({"DATABASE_URL": database_url}, instance_path=str(instance))
        self._command_apps: dict[str | None, Flask] = {}

    def get(self, path: str, member: Member | None = None, **params: Any) -> requests.Response:
        headers = member.headers if member else {}
        return requests.get(f"{self.url}{path}", headers=headers, params=params, timeout=30)

    def post(self, path: str, member: Member, body: Any) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, headers=member.headers, timeout=30)

    def put(self, path: str, member: Member, body: Any) -> requests.Response:
        return requests.put(f"{self.url}{path}", json=body, headers=member.headers, timeout=30)

    def run(self, *args: str, origin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``exchange ARGS`` beside this exchange's server, as its operator runs it (with
        ``EXCHANGE_ORIGIN`` set to ``origin``, when given)."""
        if origin not in self._command_apps:
            settings = {"EXCHANGE_ORIGIN": origin} if origin else {}
            self._command_apps[origin] = command_app(self.instance, self.database_url, **settings)
        return run_command(self._command_apps[origin], *args)

    def close(self) -> None:
        for app in (self.app, *self._command_apps.values()):
            for engine in app.extensions["exchange.engines"]:
                engine.dispose()


@pytest.fixture(scope="module")
def module_exchanges(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Exchange, Exchange]]:
    """Two exchanges, each with its database and server, for the tests of a module (use
    ``exchanges`` in tests): starting them is four interpreters, two migrations and two
    apps, most of a test's time when each test had its own."""
    directory = tmp_path_factory.mktemp("exchanges")
    pass_a, pass_b = directory / "a", directory / "b"
    pass_a.mkdir()
    pass_b.mkdir()
    with (
        fresh_database(pass_a) as url_a,
        fresh_database(pass_b) as url_b,
        pytest.MonkeyPatch.context() as patch,
    ):
        upgrade_database(url_a)
        upgrade_database(url_b)
        patch.setenv("EXCHANGE_ORIGIN", B_ORIGIN)
        with running_server(url_b, pass_b / "instance", pass_b / "server.log") as base_b:
            patch.delenv("EXCHANGE_ORIGIN")
            with running_server(url_a, pass_a / "instance", pass_a / "server.log") as base_a:
                a = Exchange(base_a, url_a, pass_a / "instance")
                b = Exchange(base_b, url_b, pass_b / "instance")
                try:
                    yield a, b
                finally:
                    a.close()
                    b.close()


@pytest.fixture
def exchanges(
    module_exchanges: tuple[Exchange, Exchange],
) -> Iterator[tuple[Exchange, Exchange]]:
    """The module's two exchanges; what a test leaves in either database is removed after
    it (what else a server keeps, its keys and rate-limit counters, is the module's)."""
    yield module_exchanges
    for exchange in module_exchanges:
        empty_all_tables(exchange.app.extensions["exchange.engine"])


def push_public(exchange: Exchange, member: Member, envelope: dict[str, Any]) -> str:
    pushed = exchange.post("/api/v1/footprints", member, envelope)
    assert pushed.status_code == 201, pushed.text
    record_id = str(pushed.json()["id"])
    published = exchange.put(
        f"/api/v1/footprints/{record_id}/disclosure", member, {"disclosure": "public"}
    )
    assert published.status_code == 200, published.text
    return record_id


def sync(a: Exchange) -> dict[str, Any]:
    done = a.run("partners", "sync")
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def decisions(a: Exchange, regulator: Member, partner_id: str) -> dict[str, dict[str, Any]]:
    listed = a.get("/api/v1/recognitions", regulator, partner=partner_id, limit="1000")
    assert listed.status_code == 200, listed.text
    found: dict[str, dict[str, Any]] = {}
    for item in reversed(listed.json()["data"]):  # oldest first: the newest decision wins
        found[item["recordId"]] = item
    return found


def rewrite_log(database_url: str) -> None:
    """Rewrite B's history as an operator with database access could: change one leaf,
    rebuild every tree node from the leaves, drop the checkpoints it signed."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            leaves = [
                bytes(row[0])
                for row in connection.execute(
                    sa.select(LogEntry.leaf_hash).order_by(LogEntry.log_index)
                )
            ]
            leaves[1] = merkle.leaf_hash(b"a record that was never submitted")
            connection.execute(
                sa.update(LogEntry).where(LogEntry.log_index == 1).values(leaf_hash=leaves[1])
            )
            connection.execute(sa.delete(LogNode))
            levels = merkle.levels_of(leaves)
            connection.execute(
                sa.insert(LogNode),
                [
                    {"node_id": node_id(level, position), "hash": value}
                    for level in range(1, len(levels))
                    for position, value in enumerate(levels[level])
                ],
            )
            connection.execute(sa.delete(LogCheckpoint))
    finally:
        engine.dispose()


def test_two_exchanges_recognise_and_verify_each_other(
    exchanges: tuple[Exchange, Exchange], tmp_path: Path
) -> None:
    a, b = exchanges
    # B: a Lao supplier, and the client credentials B's operator gives exchange A.
    supplier_b = add_member(b.app, Role.SUPPLIER, country="LA")
    a_on_b = add_member(b.app, Role.PARTNER_PROGRAMME, register_key=False, country="TH")
    # A: the regulator, a chain-owner and a supplier of its own.
    regulator = add_member(a.app, Role.REGULATOR)
    chain_owner = add_member(a.app, Role.CHAIN_OWNER)
    supplier_a = add_member(a.app, Role.SUPPLIER)

    # A registers B, pinning the JWK Set B publishes, and grants an agreement.
    b_checkpoint = b.get("/api/v1/log/checkpoint", format="json").json()
    assert b_checkpoint["origin"] == B_ORIGIN
    registered = a.post(
        "/api/v1/partners",
        regulator,
        {
            "name": "Lao Carbon Footprint Programme",
            "country": "LA",
            "operator": "Ministry of Natural Resources and Environment",
            "contact": "pcf@example.la",
            "pactBaseUrl": b.url,
            "jwks": b.get("/.well-known/jwks.json").json(),
            "logOrigin": b_checkpoint["origin"],
            "clientId": a_on_b.client_id,
            "clientSecret": a_on_b.client_secret,
        },
    )
    assert registered.status_code == 201, registered.text
    partner_id = registered.json()["id"]
    drafted = a.post("/api/v1/agreements", regulator, agreement_body(partner_id))
    assert drafted.status_code == 201, drafted.text
    agreement_id = drafted.json()["id"]
    granted = a.post(
        f"/api/v1/agreements/{agreement_id}/status",
        regulator,
        {"status": "granted", "reason": "signed in Vientiane, 2026-11-20"},
    )
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    page = requests.get(f"{a.url}/mutual-recognition", timeout=30)
    assert page.status_code == 200 and "Lao Carbon Footprint Programme" in page.text
    assert "ທັງສອງຝ່າຍ" in page.text and 'lang="lo"' in page.text

    # A supplier on B pushes three records: one A recognises, two it refuses.
    good = push_public(b, supplier_b, partner_envelope(supplier_b))
    out_of_scope = push_public(
        b, supplier_b, partner_envelope(supplier_b, productClassifications=[OUT_OF_SCOPE])
    )
    thin = push_public(b, supplier_b, partner_envelope(supplier_b, primaryDataShare="5"))

    report = sync(a)
    assert (report["recognised"], report["refused"], report["fork"]) == (1, 2, None), report
    found = decisions(a, regulator, partner_id)
    assert found[good]["decision"] == "recognised" and found[good]["reasons"] == []
    assert [r["code"] for r in found[out_of_scope]["reasons"]] == ["out-of-scope"]
    assert [r["code"] for r in found[thin]["reasons"]] == ["primary-data-share-below-floor"]
    assert found[thin]["decision"] == "refused"
    assert sync(a)["recognised"] == 0  # a second sync stops at what it saw

    # The recognised record is usable in aggregation on A, pinned by its id.
    product = a.post(
        "/api/v1/products",
        chain_owner,
        {
            "code": "JUICE-1",
            "name": "Mango juice",
            "declaredUnit": "kilogram",
            "lines": [{"label": "Lao ethanol", "quantity": "0.5", "unit": "kg", "recordId": good}],
        },
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    computed = a.post(f"/api/v1/products/{product_id}/compute", chain_owner, {})
    assert computed.status_code == 200, computed.text

    # B verifies an A record with the verification bundle alone.
    own = push_public(a, supplier_a, supplier_a.envelope())
    bundle = a.get(f"/api/v1/footprints/{own}/verification").json()
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "a-jwks.json").write_text(a.get("/.well-known/jwks.json").text)
    verified = b.run(
        "partners",
        "verify-bundle",
        str(tmp_path / "bundle.json"),
        "--jwks",
        str(tmp_path / "a-jwks.json"),
        "--origin",
        "footprint-exchange.hainan.example",
        origin=B_ORIGIN,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    bundle["bundle"]["envelope"]["footprint"]["pcf"]["pcfExcludingBiogenicUptake"] = "0.001"
    pinned = a.get("/.well-known/jwks.json").json()
    assert not verify_bundle(bundle, pinned=pinned).ok
    # The recognised partner record's bundle carries A's signed recognition.
    partner_bundle = a.get(f"/api/v1/footprints/{good}/verification").json()
    verdict = verify_bundle(partner_bundle, pinned=pinned)
    assert verdict.ok, verdict.problems
    assert verdict.recognitions == ("standing",)

    # Suspending the agreement flags the recognition; the product built on it goes stale.
    suspended = a.post(
        f"/api/v1/agreements/{agreement_id}/status",
        regulator,
        {"status": "suspended", "reason": "annual review pending"},
    )
    assert suspended.status_code == 200, suspended.text
    flagged = decisions(a, regulator, partner_id)[good]
    assert flagged["status"] == "flagged" and "suspended" in flagged["flagReason"]
    assert a.get(f"/api/v1/products/{product_id}", chain_owner).json()["result"]["stale"] is True
    assert a.get(f"/api/v1/footprints/{good}", chain_owner).status_code == 404
    regranted = a.post(
        f"/api/v1/agreements/{agreement_id}/status",
        regulator,
        {"status": "granted", "reason": "review passed"},
    )
    assert regranted.status_code == 200
    assert decisions(a, regulator, partner_id)[good]["status"] == "standing"

    # A record altered in B's database after it was signed is refused.
    altered = push_public(b, supplier_b, partner_envelope(supplier_b))
    engine = sa.create_engine(b.database_url)
    with engine.begin() as connection:
        stored = connection.execute(
            sa.select(FootprintRecord.footprint_json).where(FootprintRecord.id == altered)
        ).scalar_one()
        changed = stored.replace('"primaryDataShare":"12.9"', '"primaryDataShare":"92.9"')
        assert changed != stored
        connection.execute(
            sa.update(FootprintRecord)
            .where(FootprintRecord.id == altered)
            .values(footprint_json=changed)
        )
    engine.dispose()
    report = sync(a)
    assert (report["recognised"], report["refused"]) == (0, 1), report
    codes = {r["code"] for r in decisions(a, regulator, partner_id)[altered]["reasons"]}
    assert {"signature-invalid", "not-in-partner-log"} <= codes

    # B's log is rewritten: A finds the fork, suspends B and keeps the evidence.
    rewrite_log(b.database_url)
    report = sync(a)
    assert report["fork"] is not None, report
    partner = a.get(f"/api/v1/partners/{partner_id}").json()
    assert partner["status"] == "suspended"
    assert "forked" in partner["history"][-1]["reason"]
    [fork] = partner["forks"]
    assert fork["earlierCheckpoint"] != fork["laterCheckpoint"]
    assert fork["earlierCheckpoint"].startswith(B_ORIGIN + "\n")
    assert decisions(a, regulator, partner_id)[good]["status"] == "flagged"
    trust_list = a.get("/.well-known/trust-list.json").json()["trustList"]
    [listed] = trust_list["partnerProgrammes"]
    assert listed["status"] == "suspended" and listed["history"][-1]["status"] == "suspended"
    # A's own log holds every decision and change, and its audit still passes.
    audit = a.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
