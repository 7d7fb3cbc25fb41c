"""Label verification benchmark (issue 7): ``POST /api/v1/labels/verify`` against ``/healthz``.

    python bench/labels.py [--seconds 2] [--rounds 4] [--clients 4] [--workers 2]

A real label is issued on a fresh SQLite exchange (accredited body, body-signed certificate,
benchmark grading scheme), then ``exchange serve`` (gunicorn) serves it and a load generator
of ``--clients`` processes, each sending one request at a time on a new connection, drives
the trivial endpoint and the verifier in alternating phases of the same run, after a warm-up
of both. The order flips every round (trivial, verify, verify, trivial, …), so that with an
even number of rounds a steady drift of the machine's speed (other load on shared cores)
weighs on both alike. The rate of an endpoint is its completed requests over its phases'
time; every phase's rate is printed, so that noise shows. Every verify answer is checked to
say "valid".

Also prints the QR version and module count of a typical label (GTIN, an 8-character lot)
beside the SMART Health Card limit (version 22). Ends with
``RESULT verify_per_s=… trivial_per_s=… ratio=… qr_version=…`` (goal ratio ≥ 0.8).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from exchange import create_app
from exchange.client.keys import LocalKey
from exchange.client.labels import certificate_document, sign_certificate
from exchange.labels import qr
from exchange.organisations.models import Role
from exchange.organisations.uscc import check_character
from exchange.system.services import upgrade_database

GOAL_RATIO = 0.8
SHC_MAX_VERSION = 22  # SMART Health Cards: a QR of at most version 22
GTIN = "09506000134352"
CATEGORY = "urn:pact:productclassification:hainan:tea"
FOOTPRINT: dict[str, Any] = {
    "specVersion": "3.0.0",
    "created": "2026-01-10T00:00:00Z",
    "status": "Active",
    "companyName": "Baisha Tea Cooperative",
    "productDescription": "Green tea, loose leaf, 250 g tin",
    "productIds": [f"urn:gtin:{GTIN}"],
    "productClassifications": [CATEGORY],
    "productNameCompany": "Baisha green tea",
    "pcf": {
        "declaredUnitOfMeasurement": "kilogram",
        "declaredUnitAmount": "2",
        "productMassPerDeclaredUnit": "1",
        "referencePeriodStart": "2025-01-01T00:00:00Z",
        "referencePeriodEnd": "2025-12-31T00:00:00Z",
        "geographyCountrySubdivision": "CN-HI",
        "pcfExcludingBiogenicUptake": "3.1",
        "pcfIncludingBiogenicUptake": "-18.44",
        "fossilCarbonContent": "0",
        "fossilGhgEmissions": "3.1",
        "ipccCharacterizationFactors": ["AR6"],
        "crossSectoralStandards": ["ISO14067"],
        "exemptedEmissionsPercent": "0",
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def issue_label(instance: Path) -> str:
    """Set up a small programme through the API (in process) and issue one label."""
    app = create_app({"TESTING": True}, instance_path=str(instance))
    upgrade_database(app.config["DATABASE_URL"])
    from exchange.db import transaction
    from exchange.organisations import services as organisations

    members: dict[Role, tuple[LocalKey, dict[str, str], str]] = {}
    for number, role in enumerate((Role.REGULATOR, Role.CERTIFICATION_BODY, Role.SUPPLIER)):
        key = LocalKey.generate()
        body = f"9146000{number:010d}"
        with transaction(app.extensions["exchange.sessions"]) as session:
            organisation = organisations.create_organisation(
                session,
                name=f"Bench {role.value}",
                country="CN",
                uscc=body + check_character(body),
                roles=[role],
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
                session,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
            ).access_token
            members[role] = (key, {"Authorization": f"Bearer {token}"}, organisation.id)
    client = app.test_client()
    _, regulator, _ = members[Role.REGULATOR]
    body_key, body, body_id = members[Role.CERTIFICATION_BODY]
    supplier_key, supplier, supplier_id = members[Role.SUPPLIER]

    def call(path: str, headers: dict[str, str], document: Any) -> Any:
        response = client.post(path, json=document, headers=headers)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    call(f"/api/v1/accreditations/{body_id}", regulator, {"status": "granted", "reason": "ok"})
    call(
        "/api/v1/grading-schemes",
        regulator,
        {
            "category": CATEGORY,
            "method": "benchmark-ratio",
            "unit": "kilogram",
            "parameters": {"benchmark": "10", "cutPoints": ["0.6", "0.8", "1.2", "2.0"]},
        },
    )
    footprint = {**FOOTPRINT, "id": str(uuid.uuid4()), "companyIds": [f"urn:uuid:{supplier_id}"]}
    call("/api/v1/footprints", supplier, supplier_key.sign_footprint(footprint))
    call("/api/v1/shares", supplier, {"organisationId": body_id, "recordId": footprint["id"]})
    document = certificate_document(
        body_id=body_id,
        record_id=footprint["id"],
        footprint=footprint,
        gtin=GTIN,
        category=CATEGORY,
    )
    certificate = call("/api/v1/certificates", body, sign_certificate(body_key, document))
    label = call("/api/v1/labels", body, {"certificate": certificate["number"], "lot": "LOT2026A"})
    app.extensions["exchange.engine"].dispose()
    return str(label["url"])


@contextlib.contextmanager
def server(instance: Path, workers: int) -> Iterator[int]:
    port = free_port()
    env = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(instance),
        "EXCHANGE_WORKERS": str(workers),
        "EXCHANGE_ACCESS_LOG": str(instance / "access.log"),
        # Every client of this benchmark is one address: the limiter counts each request
        # (its cost is part of what is measured) but is set never to refuse one.
        "EXCHANGE_RATE_LIMIT_VERIFY": f"{10**9}/60",
    }
    env.pop("EXCHANGE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def drive(port: int, kind: str, body: bytes, deadline: float, counts: Any) -> None:
    """One client: requests one after another until the deadline; counts what succeeded."""
    done = 0
    while time.perf_counter() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if kind == "verify":
            connection.request(
                "POST", "/api/v1/labels/verify", body, {"Content-Type": "application/json"}
            )
        else:
            connection.request("GET", "/healthz")
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        assert response.status == 200, payload[:200]
        if kind == "verify":
            assert b'"verdict":"valid"' in payload, payload[:300]
        done += 1
    with counts.get_lock():
        counts.value += done


def phase(port: int, kind: str, body: bytes, seconds: float, clients: int) -> tuple[int, float]:
    counts = multiprocessing.Value("q", 0)
    started = time.perf_counter()
    deadline = started + seconds
    processes = [
        multiprocessing.Process(target=drive, args=(port, kind, body, deadline, counts))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        assert process.exitcode == 0, f"a {kind} client failed"
    return int(counts.value), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one phase")
    parser.add_argument(
        "--rounds", type=int, default=4, help="trivial+verify phase pairs (even: balanced order)"
    )
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        instance = Path(temporary) / "instance"
        url = issue_label(instance)
        body = json.dumps({"text": url}).encode()
        totals = {"trivial": [0, 0.0], "verify": [0, 0.0]}
        with server(instance, args.workers) as port:
            phase(port, "trivial", body, 1.0, args.clients)  # warm every worker
            phase(port, "verify", body, 1.0, args.clients)
            for number in range(args.rounds):
                rates = {}
                for kind in ("trivial", "verify") if number % 2 == 0 else ("verify", "trivial"):
                    count, seconds = phase(port, kind, body, args.seconds, args.clients)
                    totals[kind][0] += count
                    totals[kind][1] += seconds
                    rates[kind] = count / seconds
                print(
                    f"round {number + 1}: trivial {rates['trivial']:6.0f}/s, "
                    f"verify {rates['verify']:6.0f}/s ({rates['verify'] / rates['trivial']:.2f})",
                    flush=True,
                )
    trivial_per_s = totals["trivial"][0] / totals["trivial"][1]
    verify_per_s = totals["verify"][0] / totals["verify"][1]
    ratio = verify_per_s / trivial_per_s
    symbol = qr.symbol(url)
    print(f"gunicorn: {args.workers} sync workers, SQLite; {args.clients} client processes")
    print(f"GET  /healthz                {trivial_per_s:8.0f} requests/s")
    print(
        f"POST /api/v1/labels/verify   {verify_per_s:8.0f} requests/s  "
        f"({ratio:.2f} of the trivial endpoint; goal >= {GOAL_RATIO})"
    )
    print(f"label URL ({len(url)} characters): {url}")
    print(
        f"QR at error correction M: version {symbol.version}, {symbol.size}x{symbol.size} "
        f"modules (SMART Health Card limit: version {SHC_MAX_VERSION}, "
        f"{17 + 4 * SHC_MAX_VERSION}x{17 + 4 * SHC_MAX_VERSION} modules)"
    )
    print(
        f"RESULT verify_per_s={verify_per_s:.0f} trivial_per_s={trivial_per_s:.0f} "
        f"ratio={ratio:.2f} qr_version={symbol.version}"
    )


if __name__ == "__main__":
    main()
