"""A real gunicorn server on loopback, sharing the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(instance: Path, database_url: str | None) -> dict[str, str]:
    environment = {**os.environ, "EXCHANGE_INSTANCE_PATH": str(instance), "EXCHANGE_WORKERS": "2"}
    environment.pop("EXCHANGE_DATABASE_URL", None)
    if database_url:
        environment["EXCHANGE_DATABASE_URL"] = database_url
    environment["EXCHANGE_ACCESS_LOG"] = str(instance / "access.log")
    return environment


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    instance = tmp_path / "server-instance"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)],
        env=server_environment(instance, database_url),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(f"{base_url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
