"""The database lost in the middle of work (PostgreSQL): a live gunicorn server pushing a batch
of signed footprints, and ``exchange worker`` delivering an event, when every backend of their
database is terminated.

The request is caught at a known point inside its transaction: the test holds a SHARE lock
on ``footprint_validity_years``, which lets the submission read everything, append the batch
to the log and insert its records and their terms, and then makes it wait on its last insert.
Its backend is terminated there, the lock released. The client gets the one JSON error body
(503, to be tried again); nothing of the batch is stored nor logged; the log audit passes; and
the next write and read succeed on the same server, whose pools now hold only dead connections.

The worker is cut off while a receiver holds the delivery it is making, and the database then
refuses connections for a while: the worker stays up, and once the database is back it sends
the event again (same CloudEvent id) and finishes the job; none is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from exchange.footprints.models import FootprintRecord
from exchange.jobs.models import Job, JobStatus
from exchange.log.models import LogEntry
from exchange.organisations.models import Role
from exchange.pact.services import DELIVER_EVENT
from tests.e2e.conftest import kill_group, running_server, server_environment
from tests.e2e.receiver import PartnerHost, tls_partner_host
from tests.factories import Member, add_member

# Some tests read EXCHANGE_TEST_DATABASE_URL themselves (the server the outage is made on).
pytestmark = [pytest.mark.e2e, pytest.mark.database]

PRODUCT = "urn:gtin:06901234599983"
BATCH = 5


@pytest.fixture
def admin(database_url: str) -> Iterator[sa.Engine]:
    """Connections of the test's own, outside the server's pools."""
    if not database_url.startswith("postgresql"):
        pytest.skip("terminating a server's backends needs PostgreSQL")
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def backend(connection: sa.Connection) -> int:
    return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def terminate_other_backends(connection: sa.Connection, *spared: int) -> int:
    """Terminate every backend of this test's database but ``connection``'s and ``spared``."""
    return len(
        connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND NOT pid = ANY(:spared)"
            ),
            {"spared": list(spared)},
        ).all()
    )


def wait_for_blocked_insert(connection: sa.Connection, table: str) -> None:
    """Until a backend of this database waits for a lock on ``table`` (to insert into it)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = CAST(:table AS regclass) AND mode = 'RowExclusiveLock'"
            ),
            {"table": table},
        ).scalar_one()
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError(f"no submission came to wait on {table}")


def push(base_url: str, supplier: Member, batch: list[dict[str, Any]]) -> requests.Response:
    return requests.post(
        f"{base_url}/api/v1/footprints",
        json={"items": batch},
        headers=supplier.headers,
        timeout=60,
    )


def stored(app: Flask, ids: list[str]) -> tuple[int, int]:
    """How many of ``ids`` are stored as records, and as log entries."""
    with app.extensions["exchange.sessions"]() as session:
        records = session.scalar(sa.select(sa.func.count()).where(FootprintRecord.id.in_(ids)))
        entries = session.scalar(sa.select(sa.func.count()).where(LogEntry.ref.in_(ids)))
        return int(records or 0), int(entries or 0)


