"""Ingest benchmark: N signed footprints through the service layer and the HTTP batch endpoint,
against bare PyNaCl verification of the same signatures, all measured in this one run.

    python bench/ingest.py [--records 10000] [--batch 1000] [--pushes 300]
                           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

On SQLite by default; with ``--database-url`` every phase gets a private PostgreSQL database
(created and dropped). Last, ``--pushes`` single footprints go one at a time through
``POST /api/v1/footprints`` in process (``app.test_client()``), and the time each holds the
log head's lock (from the moment it has it to the end of its transaction) is summed against
the requests' own time: the lock's share of a push's server time (goal ≤ 10 %), the part
that one writer on any node makes every other writer wait for.

Ends with ``RESULT service_per_s=… http_per_s=… verify_per_s=… ratio=… push_ms=… lock_ms=…
lock_share=… service_cpu_us=… verify_cpu_us=…`` (ratio = service / verify, goal ≥ 0.5; the
last two: the CPU one record costs through the service layer, this process and its
verification pool together, and one bare verification, which a busy machine inflates far
less than it does the rates).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from exchange import create_app, signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints import services as footprints
from exchange.log import services as log_services
from exchange.log.services import issue_receipts
from exchange.organisations import services as organisations
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.databases import scratch_postgresql_database
from tests.e2e.conftest import free_port
from tests.factories import pact_example


def make_envelopes(key: LocalKey, company_id: str, count: int) -> list[dict[str, Any]]:
    template = pact_example()
    envelopes = []
    for number in range(count):
        footprint = {
            **template,
            "id": str(uuid.uuid4()),
            "companyIds": [company_id],
            "productIds": [f"urn:gtin:{number:014d}"],
        }
        envelopes.append(key.sign_footprint(footprint))
    return envelopes


def bare_verify_rate(envelopes: list[dict[str, Any]], key: LocalKey) -> tuple[float, float]:
    """PyNaCl verification alone, with the signed messages built beforehand: signatures
    per second, and the CPU microseconds of one."""
    verify_key = nacl.signing.VerifyKey(key.public_key)
    prepared = [
        (
            signing.signed_message(context=signing.FOOTPRINT_CONTEXT, payload=e["footprint"]),
            signing.b64url_decode(e["signature"]["value"]),
        )
        for e in envelopes
    ]
    started, cpu = time.perf_counter(), time.process_time()
    for message, signature in prepared:
        verify_key.verify(message, signature)
    cpu_us = (time.process_time() - cpu) / len(prepared) * 1e6
    return len(prepared) / (time.perf_counter() - started), cpu_us


def _pool_cpu_seconds() -> float:
    """CPU used so far by this process's live children (the verification pool), from
    /proc: what they used starting up does not count once subtracted from a later reading."""
    total = 0
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError, AttributeError):
            fields = Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


COMPANY_ID = "urn:pact:company:customcode:bench:supplier"


def setup_member(
    app: Any, key: LocalKey
) -> tuple[organisations.Principal, organisations.ClientCredentials]:
    with transaction(app.extensions["exchange.sessions"]) as session:
        organisation = organisations.create_organisation(
            session,
            name="Bench supplier",
            country="TH",
            roles=[Role.SUPPLIER],
            company_ids=[COMPANY_ID],
        )
        organisations.register_key(
            session,
            organisation_id=organisation.id,
            public_jwk=key.public_jwk(),
        )
        credentials = organisations.create_client(
            session, organisation_id=organisation.id, name="bench"
        )
        token = organisations.issue_token(
            session, client_id=credentials.client_id, client_secret=credentials.client_secret
        )
        principal = organisations.authenticate(session, token.access_token)
        return principal, credentials


def service_rate(
    envelopes: list[dict[str, Any]], key: LocalKey, instance: Path, batch: int
) -> tuple[float, float]:
    """Records per second through the service layer, and the CPU microseconds of one (this
    process and the verification pool together)."""
    app = create_app(instance_path=str(instance))
    upgrade_database(app.config["DATABASE_URL"])
    principal, _ = setup_member(app, key)
    factory = app.extensions["exchange.sessions"]
    # As in a server's worker: the heap it has loaded frozen out of the collector's sight
    # (exchange.system.gunicorn_settings.post_worker_init), and a verification pool that
    # outlives the request that started it.
    gc.freeze()
    verifier = app.extensions["exchange.verifier"]
    verifier.start(wait=True)
    started, cpu, pool_cpu = time.perf_counter(), time.process_time(), _pool_cpu_seconds()
    for start in range(0, len(envelopes), batch):
        with transaction(factory) as session:
            outcomes = footprints.submit(
                session,
                principal=principal,
                items=envelopes[start : start + batch],
                verifier=verifier,
            )
            assert all(outcome.accepted and outcome.created for outcome in outcomes)
            issue_receipts(
                session,
                app.extensions["exchange.key"],
                app.config["EXCHANGE_ORIGIN"],
                [o.record.log_index for o in outcomes if o.record is not None],
            )
    rate = len(envelopes) / (time.perf_counter() - started)
    used = time.process_time() - cpu + _pool_cpu_seconds() - pool_cpu
    verifier.close()
    return rate, used / len(envelopes) * 1e6


@contextlib.contextmanager
def server(instance: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(instance),
        "EXCHANGE_WORKERS": "2",
        "EXCHANGE_ACCESS_LOG": str(instance / "access.log"),
    }
    errors = (instance / "server.err").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
        env=env,
        stderr=errors,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1800):  # a busy shared machine may take a while
            if process.poll() is not None:
                raise RuntimeError((instance / "server.err").read_text()[-2000:])
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).ok:
                    break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        errors.close()


def http_rate(envelopes: list[dict[str, Any]], key: LocalKey, instance: Path, batch: int) -> float:
    app = create_app(instance_path=str(instance))
    upgrade_database(app.config["DATABASE_URL"])
    _, credentials = setup_member(app, key)
    app.extensions["exchange.engine"].dispose()
    with server(instance) as url:
        session = requests.Session()
        token = session.post(
            f"{url}/auth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
            timeout=30,
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        started = time.perf_counter()
        for start in range(0, len(envelopes), batch):
            response = session.post(
                f"{url}/api/v1/footprints",
                headers=headers,
                timeout=600,
                json={"items": envelopes[start : start + batch]},
            )
            assert response.status_code == 200, response.text[:500]
        return len(envelopes) / (time.perf_counter() - started)


class LockClock:
    """Sums how long transactions hold the log head's lock: from the moment
    ``exchange.log.services._lock_head`` returns to the end of that session's transaction."""

    def __init__(self) -> None:
        self.held = 0.0
        self.since: dict[int, float] = {}

    def __enter__(self) -> LockClock:
        self.original = log_services._lock_head

        def timed(session: Session, count: int) -> int:
            size = self.original(session, count)
            self.since.setdefault(id(session), time.perf_counter())
            return size

        log_services._lock_head = timed
        sa.event.listen(Session, "after_commit", self._ended)
        sa.event.listen(Session, "after_rollback", self._ended)
        return self

    def _ended(self, session: Session) -> None:
        started = self.since.pop(id(session), None)
        if started is not None:
            self.held += time.perf_counter() - started

    def __exit__(self, *exc: object) -> None:
        log_services._lock_head = self.original
        sa.event.remove(Session, "after_commit", self._ended)
        sa.event.remove(Session, "after_rollback", self._ended)


