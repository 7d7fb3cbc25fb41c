"""Ingest benchmark: N signed footprints through the service layer and the HTTP batch endpoint,
against bare PyNaCl verification of the same signatures, all measured in this one run.

    python bench/ingest.py [--records 10000] [--batch 1000]

Ends with ``RESULT service_per_s=… http_per_s=… verify_per_s=… ratio=…`` (ratio = service / verify).
"""

from __future__ import annotations

import argparse
import contextlib
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

from exchange import create_app, signing
from exchange.client.keys import LocalKey
from exchange.db import transaction
from exchange.footprints import services as footprints
from exchange.log.services import issue_receipts
from exchange.organisations import services as organisations
from exchange.organisations.models import Role
from exchange.system.services import upgrade_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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


def bare_verify_rate(envelopes: list[dict[str, Any]], key: LocalKey) -> float:
    """PyNaCl verification alone, with the signed messages built beforehand."""
    verify_key = nacl.signing.VerifyKey(key.public_key)
    prepared = [
        (
            signing.signed_message(context=signing.FOOTPRINT_CONTEXT, payload=e["footprint"]),
            signing.b64url_decode(e["signature"]["value"]),
        )
        for e in envelopes
    ]
    started = time.perf_counter()
    for message, signature in prepared:
        verify_key.verify(message, signature)
    return len(prepared) / (time.perf_counter() - started)


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
) -> float:
    app = create_app(instance_path=str(instance))
    upgrade_database(app.config["DATABASE_URL"])
    principal, _ = setup_member(app, key)
    factory = app.extensions["exchange.sessions"]
    started = time.perf_counter()
    for start in range(0, len(envelopes), batch):
        with transaction(factory) as session:
            outcomes = footprints.submit(
                session,
                principal=principal,
                items=envelopes[start : start + batch],
            )
            assert all(outcome.accepted and outcome.created for outcome in outcomes)
            issue_receipts(
                session,
                app.extensions["exchange.key"],
                app.config["EXCHANGE_ORIGIN"],
                [o.record.log_index for o in outcomes if o.record is not None],
            )
    return len(envelopes) / (time.perf_counter() - started)


@contextlib.contextmanager
def server(instance: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(instance),
        "EXCHANGE_WORKERS": "2",
        "EXCHANGE_ACCESS_LOG": str(instance / "access.log"),
    }
    env.pop("EXCHANGE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/healthz", timeout=2).ok:
                    break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    key = LocalKey.generate()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        # The service and the HTTP runs have databases of their own, so one envelope set
        # serves both.
        envelopes = make_envelopes(key, COMPANY_ID, args.records)
        verify_per_s = bare_verify_rate(envelopes, key)
        service_per_s = service_rate(envelopes, key, root / "service", args.batch)
        http_per_s = http_rate(envelopes, key, root / "http", args.batch)
    ratio = service_per_s / verify_per_s
    print(f"records: {args.records} in batches of {args.batch}, SQLite")
    print(f"bare PyNaCl verify: {verify_per_s:9.0f} /s")
    print(f"service layer:      {service_per_s:9.0f} /s  ({ratio:.2f} of bare verify; goal >= 0.5)")
    print(
        f"HTTP batch:         {http_per_s:9.0f} /s  "
        f"({http_per_s / verify_per_s:.2f} of bare verify)"
    )
    print(
        f"RESULT service_per_s={service_per_s:.0f} http_per_s={http_per_s:.0f} "
        f"verify_per_s={verify_per_s:.0f} ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
