"""Load benchmark (issue 10): a gunicorn deployment on PostgreSQL under a mixed workload.

    python bench/load.py [--clients 64] [--seconds 60] [--workers 4] [--records 2000]
                         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a database of its own on the server (dropped afterwards), issues a real label there
(accredited body, body-signed certificate, grading scheme: ``bench/labels.py``), seeds a
supplier with ``--records`` signed footprints through the service layer (``bench/ingest.py``),
then serves it with ``exchange serve`` (gunicorn, ``--workers`` workers of
``EXCHANGE_THREADS`` threads each, reading request heads in their event loops). ``--clients``
concurrent clients (threads with a ``requests`` session each, spread over ``--processes``
load-generator processes apart from this one, which only samples memory) first drive the
trivial ``/healthz`` for the baseline, then the mixed workload for ``--seconds``:

- push: a freshly signed footprint to ``POST /api/v1/footprints``; must be 201 with its id
  and a receipt, and every acknowledged id must be stored when the run ends;
- list: ``GET /3/footprints?limit=50`` and the next page its ``Link`` names; 50 footprints
  each, none twice;
- verify: ``POST /api/v1/labels/verify`` of the label; the verdict must be "valid";
- proof: ``GET /api/v1/log/proof/inclusion`` for a random index; the proof must lead to the
  root it names (RFC 9162 verification).

Last, the slowloris phase: ``--slow`` connections (200) send a request head one byte a
second (``tests/e2e/slow_clients.py``) while ``--slow-clients`` normal clients (8) call
``/healthz`` for ``--slow-seconds``; their p99 is compared with the same clients' without
the slow connections.

Any non-2xx answer, connection error or failed check is an error. The server's memory is the
resident set of the gunicorn master and workers, sampled every second of the mixed phase;
its growth is the mean of the last third minus the mean of the first. Ends with
``RESULT clients=… requests_per_s=… errors=… p99_ms=… rss_growth_mb=… healthz_per_s=…
slowloris_p99_ms=… calm_p99_ms=… healthz_p99_ms=… mixed_cpu_ms=… healthz_cpu_ms=…
mixed_server_cpu_ms=… healthz_server_cpu_ms=…``: the CPU figures are milliseconds per request
of the whole machine (server, load generators, PostgreSQL) and of the server alone, which say
how far the mixed load's cost is from twice that of ``/healthz`` (the goal of 0.5). Goals:
zero errors and no unbounded growth at 64 clients.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import multiprocessing
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ingest import COMPANY_ID, make_envelopes, setup_member
from bench.labels import free_port, issue_label
from exchange import create_app
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints import services as footprints
from exchange.footprints.models import FootprintRecord
from exchange.log import merkle
from exchange.organisations import services as organisations
from tests.databases import scratch_postgresql_database
from tests.e2e.slow_clients import slow_clients
from tests.factories import pact_example

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Shares of the mixed workload.
MIX = {"push": 2, "list": 3, "verify": 3, "proof": 2}
LIST_PAGE = 50
P99_GOAL_S = 0.25  # issue 22's goal for the mixed load
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


# -- the deployment ---------------------------------------------------------------------------


class Seed:
    """What the clients need: the pusher's key and token, the label URL, the log's size."""

    def __init__(self, key: LocalKey, token: str, label_url: str, log_size: int) -> None:
        self.key = key
        self.token = token
        self.label_url = label_url
        self.log_size = log_size


def seed(instance: Path, records: int, batch: int = 500) -> Seed:
    label_url = issue_label(instance)
    app = create_app(instance_path=str(instance))
    key = LocalKey.generate()
    principal, credentials = setup_member(app, key)
    factory = app.extensions["exchange.sessions"]
    envelopes = make_envelopes(key, COMPANY_ID, records)
    for start in range(0, records, batch):
        with transaction(factory) as session:
            outcomes = footprints.submit(
                session,
                principal=principal,
                items=envelopes[start : start + batch],
            )
            assert all(outcome.accepted for outcome in outcomes)
    with transaction(factory) as session:
        token = organisations.issue_token(
            session, client_id=credentials.client_id, client_secret=credentials.client_secret
        ).access_token
        log_size = footprints_log_size(session)
    app.extensions["exchange.engine"].dispose()
    return Seed(key, token, label_url, log_size)


def footprints_log_size(session: Any) -> int:
    from exchange.log.services import tree_size

    return int(tree_size(session))


@contextlib.contextmanager
def server(instance: Path, database_url: str, workers: int) -> Iterator[tuple[str, int]]:
    """``exchange serve`` on a free port: its URL and the gunicorn master's pid."""
    port = free_port()
    env = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(instance),
        "EXCHANGE_DATABASE_URL": database_url,
        "EXCHANGE_WORKERS": str(workers),
        "EXCHANGE_ACCESS_LOG": str(instance / "access.log"),
        "EXCHANGE_LOG_LEVEL": "INFO",
        # The 64 clients all come from 127.0.0.1: the per-address verification limit stays
        # on (its counting is part of what is measured) but is set out of this load's reach.
        "EXCHANGE_RATE_LIMIT_VERIFY": f"{10**9}/60",
    }
    with (instance / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
            env=env,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                assert process.poll() is None, "the server stopped; see server.log"
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/healthz", timeout=2).ok:
                        break
                time.sleep(0.1)
            # ``exchange serve`` execs gunicorn: the same pid is the master.
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=60)


