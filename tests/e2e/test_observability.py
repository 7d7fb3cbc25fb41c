"""Logs and metrics of a real gunicorn with several workers."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import running_server

pytestmark = pytest.mark.e2e

BURST = 40


def fetch_keys(base_url: str, number: int) -> str:
    request_id = f"e2e-{number}"
    # A connection each: the kernel hands them to whichever worker is free.
    response = requests.get(
        f"{base_url}/.well-known/jwks.json", headers={"X-Request-Id": request_id}, timeout=30
    )
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == request_id
    return request_id


def access_lines(instance: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (instance / "access.log").read_text().splitlines()]


def test_metrics_and_logs_cover_every_worker(database_url: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    server_log = tmp_path / "server.log"
    sent: set[str] = set()
    with running_server(database_url, instance, server_log, workers=2) as base_url:
        # Bursts of concurrent requests until both workers have answered some (the second
        # may still be loading the app when the first answers the health check).
        deadline = time.monotonic() + 120
        while True:
            with ThreadPoolExecutor(max_workers=8) as pool:
                numbers = range(len(sent), len(sent) + BURST)
                sent |= set(pool.map(lambda n: fetch_keys(base_url, n), numbers))
            pids = {line["pid"] for line in access_lines(instance) if line["request_id"] in sent}
            if len(pids) == 2 or time.monotonic() > deadline:
                break
        exposition = requests.get(f"{base_url}/metrics", timeout=30)
        assert exposition.status_code == 200
    assert len(pids) == 2
    counts = {
        (sample.labels["method"], sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(exposition.text)
        for sample in family.samples
        if sample.name == "exchange_http_requests_total"
    }
    # Summed over both workers, whichever answered the scrape.
    assert counts[("GET", "/.well-known/jwks.json", "200")] == len(sent)

    served = [line for line in access_lines(instance) if line["request_id"] in sent]
    assert len(served) == len(sent)
    assert all(line["route"] == "/.well-known/jwks.json" for line in served)
    # gunicorn's own lines (boot, workers, shutdown) are JSON too.
    messages = [json.loads(line) for line in server_log.read_text().splitlines() if line]
    assert any(line["logger"] == "gunicorn.error" for line in messages)
