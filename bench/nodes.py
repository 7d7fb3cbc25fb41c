"""Pushes per second with one app node and with two, on one PostgreSQL (issue 22).

    python bench/nodes.py [--clients 16] [--seconds 20] [--workers 2]
                          [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a database of its own on the server (dropped afterwards) and one keys folder, which
every node mounts (``EXCHANGE_KEYS_PATH``), as docs/operations/nodes.md describes. Starts one
node (``exchange serve``: its own instance folder and gunicorn master, ``--workers`` workers),
then ``--clients`` client threads push freshly signed footprints (signed before the phase
starts, so that the clients' own signing is not measured) for ``--seconds``; then a second
node on the same database and keys, and the same clients push to both nodes in turn. Every
push must be answered 201 with a receipt; every acknowledged record must be stored once,
and ``exchange audit`` must pass at the end.

On one machine the second node adds processes, not cores: the ratio then says whether the
shared parts (the log's sequencing in PostgreSQL, the database itself) let a second node
add work without losing throughput, not what a second machine would add.

Ends with ``RESULT one_node_per_s=… two_nodes_per_s=… ratio=… errors=…``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from exchange import create_app
from exchange.footprints.models import FootprintRecord
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database
from tests.databases import scratch_postgresql_database
from tests.e2e.conftest import free_port
from tests.factories import Member, add_member

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def node(folder: Path, keys: Path, database_url: str, workers: int) -> Iterator[str]:
    """``exchange serve`` with an instance folder of its own and the shared keys: its URL."""
    folder.mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(folder / "instance"),
        "EXCHANGE_KEYS_PATH": str(keys),
        "EXCHANGE_DATABASE_URL": database_url,
        "EXCHANGE_WORKERS": str(workers),
        "EXCHANGE_ACCESS_LOG": str(folder / "access.log"),
    }
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
            env=env,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                assert process.poll() is None, f"the node stopped; see {folder / 'server.log'}"
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/healthz", timeout=2).ok:
                        break
                time.sleep(0.1)
            else:
                raise AssertionError("the node did not start")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=60)


def signed_bodies(member: Member, count: int) -> list[tuple[str, bytes]]:
    bodies = []
    for _ in range(count):
        footprint = member.footprint(productIds=[f"urn:uuid:{uuid.uuid4()}"])
        footprint.pop("precedingPfIds", None)
        bodies.append((footprint["id"], json.dumps(member.key.sign_footprint(footprint)).encode()))
    return bodies


def push_phase(
    urls: list[str], member: Member, clients: int, seconds: float
) -> tuple[float, list[str], int]:
    """Pushes per second over ``seconds``, the acknowledged ids, and the errors."""
    # Enough for a fast server; a client that runs out stops early and the rate shows it.
    bodies = iter(signed_bodies(member, 400 * clients))
    take = threading.Lock()
    targets = itertools.cycle(urls)
    acknowledged: list[str] = []
    errors = [0]
    start = time.monotonic()
    deadline = start + seconds

    def client() -> None:
        http = requests.Session()
        headers = {**member.headers, "Content-Type": "application/json"}
        while time.monotonic() < deadline:
            with take:
                item = next(bodies, None)
                url = next(targets)
            if item is None:
                return
            record_id, body = item
            try:
                response = http.post(
                    f"{url}/api/v1/footprints", data=body, headers=headers, timeout=60
                )
                good = response.status_code == 201 and bool(response.json().get("receipt"))
            except (requests.RequestException, ValueError):
                good = False
            with take:
                if good:
                    acknowledged.append(record_id)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    return len(acknowledged) / elapsed, acknowledged, errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node")
    parser.add_argument(
        "--database-url", default=os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        scratch_postgresql_database(args.database_url, "fx_bench_nodes") as url,
    ):
        folder = Path(scratch)
        keys = folder / "keys"
        upgrade_database(url)
        admin = create_app({"DATABASE_URL": url, "KEYS_PATH": keys}, instance_path=str(folder))
        member = add_member(admin, Role.SUPPLIER)
        with node(folder / "a", keys, url, args.workers) as a:
            # Warm the node's connections and code paths before measuring.
            push_phase([a], member, args.clients, 2)
            one, first, errors_one = push_phase([a], member, args.clients, args.seconds)
            with node(folder / "b", keys, url, args.workers) as b:
                push_phase([b], member, args.clients, 2)
                two, second, errors_two = push_phase([a, b], member, args.clients, args.seconds)
        acknowledged = first + second
        with admin.extensions["exchange.sessions"]() as session:
            stored = session.scalar(
                sa.select(sa.func.count())
                .select_from(FootprintRecord)
                .where(FootprintRecord.id.in_(acknowledged))
            )
        admin.extensions["exchange.engine"].dispose()
        assert stored == len(acknowledged), (stored, len(acknowledged))
        audit = subprocess.run(
            [sys.executable, "-m", "exchange.cli", "audit"],
            env={
                **os.environ,
                "EXCHANGE_INSTANCE_PATH": str(folder / "a" / "instance"),
                "EXCHANGE_KEYS_PATH": str(keys),
                "EXCHANGE_DATABASE_URL": url,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
    print(
        f"one node: {one:.1f} pushes/s ({errors_one} errors); two nodes: {two:.1f} pushes/s "
        f"({errors_two} errors); {len(acknowledged)} acknowledged, all stored, audit passed"
    )
    print(
        f"RESULT one_node_per_s={one:.1f} two_nodes_per_s={two:.1f} ratio={two / one:.2f} "
        f"errors={errors_one + errors_two}"
    )


if __name__ == "__main__":
    main()