def server_processes(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def cpu_seconds(master: int) -> float:
    """User and system CPU time of the gunicorn master and its live workers (Linux /proc)."""
    total = 0
    for pid in server_processes(master):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, all cores (Linux /proc/stat):
    what the server and the load generators did not use of it went to PostgreSQL, mostly."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def resident_bytes(master: int) -> int:
    """Resident memory of the gunicorn master and its workers (Linux /proc)."""
    total = 0
    for pid in server_processes(master):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


# -- the clients ------------------------------------------------------------------------------


class Check(Exception):
    """An answer that came back 2xx but is wrong."""


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def do_push(http: requests.Session, url: str, seed: Seed, pushed: list[str]) -> None:
    footprint = {
        **pact_example(),
        "id": str(uuid.uuid4()),
        "companyIds": [COMPANY_ID],
        "productIds": [f"urn:gtin:{random.randrange(10**13):014d}"],
    }
    response = http.post(
        f"{url}/api/v1/footprints",
        json=seed.key.sign_footprint(footprint),
        headers={"Authorization": f"Bearer {seed.token}"},
        timeout=60,
    )
    response.raise_for_status()
    body = response.json()
    if response.status_code != 201 or body.get("id") != footprint["id"] or not body.get("receipt"):
        raise Check(f"push not acknowledged: {response.status_code} {str(body)[:200]}")
    pushed.append(footprint["id"])


def do_list(http: requests.Session, url: str, seed: Seed, _pushed: list[str]) -> None:
    headers = {"Authorization": f"Bearer {seed.token}"}
    seen: set[str] = set()
    target = f"{url}/3/footprints?limit={LIST_PAGE}"
    for _page in range(2):
        response = http.get(target, headers=headers, timeout=60)
        response.raise_for_status()
        data = response.json()["data"]
        ids = {footprint["id"] for footprint in data}
        if len(data) != LIST_PAGE or len(ids) != LIST_PAGE or ids & seen:
            raise Check(f"a page of {len(data)} footprints, {len(ids & seen)} seen before")
        seen |= ids
        found = NEXT_LINK.search(response.headers.get("Link", ""))
        if found is None:
            raise Check("no Link to the next page")
        target = found.group(1)


def do_verify(http: requests.Session, url: str, seed: Seed, _pushed: list[str]) -> None:
    response = http.post(f"{url}/api/v1/labels/verify", json={"text": seed.label_url}, timeout=60)
    response.raise_for_status()
    if response.json().get("verdict") != "valid":
        raise Check(f"label verdict {response.json().get('verdict')!r}")


def do_proof(http: requests.Session, url: str, seed: Seed, _pushed: list[str]) -> None:
    index = random.randrange(seed.log_size)
    response = http.get(f"{url}/api/v1/log/proof/inclusion", params={"index": index}, timeout=60)
    response.raise_for_status()
    proof = response.json()
    if proof["index"] != index:
        raise Check(f"a proof of index {proof['index']} for {index}")
    merkle.verify_inclusion(
        index,
        proof["size"],
        b64(proof["leafHash"]),
        [b64(value) for value in proof["proof"]],
        b64(proof["rootHash"]),
    )


def do_healthz(http: requests.Session, url: str, _seed: Seed, _pushed: list[str]) -> None:
    response = http.get(f"{url}/healthz", timeout=60)
    response.raise_for_status()
    if response.json().get("status") != "ok":
        raise Check(f"health {response.text[:100]}")


ACTIONS = {
    "push": do_push,
    "list": do_list,
    "verify": do_verify,
    "proof": do_proof,
    "healthz": do_healthz,
}


def client_thread(
    url: str, seed: Seed, kinds: list[str], deadline: float, tally: dict[str, Any]
) -> None:
    rng = random.Random()
    weights = [MIX.get(kind, 1) for kind in kinds]
    with requests.Session() as http:
        while time.perf_counter() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                ACTIONS[kind](http, url, seed, tally["pushed"])
            except (requests.RequestException, Check, ValueError, KeyError) as exc:
                tally["errors"][kind] += 1
                if len(tally["messages"]) < 5:
                    tally["messages"].append(f"{kind}: {type(exc).__name__}: {str(exc)[:300]}")
            else:
                tally["latencies"][kind].append(time.perf_counter() - started)


def generator(
    url: str, seed: Seed, kinds: list[str], threads: int, deadline: float, results: Any
) -> None:
    """One load-generator process: ``threads`` clients until the deadline."""
    tally: dict[str, Any] = {
        "latencies": collections.defaultdict(list),
        "errors": collections.Counter(),
        "messages": [],
        "pushed": [],
    }
    workers = [
        threading.Thread(target=client_thread, args=(url, seed, kinds, deadline, tally))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put(
        {
            "cpu": usage.ru_utime + usage.ru_stime,
            "latencies": dict(tally["latencies"]),
            "errors": dict(tally["errors"]),
            "messages": tally["messages"],
            "pushed": tally["pushed"],
        }
    )


def phase(
    url: str,
    seed: Seed,
    kinds: list[str],
    clients: int,
    processes: int,
    seconds: float,
    master: int | None = None,
) -> tuple[dict[str, Any], float, list[int]]:
    """Run the clients for ``seconds``; their merged tallies, the time, memory samples."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    started = time.perf_counter()
    deadline = started + seconds
    shares = [
        clients // processes + (1 if n < clients % processes else 0) for n in range(processes)
    ]
    children = [
        context.Process(target=generator, args=(url, seed, kinds, share, deadline, results))
        for share in shares
        if share
    ]
    for child in children:
        child.start()
    memory: list[int] = []
    server_cpu = cpu_seconds(master) if master is not None else 0.0
    machine_cpu = machine_busy_seconds()
    while time.perf_counter() < deadline:
        if master is not None:
            memory.append(resident_bytes(master))
        time.sleep(min(1.0, max(0.0, deadline - time.perf_counter())))
    merged: dict[str, Any] = {
        "latencies": collections.defaultdict(list),
        "errors": collections.Counter(),
        "messages": [],
        "pushed": [],
        "cpu": 0.0,
        "server_cpu": cpu_seconds(master) - server_cpu if master is not None else 0.0,
        "machine_cpu": machine_busy_seconds() - machine_cpu,
    }
    for _ in children:
        part = results.get(timeout=seconds + 300)
        merged["cpu"] += part["cpu"]
        for kind, values in part["latencies"].items():
            merged["latencies"][kind].extend(values)
        merged["errors"].update(part["errors"])
        merged["messages"].extend(part["messages"])
        merged["pushed"].extend(part["pushed"])
    elapsed = time.perf_counter() - started
    for child in children:
        child.join()
    return merged, elapsed, memory


def problems_logged(instance: Path) -> list[str]:
    """The server's warnings and errors, and the requests it answered with a 5xx."""
    found = []
    for name in ("server.log", "access.log"):
        path = instance / name
        for line in path.read_text("utf-8").splitlines() if path.exists() else []:
            try:
                entry = json.loads(line)
            except ValueError:
                found.append(f"{name}: not JSON: {line[:200]}")
                continue
            if (
                entry.get("level") in ("WARNING", "ERROR", "CRITICAL")
                or entry.get("status", 0) >= 500
            ):
                found.append(f"{name}: {entry.get('level')} {entry.get('message', '')[:200]}")
    return found


def cpu_per_request(tally: dict[str, Any]) -> tuple[float, float, float]:
    """A phase's CPU milliseconds per request: the server's, the load generators', and the
    rest of the machine's (PostgreSQL, mostly)."""
    count = sum(len(values) for values in tally["latencies"].values()) or 1
    rest = tally["machine_cpu"] - tally["server_cpu"] - tally["cpu"]
    return (
        tally["server_cpu"] * 1000 / count,
        tally["cpu"] * 1000 / count,
        max(0.0, rest) * 1000 / count,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def stored(database_url: str, ids: list[str]) -> tuple[int, int]:
    """How many of ``ids`` are stored, and how many other connections the database has (the
    server's pools: at most 5 + 10 overflow per worker, SQLAlchemy's default)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            others = connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            found = 0
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                found += connection.execute(
                    sa.select(sa.func.count())
                    .select_from(FootprintRecord)
                    .where(FootprintRecord.id.in_(chunk))
                ).scalar_one()
            return int(found), int(others)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mixed phase")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--records", type=int, default=2000, help="footprints seeded")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="PostgreSQL server")
    parser.add_argument("--slow", type=int, default=200, help="slowloris connections")
    parser.add_argument("--slow-clients", type=int, default=8, help="normal clients meanwhile")
    parser.add_argument("--slow-seconds", type=float, default=15.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as temporary,
        scratch_postgresql_database(args.database_url, "fx_load") as database_url,
    ):
        instance = Path(temporary) / "instance"
        os.environ["EXCHANGE_DATABASE_URL"] = database_url
        # The seeding apps here would log every request; the server's go to its access log.
        os.environ["EXCHANGE_LOG_LEVEL"] = "WARNING"
        started = time.perf_counter()
        seeded = seed(instance, args.records)
        print(
            f"seeded {args.records} footprints, a certified label and a log of "
            f"{seeded.log_size} entries in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        with server(instance, database_url, args.workers) as (url, master):
            mixed_kinds = list(MIX)
            phase(url, seeded, [*mixed_kinds, "healthz"], args.clients, args.processes, 3.0)
            baseline, baseline_seconds, _ = phase(
                url,
                seeded,
                ["healthz"],
                args.clients,
                args.processes,
                args.baseline_seconds,
                master,
            )
            mixed, mixed_seconds, memory = phase(
                url, seeded, mixed_kinds, args.clients, args.processes, args.seconds, master
            )
            present, connections = stored(database_url, mixed["pushed"])
            calm, _, _ = phase(url, seeded, ["healthz"], args.slow_clients, 1, args.slow_seconds)
            port = int(url.rsplit(":", 1)[1])
            with slow_clients(port, args.slow) as slow:
                slowed, _, _ = phase(
                    url, seeded, ["healthz"], args.slow_clients, 1, args.slow_seconds
                )
                slow_open, slow_dropped = slow.open_now, slow.dropped
        server_problems = problems_logged(instance)
    healthz_count = len(baseline["latencies"]["healthz"])
    healthz_per_s = healthz_count / baseline_seconds
    errors = sum(sum(part["errors"].values()) for part in (baseline, mixed, calm, slowed))
    calm_p99_ms = percentile(calm["latencies"].get("healthz", []), 0.99) * 1000
    slowloris_p99_ms = percentile(slowed["latencies"].get("healthz", []), 0.99) * 1000
    missing = len(mixed["pushed"]) - present
    errors += missing
    total = sum(len(values) for values in mixed["latencies"].values())
    requests_per_s = total / mixed_seconds
    every = [value for values in mixed["latencies"].values() for value in values]
    p99_ms = percentile(every, 0.99) * 1000
    third = max(1, len(memory) // 3)
    growth_mb = (statistics.mean(memory[-third:]) - statistics.mean(memory[:third])) / 2**20
    print(
        f"gunicorn: {args.workers} workers on PostgreSQL; {args.clients} clients in "
        f"{args.processes} load-generator processes; mixed phase {mixed_seconds:.0f} s"
    )
    print(f"{'kind':8} {'requests':>9} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in [*MIX, "healthz"]:
        source = baseline if kind == "healthz" else mixed
        values = source["latencies"].get(kind, [])
        seconds = baseline_seconds if kind == "healthz" else mixed_seconds
        print(
            f"{kind:8} {len(values):9d} {len(values) / seconds:8.1f} "
            f"{percentile(values, 0.5) * 1000:8.1f} {percentile(values, 0.99) * 1000:8.1f} "
            f"{source['errors'].get(kind, 0):7d}"
        )
    print(
        f"mixed: {requests_per_s:.1f} requests/s, {requests_per_s / healthz_per_s:.2f} of "
        f"/healthz alone ({healthz_per_s:.1f}/s)"
    )
    print(
        f"CPU during the mixed phase: server {mixed['server_cpu']:.0f} s, load generator "
        f"{mixed['cpu']:.0f} s, the rest (PostgreSQL, mostly) "
        f"{mixed['machine_cpu'] - mixed['server_cpu'] - mixed['cpu']:.0f} s, of "
        f"{os.cpu_count()} cores x {mixed_seconds:.0f} s"
    )
    healthz_cpu, mixed_cpu = cpu_per_request(baseline), cpu_per_request(mixed)
    for name, split in (("/healthz", healthz_cpu), ("mixed", mixed_cpu)):
        print(
            f"CPU per {name} request: server {split[0]:.2f} ms, load generator "
            f"{split[1]:.2f} ms, the rest {split[2]:.2f} ms; {sum(split):.2f} ms in all"
        )
    # Closed-loop clients: each sends its next request when the last is answered, so the
    # mean latency is clients / throughput (Little's law), whatever the server does.
    healthz_latencies = baseline["latencies"].get("healthz", [])
    healthz_mean_ms = statistics.mean(healthz_latencies) * 1000 if healthz_latencies else 0.0
    healthz_p99_ms = percentile(healthz_latencies, 0.99) * 1000
    tail = healthz_p99_ms / healthz_mean_ms if healthz_mean_ms else 0.0
    needed = args.clients / P99_GOAL_S * tail
    print(
        f"/healthz alone: mean {healthz_mean_ms:.0f} ms (= {args.clients} clients / "
        f"{healthz_per_s:.0f} per s), p99 {healthz_p99_ms:.0f} ms, {tail:.1f} x the mean; at "
        f"that spread a p99 of {P99_GOAL_S * 1000:.0f} ms takes {needed:.0f} requests/s "
        f"({needed / healthz_per_s:.2f} of /healthz alone)"
    )
    print(f"PostgreSQL connections held by the server's pools at the end: {connections}")
    print(f"pushes acknowledged {len(mixed['pushed'])}, stored {present}, missing {missing}")
    print(
        f"server RSS: {memory[0] / 2**20:.0f} MB at the start, {memory[-1] / 2**20:.0f} MB at "
        f"the end; growth (last third - first third) {growth_mb:.1f} MB"
    )
    parts = [memory[k * len(memory) // 6 : (k + 1) * len(memory) // 6] for k in range(6)]
    timeline = [statistics.mean(part) / 2**20 for part in parts if part]
    print("server RSS by sixth of the run (MB): " + " ".join(f"{mb:.0f}" for mb in timeline))
    print(
        f"slowloris: {args.slow} connections sending a head byte by byte ({slow_open} open "
        f"at the end, {slow_dropped} dropped by the header timeout and reopened); "
        f"{args.slow_clients} clients' /healthz: "
        f"{len(slowed['latencies'].get('healthz', []))} answers, p99 {slowloris_p99_ms:.0f} ms "
        f"(without them: {len(calm['latencies'].get('healthz', []))} answers, "
        f"p99 {calm_p99_ms:.0f} ms)"
    )
    messages = [*baseline["messages"], *mixed["messages"], *calm["messages"], *slowed["messages"]]
    for message in messages[:10]:
        print(f"error: {message}")
    print(f"server log: {len(server_problems)} warnings, errors or 5xx answers")
    for problem in server_problems[:10]:
        print(f"  {problem}")
    print(
        f"RESULT clients={args.clients} requests_per_s={requests_per_s:.1f} errors={errors} "
        f"p99_ms={p99_ms:.0f} rss_growth_mb={growth_mb:.1f} healthz_per_s={healthz_per_s:.1f} "
        f"slowloris_p99_ms={slowloris_p99_ms:.0f} calm_p99_ms={calm_p99_ms:.0f} "
        f"healthz_p99_ms={healthz_p99_ms:.0f} "
        f"mixed_cpu_ms={sum(mixed_cpu):.2f} healthz_cpu_ms={sum(healthz_cpu):.2f} "
        f"mixed_server_cpu_ms={mixed_cpu[0]:.2f} healthz_server_cpu_ms={healthz_cpu[0]:.2f}"
    )


if __name__ == "__main__":
    main()
