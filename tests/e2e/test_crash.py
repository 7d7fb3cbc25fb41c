"""Crash safety: SIGKILL the server in the middle of a stream of batch submissions and the
worker in the middle of a delivery, restart both, and hold the exchange to its promises.

Every acknowledged record is there, its signature verifies and it is in the log under a
signed checkpoint; a batch that was not acknowledged is stored whole or not at all; the
log audit passes; and the receiver, deduplicating by CloudEvent id, gets each event once.
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from exchange import pact_wire, signing
from exchange.jobs.models import Job, JobStatus
from exchange.log.verify import verify_inclusion_proof, verify_receipt
from exchange.organisations.models import Role
from tests.e2e.conftest import ServerProcess, kill_group, server_environment, start_server
from tests.e2e.receiver import PartnerHost, tls_partner_host
from tests.factories import Member, add_member

pytestmark = pytest.mark.e2e

PRODUCT = "urn:gtin:06901234599990"
BATCH = 5
CLIENTS = 2
ACKNOWLEDGED_BEFORE_KILL = 6
# The worker's lease, short so that the restarted worker takes over the killed one's job.
LEASE_SECONDS = "2"


@dataclasses.dataclass
class Stream:
    """What the streaming clients sent, and what the exchange acknowledged."""

    acknowledged: list[tuple[list[dict[str, Any]], dict[str, Any]]] = dataclasses.field(
        default_factory=list
    )
    unacknowledged: list[list[dict[str, Any]]] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def stream_batches(base_url: str, supplier: Member, stream: Stream) -> None:
    """Post batches until the server stops answering; the batch that failed is unacknowledged."""
    while True:
        batch = [supplier.envelope(productIds=[PRODUCT]) for _ in range(BATCH)]
        try:
            response = requests.post(
                f"{base_url}/api/v1/footprints",
                json={"items": batch},
                headers=supplier.headers,
                timeout=60,
            )
        except requests.RequestException:
            with stream.lock:
                stream.unacknowledged.append(batch)
            return
        assert response.status_code == 200, response.text
        with stream.lock:
            stream.acknowledged.append((batch, response.json()))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[PartnerHost, Path]]:
    """The buyer's PACT host; it takes the second event, then hangs before answering."""
    with tls_partner_host(tmp_path, hold_at=2) as found:
        yield found


def exchange_public_key(base_url: str) -> bytes:
    [jwk] = requests.get(f"{base_url}/.well-known/jwks.json", timeout=30).json()["keys"]
    return signing.public_key_from_jwk({k: v for k, v in jwk.items() if k in ("kty", "crv", "x")})


def check_stored(
    base_url: str, supplier: Member, envelope: dict[str, Any], checkpoint: str, origin: str
) -> bool:
    """Whether the record is stored; if it is, it must be whole, verifiable and logged."""
    footprint_id = envelope["footprint"]["id"]
    response = requests.get(
        f"{base_url}/api/v1/footprints/{footprint_id}", headers=supplier.headers, timeout=30
    )
    if response.status_code == 404:
        return False
    assert response.status_code == 200, response.text
    served = response.json()
    assert served["footprint"] == envelope["footprint"]
    assert served["signature"] == envelope["signature"]
    signing.verify(
        context=signing.FOOTPRINT_CONTEXT,
        payload=served["footprint"],
        signature=served["signature"]["value"],
        public_key=supplier.key.public_key,
    )
    size = int(checkpoint.split("\n")[1])
    proof = requests.get(
        f"{base_url}/api/v1/log/proof/inclusion",
        params={"index": served["exchange"]["logIndex"], "size": size},
        timeout=30,
    )
    assert proof.status_code == 200, proof.text
    entry = signing.canonical_json(
        {"footprint": envelope["footprint"], "signature": envelope["signature"]}
    )
    verify_inclusion_proof(
        proof.json(),
        checkpoint,
        public_key=exchange_public_key(base_url),
        origin=origin,
        entry=entry,
    )
    return True