def test_a_batch_cut_off_by_a_lost_database_connection_is_refused_whole(
    app: Flask, admin: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    supplier = add_member(app)
    instance = tmp_path / "server-instance"
    with running_server(database_url, instance, tmp_path / "server.log") as base_url:
        warm = push(base_url, supplier, [supplier.envelope(productIds=[PRODUCT])])
        assert warm.status_code == 200, warm.text
        size_before = requests.get(f"{base_url}/api/v1/log/checkpoint", timeout=30).text

        batch = [supplier.envelope(productIds=[PRODUCT]) for _ in range(BATCH)]
        ids = [envelope["footprint"]["id"] for envelope in batch]
        answers: list[requests.Response | requests.RequestException] = []

        def send() -> None:
            try:
                answers.append(push(base_url, supplier, batch))
            except requests.RequestException as exc:  # a reset or a timeout
                answers.append(exc)

        with admin.connect() as blocker, admin.connect() as killer:
            with blocker.begin():
                blocker.execute(sa.text("LOCK TABLE footprint_validity_years IN SHARE MODE"))
                sender = threading.Thread(target=send)
                sender.start()
                wait_for_blocked_insert(killer, "footprint_validity_years")
                # the submission has appended to the log and inserted its records by now
                assert terminate_other_backends(killer, backend(blocker)) >= 1
            sender.join(timeout=90)
        assert not sender.is_alive(), "the client was left hanging"

        [answer] = answers
        assert isinstance(answer, requests.Response), answer
        # a passing outage, not a fault of the exchange: 503, try again shortly
        assert answer.status_code == 503, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        assert int(answer.headers["Retry-After"]) >= 1
        body = answer.json()
        assert set(body) == {"code", "message", "details"}, body
        assert body["code"] == "ServiceUnavailable" and "database" in body["message"]
        assert stored(app, ids) == (0, 0), "a half-stored batch"
        assert requests.get(f"{base_url}/api/v1/log/checkpoint", timeout=30).text == size_before
        for footprint_id in ids:
            missing = requests.get(
                f"{base_url}/api/v1/footprints/{footprint_id}", headers=supplier.headers, timeout=30
            )
            assert missing.status_code == 404, missing.text

        # the very next request is answered, by whichever worker takes it
        again = push(base_url, supplier, batch)
        assert again.status_code == 200, again.text
        assert again.json()["accepted"] == BATCH
        assert [r["status"] for r in again.json()["results"]] == ["created"] * BATCH
        assert stored(app, ids) == (BATCH, BATCH)

        # a read right after every pooled connection died: the PACT list
        with admin.connect() as killer:
            assert terminate_other_backends(killer) >= 1
        for _ in range(3):  # more requests than workers: each worker's pool meets the loss
            listed = requests.get(
                f"{base_url}/3/footprints",
                params={"limit": "100"},
                headers=supplier.headers,
                timeout=30,
            )
            assert listed.status_code == 200, listed.text
            assert set(ids) <= {item["id"] for item in listed.json()["data"]}

    audit = subprocess.run(
        [sys.executable, "-m", "exchange.cli", "audit"],
        env=server_environment(instance, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.startswith("audit ok:"), audit.stdout


@contextmanager
def refusing_connections(database_url: str) -> Iterator[None]:
    """This test's database refuses new connections (and loses its open ones) in the block.

    A setting of the test's own throwaway database, made from the database the tests were
    given; the server itself is left alone.
    """
    name = sa.make_url(database_url).database
    maintenance = sa.create_engine(
        os.environ["EXCHANGE_TEST_DATABASE_URL"],  # the server's database the tests start from
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    try:
        with maintenance.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                ),
                {"name": name},
            )
        yield
    finally:
        with maintenance.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        maintenance.dispose()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[PartnerHost, Path]]:
    """The buyer's PACT host; it takes the first event, then holds it until released."""
    with tls_partner_host(tmp_path, hold_at=1) as found:
        yield found


def jobs_by_status(app: Flask) -> dict[JobStatus, int]:
    """The event deliveries by status (the worker also runs its own scheduled jobs, such as
    renewing the trust list, which are not what this test follows)."""
    with app.extensions["exchange.sessions"]() as session:
        rows = session.execute(
            sa.select(Job.status, sa.func.count())
            .where(Job.kind == DELIVER_EVENT)
            .group_by(Job.status)
        ).all()
    return {status: int(count) for status, count in rows}


def test_the_worker_outlives_a_database_outage_and_finishes_its_job(
    app: Flask,
    client: FlaskClient,
    admin: sa.Engine,
    database_url: str,
    tmp_path: Path,
    receiver: tuple[PartnerHost, Path],
) -> None:
    del admin  # asked for its skip: the outage below needs PostgreSQL too
    host, receiver_ca = receiver
    app.config["EVENTS_ALLOW_PRIVATE_HOSTS"] = True
    supplier = add_member(app)
    buyer = add_member(app, Role.CHAIN_OWNER)
    registered = client.put(
        "/api/v1/events-endpoint",
        json={
            "baseUrl": host.base_url,
            "clientId": host.client_id,
            "clientSecret": host.client_secret,
        },
        headers=buyer.headers,
    )
    assert registered.status_code == 200, registered.get_json()
    shared = client.post(
        "/api/v1/shares",
        json={"organisationId": buyer.organisation_id, "productId": PRODUCT},
        headers=supplier.headers,
    )
    assert shared.status_code == 201, shared.get_json()
    batch = [supplier.envelope(productIds=[PRODUCT]) for _ in range(2)]
    pushed = client.post("/api/v1/footprints", json={"items": batch}, headers=supplier.headers)
    assert pushed.status_code == 200, pushed.get_json()
    assert jobs_by_status(app) == {JobStatus.PENDING: 1}

    worker_log = tmp_path / "worker.log"
    environment = {
        **server_environment(Path(app.instance_path), database_url),
        "REQUESTS_CA_BUNDLE": str(receiver_ca),
        "EXCHANGE_JOB_LEASE_SECONDS": "2",
    }
    with worker_log.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "worker", "--poll", "0.1"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    try:
        assert host.holding.wait(60), worker_log.read_text()
        with refusing_connections(database_url):
            host.release.set()  # the delivery succeeds; recording it cannot
            # More than one of its rounds meets the outage, and the worker stays up.
            outage = "the database is unavailable"
            deadline = time.monotonic() + 30
            while worker_log.read_text().count(outage) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert worker_log.read_text().count(outage) >= 2, worker_log.read_text()
            assert worker.poll() is None, worker_log.read_text()
        deadline = time.monotonic() + 30
        while jobs_by_status(app) != {JobStatus.DONE: 1} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert jobs_by_status(app) == {JobStatus.DONE: 1}, worker_log.read_text()
        assert worker.poll() is None, worker_log.read_text()
    finally:
        kill_group(worker, signal.SIGTERM)
    assert worker.returncode == 0, worker_log.read_text()
    assert "the database is unavailable" in worker_log.read_text()

    ids = [received.body["id"] for received in host.events]
    assert len(ids) == 2 and len(set(ids)) == 1, "the held event, sent again with its id"
    [event] = {received.body["id"]: received.body for received in host.events}.values()
    assert sorted(event["data"]["pfIds"]) == sorted(e["footprint"]["id"] for e in batch)
