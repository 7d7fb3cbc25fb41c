"""Settings read from the environment, with the embedded defaults of a fresh checkout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def settings_from_environment(instance_path: Path) -> dict[str, Any]:
    return {
        "DATABASE_URL": os.environ.get("EXCHANGE_DATABASE_URL")
        or f"sqlite:///{instance_path / 'exchange.db'}",
        # Origin line of the log's checkpoints and host named in label URLs.
        "EXCHANGE_ORIGIN": os.environ.get("EXCHANGE_ORIGIN", "footprint-exchange.hainan.example"),
        "TOKEN_LIFETIME_SECONDS": int(os.environ.get("EXCHANGE_TOKEN_LIFETIME", "3600")),
        # A batch of 10,000 PACT footprints is about 25 MB of JSON.
        "MAX_CONTENT_LENGTH": int(os.environ.get("EXCHANGE_MAX_BODY_BYTES", str(32 * 1024 * 1024))),
        "MAX_BATCH_ITEMS": int(os.environ.get("EXCHANGE_MAX_BATCH_ITEMS", "10000")),
        # Signatures of a batch this large are verified in a pool of this many processes
        # (exchange.verifying), by default one per core but the one serving the request.
        "VERIFY_PROCESSES": int(
            os.environ.get("EXCHANGE_VERIFY_PROCESSES", str(max(0, (os.cpu_count() or 1) - 1)))
        ),
        "VERIFY_PARALLEL_MIN": int(os.environ.get("EXCHANGE_VERIFY_PARALLEL_MIN", "256")),
        "PAGE_SIZE_MAX": 1000,
        # PACT forbids plain HTTP: behind a TLS proxy, refuse requests that did not come
        # over HTTPS (the proxy sets X-Forwarded-Proto) instead of answering them.
        "REQUIRE_HTTPS": os.environ.get("EXCHANGE_REQUIRE_HTTPS", "") in {"1", "true", "yes"},
        # Partners' PACT hosts on loopback or private networks (tests; a partner on site).
        "EVENTS_ALLOW_PRIVATE_HOSTS": os.environ.get("EXCHANGE_EVENTS_ALLOW_PRIVATE_HOSTS", "")
        in {"1", "true", "yes"},
        # Base URL PACT peers reach this exchange at (behind a proxy); else the request's.
        "PUBLIC_URL": os.environ.get("EXCHANGE_PUBLIC_URL") or None,
        # First retry of a failed delivery after about this long, doubling up to an hour.
        "RETRY_BASE_SECONDS": float(os.environ.get("EXCHANGE_RETRY_BASE_SECONDS", "10")),
        # A claimed job is another worker's to retry once its claimer has been silent this
        # long (the claimer died); keep it above the time a batch of deliveries can take.
        "JOB_LEASE_SECONDS": float(os.environ.get("EXCHANGE_JOB_LEASE_SECONDS", "600")),
        # The worker pulls new records from every active partner programme this often.
        "PARTNER_SYNC_SECONDS": float(os.environ.get("EXCHANGE_PARTNER_SYNC_SECONDS", "3600")),
        # A signed trust list is good this long (its nextUpdate); `exchange worker` re-signs
        # it halfway. Verifiers holding an older list cannot confirm labels.
        "TRUST_LIST_VALIDITY_SECONDS": float(
            os.environ.get("EXCHANGE_TRUST_LIST_VALIDITY_SECONDS", str(3 * 24 * 3600))
        ),
        # Witnessing (C2SP tlog-witness): the name of this exchange's witness key (default
        # "<origin>/witness"); how often the worker submits our newest checkpoint to the
        # witnesses of our log, and how long it waits for each one's answer (seconds).
        "WITNESS_NAME": os.environ.get("EXCHANGE_WITNESS_NAME") or None,
        "WITNESS_INTERVAL_SECONDS": float(os.environ.get("EXCHANGE_WITNESS_INTERVAL", "60")),
        "WITNESS_TIMEOUT_SECONDS": float(os.environ.get("EXCHANGE_WITNESS_TIMEOUT", "10")),
        # A portal session ends after this long without a request, and this long after
        # sign-in whatever happens (seconds).
        "PORTAL_SESSION_IDLE_SECONDS": int(os.environ.get("EXCHANGE_PORTAL_SESSION_IDLE", "1800")),
        "PORTAL_SESSION_LIFETIME_SECONDS": int(
            os.environ.get("EXCHANGE_PORTAL_SESSION_LIFETIME", str(8 * 3600))
        ),
        # The folder of the exchange's private keys (its signing key, the keys it retired, its
        # witness key): the instance folder unless said otherwise. Every node serving one
        # exchange holds the same keys: the same folder mounted on each, or a copy of it
        # (docs/operations/nodes.md).
        "KEYS_PATH": Path(os.environ.get("EXCHANGE_KEYS_PATH") or instance_path),
        # After the exchange's keys were lost (restore without the keys folder): let this
        # node start although the log was signed by other keys; its next checkpoint is
        # signed by its own key. Partners must then pin the new key.
        "ADOPT_KEYS": os.environ.get("EXCHANGE_ADOPT_KEYS", "") in {"1", "true", "yes"},
        "LOG_LEVEL": os.environ.get("EXCHANGE_LOG_LEVEL", "INFO"),
        # One JSON line per request goes here when it names a file, else with the other logs
        # on stderr.
        "ACCESS_LOG": os.environ.get("EXCHANGE_ACCESS_LOG") or None,
        # Set by gunicorn's settings: its workers sum their metrics through this directory.
        "METRICS_DIRECTORY": Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        else None,
        # When set, /metrics answers only to Authorization: Bearer <this token>.
        "METRICS_TOKEN": os.environ.get("EXCHANGE_METRICS_TOKEN") or None,
    }