def lock_share(
    envelopes: list[dict[str, Any]], key: LocalKey, instance: Path
) -> tuple[float, float]:
    """Single pushes in process: the mean server time of one, and the mean lock hold."""
    app = create_app(instance_path=str(instance))
    upgrade_database(app.config["DATABASE_URL"])
    _, credentials = setup_member(app, key)
    client = app.test_client()
    token = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    ).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    warm = 20
    with LockClock() as clock:
        total = 0.0
        for number, envelope in enumerate(envelopes):
            if number == warm:
                clock.held, total = 0.0, 0.0
            started = time.perf_counter()
            response = client.post("/api/v1/footprints", headers=headers, json=envelope)
            total += time.perf_counter() - started
            assert response.status_code == 201, response.get_data(as_text=True)[:500]
    app.extensions["exchange.engine"].dispose()
    measured = len(envelopes) - warm
    return total / measured * 1000, clock.held / measured * 1000


@contextlib.contextmanager
def database(server_url: str | None) -> Iterator[None]:
    """A private PostgreSQL database for one phase (``EXCHANGE_DATABASE_URL``), or SQLite."""
    if server_url is None:
        os.environ.pop("EXCHANGE_DATABASE_URL", None)
        yield
        return
    with scratch_postgresql_database(server_url, "fx_ingest") as url:
        os.environ["EXCHANGE_DATABASE_URL"] = url
        try:
            yield
        finally:
            os.environ.pop("EXCHANGE_DATABASE_URL", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pushes", type=int, default=300, help="single pushes timed")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server")
    args = parser.parse_args()
    key = LocalKey.generate()
    os.environ.setdefault("EXCHANGE_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        # Every phase has a database of its own, so one envelope set serves them all.
        envelopes = make_envelopes(key, COMPANY_ID, args.records)
        verify_per_s, verify_cpu_us = bare_verify_rate(envelopes, key)
        with database(args.database_url):
            service_per_s, service_cpu_us = service_rate(
                envelopes, key, root / "service", args.batch
            )
        with database(args.database_url):
            http_per_s = http_rate(envelopes, key, root / "http", args.batch)
        with database(args.database_url):
            singles = make_envelopes(key, COMPANY_ID, args.pushes)
            push_ms, lock_ms = lock_share(singles, key, root / "pushes")
    ratio = service_per_s / verify_per_s
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(f"records: {args.records} in batches of {args.batch}, {engine}")
    print(f"bare PyNaCl verify: {verify_per_s:9.0f} /s")
    print(f"service layer:      {service_per_s:9.0f} /s  ({ratio:.2f} of bare verify; goal >= 0.5)")
    print(
        f"CPU per record:     {service_cpu_us:9.0f} us  "
        f"({service_cpu_us / verify_cpu_us:.1f} verifications' worth, {verify_cpu_us:.0f} us each)"
    )
    print(
        f"HTTP batch:         {http_per_s:9.0f} /s  "
        f"({http_per_s / verify_per_s:.2f} of bare verify)"
    )
    share = lock_ms / push_ms
    print(
        f"single push:        {push_ms:9.2f} ms, the log head locked {lock_ms:.2f} ms of it "
        f"({share:.0%}; goal <= 10 %)"
    )
    print(
        f"RESULT service_per_s={service_per_s:.0f} http_per_s={http_per_s:.0f} "
        f"verify_per_s={verify_per_s:.0f} ratio={ratio:.2f} push_ms={push_ms:.2f} "
        f"lock_ms={lock_ms:.2f} lock_share={share:.2f} service_cpu_us={service_cpu_us:.0f} "
        f"verify_cpu_us={verify_cpu_us:.0f}"
    )


if __name__ == "__main__":
    main()
