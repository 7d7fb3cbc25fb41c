"""Real gunicorn servers on loopback, sharing the test database; TLS when asked; a browser.

Starting ``exchange serve`` (an interpreter, the migrations, gunicorn and its workers) and
Chromium costs seconds each, so ``live_server``, ``tls_server`` and ``browser`` start once
per test module and are shared by its tests. Each test still starts from an empty database
and what it leaves is removed after it (as the ``app`` fixture does), so a module-wide
server holds no one test's rows; what else a server keeps between tests (its keys, its
rate-limit counters, its access log) is the module's. A test that needs a server of its
own (kills it, rotates its keys, counts its log lines) starts one with ``running_server``.

A server runs one gunicorn worker (each worker imports and builds the app: ~2 s of CPU),
except for the tests about several workers (one rate limit, one key, one set of metrics
across them), which ask for ``workers=2``.

Every test here is marked ``e2e`` (tests/conftest.py marks them by directory), and the
tests of a module that share a server run on one pytest-xdist worker (``--dist loadgroup``)
so the server starts once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import trustme
from flask import Flask
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy.engine import Engine

from exchange import create_app
from tests.conftest import empty_all_tables

# Debian's Chromium; Playwright only drives it.
CHROMIUM = "/usr/bin/chromium"
# The mark of a module that drives the browser (``make test`` installs it; elsewhere the
# module is reported skipped with this reason, never passed).
NEEDS_CHROMIUM = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian chromium is not installed"
)


def artefacts(kind: str) -> Path:
    """Where a module's screenshots are kept: ``test-artefacts/<kind>`` (git-ignored), or
    under EXCHANGE_TEST_ARTEFACTS."""
    root = os.environ.get("EXCHANGE_TEST_ARTEFACTS") or Path(__file__).resolve().parents[2] / (
        "test-artefacts"
    )
    return Path(root) / kind


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(
    instance: Path, database_url: str | None, *, workers: int = 1
) -> dict[str, str]:
    environment = {
        **os.environ,
        "EXCHANGE_INSTANCE_PATH": str(instance),
        "EXCHANGE_WORKERS": str(workers),
    }
    environment.pop("EXCHANGE_DATABASE_URL", None)
    if database_url:
        environment["EXCHANGE_DATABASE_URL"] = database_url
    environment["EXCHANGE_ACCESS_LOG"] = str(instance / "access.log")
    # The partner PACT hosts of these tests listen on loopback.
    environment["EXCHANGE_EVENTS_ALLOW_PRIVATE_HOSTS"] = "1"
    return environment


def command_app(instance: Path, database_url: str, **settings: str) -> Flask:
    """The app ``exchange`` builds for a command beside the server at ``instance``: its
    environment (``server_environment`` and ``settings``, ``EXCHANGE_*`` names) read by
    ``create_app`` as the command line reads it, in this process."""
    wanted = {**server_environment(instance, database_url), **settings}
    # Logging is the process's: the server's access log file would take this process's
    # request lines from then on (a command answers no request).
    del wanted["EXCHANGE_ACCESS_LOG"]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in wanted.items():
            if os.environ.get(name) != value:
                patch.setenv(name, value)
        return create_app()


def run_command(app: Flask, *args: str) -> subprocess.CompletedProcess[str]:
    """``exchange ARGS`` on ``app`` (``command_app``), through the command line's own parser,
    in this process: a process of its own imported and built the app again, about 1.3 s of
    CPU a command, a minute of every suite run. What the command did not expect (an
    exception, not a refusal it reports) is printed as a process would, on its stderr."""
    result = app.test_cli_runner().invoke(args=list(args))
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["exchange", *args], result.exit_code, result.stdout, stderr)


@dataclasses.dataclass
class ServerProcess:
    """A started ``exchange serve``: gunicorn's master leads a process group of its own, so
    that a test can kill the master and its workers at once (``os.killpg``)."""

    process: subprocess.Popen[bytes]
    base_url: str


def start_server(
    database_url: str,
    instance: Path,
    log_path: Path,
    *,
    tls: tuple[Path, Path, Path] | None = None,
    port: int | None = None,
    workers: int = 1,
) -> ServerProcess:
    """``exchange serve`` in a new session, once ``/healthz`` answers. ``tls``: cert, key, CA."""
    port = port or free_port()
    argv = [sys.executable, "-m", "exchange.cli", "serve", "--port", str(port)]
    if tls is not None:
        argv += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            env=server_environment(instance, database_url, workers=workers),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify: str | bool = str(tls[2]) if tls else True
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(log_path.read_text())
        try:
            if requests.get(f"{base_url}/healthz", timeout=5, verify=verify).status_code == 200:
                return ServerProcess(process, base_url)
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            kill_group(process)
            raise AssertionError("server did not start")
        time.sleep(0.1)


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group ``process`` leads, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


@contextmanager
def running_server(
    database_url: str,
    instance: Path,
    log_path: Path,
    *,
    tls: tuple[Path, Path, Path] | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """``exchange serve`` until the block ends; its base URL. ``tls``: cert, key, CA file."""
    server = start_server(database_url, instance, log_path, tls=tls, workers=workers)
    try:
        yield server.base_url
    finally:
        kill_group(server.process, signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class LiveServer:
    base_url: str
    instance: Path


@pytest.fixture(scope="module")
def module_live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One plain-HTTP server for the tests of a module (use ``live_server`` in tests)."""
    directory = tmp_path_factory.mktemp("live-server")
    instance = directory / "server-instance"
    with running_server(database_url, instance, directory / "server.log") as base_url:
        yield LiveServer(base_url, instance)


@pytest.fixture
def live_server(module_live_server: LiveServer, engine: Engine) -> Iterator[str]:
    """The module's server's base URL; the database is emptied after the test."""
    yield module_live_server.base_url
    empty_all_tables(engine)


@pytest.fixture
def live_server_instance(module_live_server: LiveServer) -> Path:
    """The instance folder of ``live_server`` (its keys, its access log)."""
    return module_live_server.instance


@dataclasses.dataclass(frozen=True)
class TLSServer:
    base_url: str
    ca_file: Path
    ca: trustme.CA
    instance: Path


@pytest.fixture(scope="module")
def module_tls_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TLSServer]:
    """One HTTPS server for the tests of a module (use ``tls_server`` in tests)."""
    directory = tmp_path_factory.mktemp("tls-server")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (directory / name for name in ("cert.pem", "key.pem", "ca.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    instance = directory / "server-instance"
    with running_server(
        database_url, instance, directory / "server.log", tls=(cert_file, key_file, ca_file)
    ) as base_url:
        yield TLSServer(base_url=base_url, ca_file=ca_file, ca=ca, instance=instance)


@pytest.fixture
def tls_server(module_tls_server: TLSServer, engine: Engine) -> Iterator[TLSServer]:
    """The exchange serving HTTPS itself, with a certificate from a throwaway CA (the
    module's server); the database is emptied after the test."""
    yield module_tls_server
    empty_all_tables(engine)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the tests of a module; each test opens its own context
    (``browser.new_context()``: own cookies, storage and service workers) and closes it."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
