"""Two app nodes of one exchange, as behind a load balancer: two ``exchange serve`` processes
(each its own gunicorn master and instance folder) on one PostgreSQL database and one Redis,
with the keys folder made once (``exchange keys init``) and copied to the second node, and
a worker beside each. Pushes, reads, PACT pulls, label verifications and the verification
bundles a partner programme checks go through both nodes at once, and a portal sign-in on
one node is a session on the other; then the log is one log without gaps that ``exchange
audit`` passes, every acknowledged record is stored once, a rate limit used up on one node
is used up on the other, every event is delivered once, and a third node with keys of its
own is refused.

Several nodes on SQLite are not supported (SQLite is one machine's file, and its rate-limit
counters are a file in each instance folder): the test needs PostgreSQL and says so when
skipped (docs/operations/nodes.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa
from flask import Flask

from exchange import create_app, signing
from exchange.client.labels import certificate_document, sign_certificate
from exchange.footprints.models import FootprintRecord
from exchange.jobs.models import Job, JobStatus
from exchange.log.cli import audit_command
from exchange.log.models import LogEntry, LogHead
from exchange.log.verify import verify_receipt
from exchange.mutual_recognition.verify import verify_bundle
from exchange.organisations.models import Role
from exchange.pact.services import DELIVER_EVENT
from exchange.system.cli import init_keys_command
from exchange.system.services import upgrade_database
from tests.conftest import fresh_database
from tests.e2e.conftest import running_server, server_environment, start_server
from tests.e2e.receiver import PartnerHost, tls_partner_host
from tests.factories import Member, add_member
from tests.labels.builders import CATEGORY, GTIN
from tests.portal.helpers import PASSWORD, add_user

# The database is built from EXCHANGE_TEST_DATABASE_URL (fresh_database).
pytestmark = [pytest.mark.e2e, pytest.mark.database]

REDIS_URL = "redis://127.0.0.1:6379/0"
PRODUCT = "urn:gtin:06901234599976"
PUSHES = 16  # through the two nodes, half each, eight at a time
VERIFY_LIMIT = 20  # label, bundle and proof verifications per client address per hour
SHOPPER = "203.0.113.7"  # a shopper's address, as the load balancer forwards it


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    if not os.environ.get("EXCHANGE_TEST_DATABASE_URL"):
        pytest.skip(
            "several app nodes need PostgreSQL (set EXCHANGE_TEST_DATABASE_URL); SQLite is "
            "one machine's file: one node only"
        )
    with fresh_database(tmp_path) as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"fx:test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(f"{prefix}*"):
        client.delete(name)
    client.close()


class Node:
    """One app node: its base URL, instance and keys folders."""

    def __init__(self, base_url: str, instance: Path, keys: Path) -> None:
        self.base_url = base_url
        self.instance = instance
        self.keys = keys

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def environment(self, database_url: str, ca_file: Path) -> dict[str, str]:
        environment = server_environment(self.instance, database_url)
        environment |= {"EXCHANGE_KEYS_PATH": str(self.keys), "REQUESTS_CA_BUNDLE": str(ca_file)}
        return environment


def call(
    method: str, node: Node, path: str, member: Member | None = None, **kwargs: Any
) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}))
    if member is not None:
        headers |= member.headers
    return requests.request(method, node.url(path), headers=headers, timeout=60, **kwargs)


def ok(response: requests.Response) -> Any:
    assert response.status_code in {200, 201}, (response.status_code, response.text)
    return response.json()


def label_of(nodes: tuple[Node, Node], app: Flask) -> dict[str, Any]:
    """Accredit a body (node A), publish a grading scheme (B), push, share, certify (A) and
    label (B) a record: each step on the node the last one did not use."""
    a, b = nodes
    regulator = add_member(app, Role.REGULATOR)
    body = add_member(app, Role.CERTIFICATION_BODY)
    grower = add_member(app, Role.SUPPLIER)
    ok(
        call(
            "POST",
            a,
            f"/api/v1/accreditations/{body.organisation_id}",
            regulator,
            json={"status": "granted", "reason": "accredited after audit"},
        )
    )
    scheme = {
        "category": CATEGORY,
        "method": "benchmark-ratio",
        "unit": "kilogram",
        "parameters": {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
    }
    ok(call("POST", b, "/api/v1/grading-schemes", regulator, json=scheme))
    footprint = grower.footprint(productIds=[f"urn:gtin:{GTIN}"])
    footprint.pop("precedingPfIds", None)
    footprint["pcf"]["declaredUnitAmount"] = "2"
    ok(call("POST", a, "/api/v1/footprints", grower, json=grower.key.sign_footprint(footprint)))
    share = {"organisationId": body.organisation_id, "recordId": footprint["id"]}
    ok(call("POST", b, "/api/v1/shares", grower, json=share))
    document = certificate_document(
        body_id=body.organisation_id,
        record_id=footprint["id"],
        footprint=footprint,
        gtin=GTIN,
        category=CATEGORY,
    )
    certificate = ok(
        call("POST", a, "/api/v1/certificates", body, json=sign_certificate(body.key, document))
    )
    number = certificate["number"]
    label: dict[str, Any] = ok(
        call("POST", b, "/api/v1/labels", body, json={"certificate": number, "lot": "LOT2026B"})
    )
    return label


def run_worker(node: Node, database_url: str, ca_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "worker", "--once"],
        env=node.environment(database_url, ca_file),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_nodes_serve_one_exchange(
    database: str, redis_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The keys are made once, on one machine, and copied (modes kept) to the other node.
    keys_a, keys_b = tmp_path / "a" / "keys", tmp_path / "b" / "keys"
    admin = create_app(
        {"DATABASE_URL": database, "KEYS_PATH": keys_a}, instance_path=str(tmp_path / "admin")
    )
    try:
        made = admin.test_cli_runner().invoke(init_keys_command)
        assert made.exit_code == 0, made.output
        shutil.copytree(keys_a, keys_b)
        monkeypatch.setenv("EXCHANGE_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("EXCHANGE_REDIS_PREFIX", redis_prefix)
        monkeypatch.setenv("EXCHANGE_RATE_LIMIT_VERIFY", f"{VERIFY_LIMIT}/3600")
        with contextlib.ExitStack() as stack:
            host, ca_file = stack.enter_context(tls_partner_host(tmp_path))
            nodes = []
            for name, keys in (("a", keys_a), ("b", keys_b)):
                monkeypatch.setenv("EXCHANGE_KEYS_PATH", str(keys))
                instance = tmp_path / name / "instance"
                log = tmp_path / name / "server.log"
                base_url = stack.enter_context(running_server(database, instance, log))
                nodes.append(Node(base_url, instance, keys))
            a, b = nodes
            exercise(admin, (a, b), database, host, ca_file)
            # A third node whose keys folder was forgotten made a key of its own on its
            # first start: it refuses to serve this exchange's log.
            monkeypatch.setenv("EXCHANGE_KEYS_PATH", str(tmp_path / "c" / "keys"))
            (tmp_path / "c").mkdir()
            log_c = tmp_path / "c" / "server.log"
            with pytest.raises(AssertionError, match="must not serve this exchange"):
                start_server(database, tmp_path / "c" / "instance", log_c)
            assert "signed by a key this node does not hold" in log_c.read_text()
    finally:
        admin.extensions["exchange.engine"].dispose()


def exercise(
    app: Flask, nodes: tuple[Node, Node], database: str, host: PartnerHost, ca_file: Path
) -> None:
    a, b = nodes
    supplier = add_member(app, Role.SUPPLIER)
    customer = add_member(app, Role.CHAIN_OWNER)
    # The customer's PACT host is registered on node A (its secret sealed with the shared
    # key); the supplier shares the product on node B; each new record then queues an event.
    endpoint = {"baseUrl": host.base_url, "clientId": host.client_id}
    ok(
        call(
            "PUT",
            a,
            "/api/v1/events-endpoint",
            customer,
            json=endpoint | {"clientSecret": host.client_secret},
        )
    )
    share = {"organisationId": customer.organisation_id, "productId": PRODUCT}
    ok(call("POST", b, "/api/v1/shares", supplier, json=share))
    label = label_of(nodes, app)
    # The customer's PACT token, from node A, is good on node B.
    token = ok(
        requests.post(
            a.url("/auth/token"),
            data={"grant_type": "client_credentials"},
            auth=(customer.client_id, customer.client_secret),
            timeout=60,
        )
    )["access_token"]
    pact = {"Authorization": f"Bearer {token}"}

    def push_and_read(number: int) -> tuple[str, dict[str, Any]]:
        """Push through one node, then read, pull and check it through the other."""
        here, there = (a, b) if number % 2 else (b, a)
        footprint = supplier.footprint(productIds=[PRODUCT])
        footprint.pop("precedingPfIds", None)
        pushed = call(
            "POST",
            here,
            "/api/v1/footprints",
            supplier,
            json=supplier.key.sign_footprint(footprint),
        )
        assert pushed.status_code == 201, pushed.text
        record_id = pushed.json()["id"]
        read = ok(call("GET", there, f"/api/v1/footprints/{record_id}", customer))
        assert read["footprint"]["id"] == read["exchange"]["id"] == record_id
        pulled = ok(call("GET", there, f"/3/footprints/{record_id}", headers=pact))
        assert pulled["data"]["id"] == record_id
        verdict = ok(call("POST", there, "/api/v1/labels/verify", json={"text": label["url"]}))
        assert verdict["verdict"] == "valid", verdict
        return record_id, pushed.json()["receipt"]

    with ThreadPoolExecutor(8) as pool:
        acknowledged = dict(pool.map(push_and_read, range(PUSHES)))
    assert len(acknowledged) == PUSHES

    # One set of keys: both nodes publish it, and every receipt verifies against it.
    jwks = ok(call("GET", a, "/.well-known/jwks.json"))
    assert ok(call("GET", b, "/.well-known/jwks.json")) == jwks
    pinned = [signing.public_key_from_jwk(jwk) for jwk in jwks["keys"]]
    origin = app.config["EXCHANGE_ORIGIN"]
    indexes = [
        verify_receipt(receipt, public_key=pinned, origin=origin).log_index
        for receipt in acknowledged.values()
    ]
    assert len(set(indexes)) == PUSHES

    # A partner programme checks records offline from their verification bundles, pinned to
    # the JWK Set of node A, whichever node served the bundle.
    for number, record_id in enumerate(sorted(acknowledged)[:4]):
        node = nodes[number % 2]
        bundle = ok(call("GET", node, f"/api/v1/footprints/{record_id}/verification", supplier))
        verdict = verify_bundle(bundle, pinned=jwks)
        assert verdict.ok, verdict.problems

    # A worker beside each node; the queue hands each event to one of them.
    workers = [run_worker(node, database, ca_file) for node in nodes]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors

    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            head = connection.execute(sa.select(LogHead.tree_size)).scalar_one()
            logged = connection.execute(sa.select(LogEntry.log_index, LogEntry.ref)).all()
            stored = connection.execute(
                sa.select(FootprintRecord.id).where(FootprintRecord.id.in_(acknowledged))
            ).scalars()
            jobs = (
                connection.execute(sa.select(Job.status).where(Job.kind == DELIVER_EVENT))
                .scalars()
                .all()
            )
        # One log, no gap, no index twice; each acknowledged record stored and logged once.
        assert sorted(index for index, _ in logged) == list(range(head))
        assert set(indexes) <= {index for index, _ in logged}
        assert sorted(stored) == sorted(acknowledged)
        refs = [ref for _, ref in logged]
        assert all(refs.count(record_id) == 1 for record_id in acknowledged)
    finally:
        engine.dispose()
    audit = app.test_cli_runner().invoke(audit_command)
    assert audit.exit_code == 0, audit.output

    # Every event delivered exactly once: one per push, each record named once.
    assert jobs and all(status == JobStatus.DONE for status in jobs)
    events = [received.body for received in host.events]
    assert len(events) == len(jobs) == PUSHES
    assert len({event["id"] for event in events}) == PUSHES
    named = sorted(pf_id for event in events for pf_id in event["data"]["pfIds"])
    assert named == sorted(acknowledged)

    # A portal sign-in on node A is a session on node B (no sticky sessions needed).
    email = add_user(app, customer, "buyer@juice.example")
    with requests.Session() as browser:
        page = browser.get(a.url("/portal/login"), timeout=60).text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        form = {"email": email, "password": PASSWORD, "csrf_token": found.group(1)}
        assert browser.post(a.url("/portal/login"), data=form, timeout=60).status_code == 200
        there = browser.get(b.url("/portal/records"), allow_redirects=False, timeout=60)
        assert there.status_code == 200, there.headers.get("Location")

    # One rate limit for both nodes: a shopper who used up the limit on node A is refused
    # on node B; another shopper is still answered there.
    def verify_as(node: Node, address: str) -> int:
        return call(
            "POST",
            node,
            "/api/v1/labels/verify",
            json={"text": label["url"]},
            headers={"X-Forwarded-For": address},
        ).status_code

    answered = [verify_as(a, SHOPPER) for _ in range(VERIFY_LIMIT)]
    assert answered == [200] * VERIFY_LIMIT
    assert verify_as(a, SHOPPER) == 429
    assert verify_as(b, SHOPPER) == 429
    assert verify_as(b, "203.0.113.8") == 200