def exchange_command(
    instance: Path, database_url: str, *argv: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *argv],
        env={**server_environment(instance, database_url), **extra},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_nothing_acknowledged_is_lost_when_server_and_worker_are_killed(
    app: Flask, database_url: str, tmp_path: Path, receiver: tuple[PartnerHost, Path]
) -> None:
    host, receiver_ca = receiver
    instance, log_path = tmp_path / "server-instance", tmp_path / "server.log"
    origin = app.config["EXCHANGE_ORIGIN"]
    supplier = add_member(app)
    buyer = add_member(app, Role.CHAIN_OWNER)
    server: ServerProcess = start_server(database_url, instance, log_path)
    try:
        registered = requests.put(
            f"{server.base_url}/api/v1/events-endpoint",
            json={
                "baseUrl": host.base_url,
                "clientId": host.client_id,
                "clientSecret": host.client_secret,
            },
            headers=buyer.headers,
            timeout=30,
        )
        assert registered.status_code == 200, registered.text
        shared = requests.post(
            f"{server.base_url}/api/v1/shares",
            json={"organisationId": buyer.organisation_id, "productId": PRODUCT},
            headers=supplier.headers,
            timeout=30,
        )
        assert shared.status_code == 201, shared.text

        # the stream, and SIGKILL to gunicorn's whole process group in the middle of it
        stream = Stream()
        clients = [
            threading.Thread(target=stream_batches, args=(server.base_url, supplier, stream))
            for _ in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        deadline = time.monotonic() + 120
        while stream.count() < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.02)
        kill_group(server.process, signal.SIGKILL)
        for thread in clients:
            thread.join(timeout=120)
        assert stream.count() >= ACKNOWLEDGED_BEFORE_KILL
        assert len(stream.unacknowledged) == CLIENTS

        server = start_server(database_url, instance, log_path)
        checkpoint = requests.get(f"{server.base_url}/api/v1/log/checkpoint", timeout=30).text
        public_key = exchange_public_key(server.base_url)
        stored_ids: set[str] = set()
        for batch, answer in stream.acknowledged:
            assert answer["accepted"] == BATCH
            for envelope, result in zip(batch, answer["results"], strict=True):
                assert result["status"] == "created"
                verify_receipt(
                    result["receipt"],
                    public_key=public_key,
                    origin=origin,
                    entry=signing.canonical_json(
                        {"footprint": envelope["footprint"], "signature": envelope["signature"]}
                    ),
                )
                assert check_stored(server.base_url, supplier, envelope, checkpoint, origin)
                stored_ids.add(envelope["footprint"]["id"])
        for batch in stream.unacknowledged:
            present = [
                check_stored(server.base_url, supplier, envelope, checkpoint, origin)
                for envelope in batch
            ]
            assert all(present) or not any(present), present
            if all(present):
                stored_ids |= {envelope["footprint"]["id"] for envelope in batch}
    finally:
        kill_group(server.process, signal.SIGTERM)

    audit = exchange_command(instance, database_url, "audit")
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.startswith("audit ok:")

    # the worker: killed while the receiver holds a delivery it has already taken
    worker_environment = {
        "REQUESTS_CA_BUNDLE": str(receiver_ca),
        "EXCHANGE_JOB_LEASE_SECONDS": LEASE_SECONDS,
    }
    with (tmp_path / "worker.log").open("ab") as worker_log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "worker", "--batch", "1", "--poll", "0.1"],
            env={**server_environment(instance, database_url), **worker_environment},
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
            start_new_session=True,
        )
    try:
        assert host.holding.wait(120), (tmp_path / "worker.log").read_text()
    finally:
        kill_group(worker, signal.SIGKILL)
    host.release.set()

    def delivered() -> dict[str, dict[str, Any]]:
        return {received.body["id"]: received.body for received in list(host.events)}

    def pending() -> int:
        with app.extensions["exchange.sessions"]() as session:
            query = sa.select(sa.func.count()).where(Job.status == JobStatus.PENDING)
            return int(session.scalar(query) or 0)

    deadline = time.monotonic() + 120
    while pending() and time.monotonic() < deadline:
        once = exchange_command(instance, database_url, "worker", "--once", **worker_environment)
        assert once.returncode == 0, once.stderr
        time.sleep(0.5)
    assert pending() == 0
    last = exchange_command(instance, database_url, "worker", "--once", **worker_environment)
    assert last.returncode == 0 and "worker: 0 job(s) run" in last.stderr, last.stderr

    unique = delivered()
    ids = [received.body["id"] for received in host.events]
    # the held event was taken, its acknowledgement lost with the worker, and sent again
    assert len(ids) > len(unique)
    for received in host.events:
        assert received.body == unique[received.body["id"]]
    assert {event["type"] for event in unique.values()} == {pact_wire.PUBLISHED}
    per_record = [pf for event in unique.values() for pf in event["data"]["pfIds"]]
    assert sorted(per_record) == sorted(stored_ids), "each stored record announced exactly once"
