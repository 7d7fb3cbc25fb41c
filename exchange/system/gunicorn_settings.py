"""Production gunicorn settings, shared by ``exchange serve`` and the top-level gunicorn.conf.py."""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

from exchange.observability import gunicorn_log_config

workers = int(os.environ.get("EXCHANGE_WORKERS", str(min(4, multiprocessing.cpu_count() * 2))))
# Threads answer requests; a connection gets one only once its request head has arrived
# (exchange.system.worker), so slow or idle clients wait in each worker's event loop
# instead of holding a process or thread (slowloris). EXCHANGE_HEADER_TIMEOUT (seconds,
# default 10) bounds how long a head may take.
worker_class = "exchange.system.worker.HeadFirstWorker"
threads = int(os.environ.get("EXCHANGE_THREADS", "8"))
# Connections one worker holds at once (waiting heads, kept-alive, being answered).
worker_connections = int(os.environ.get("EXCHANGE_WORKER_CONNECTIONS", "1000"))
# The heartbeat of a worker's event loop: a worker silent this long is restarted. (Large
# batches take a while to verify; with threads that no longer counts against it.)
timeout = int(os.environ.get("EXCHANGE_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Each worker builds its own app (and database pool) after the fork.
preload_app = False
# The app writes one JSON line per request itself (to EXCHANGE_ACCESS_LOG when set), with
# the request id, route and caller gunicorn's access log cannot know.
accesslog = None
logconfig_dict = gunicorn_log_config()
forwarded_allow_ips = os.environ.get("EXCHANGE_FORWARDED_ALLOW_IPS", "127.0.0.1")


def _instance_path() -> Path:
    named = os.environ.get("EXCHANGE_INSTANCE_PATH")
    if named:
        return Path(named)
    from flask import Flask

    return Path(Flask("exchange", instance_relative_config=True).instance_path)


# Every worker writes its metrics here and /metrics sums them. prometheus_client chooses
# multiprocess mode when a worker first imports it, so the variable must be set before the
# workers are forked; setting it in this settings module (read by the master) does that.
METRICS_DIRECTORY = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(_instance_path() / "metrics")
)


def on_starting(_server: Any) -> None:
    """A fresh start counts from zero: the last run's workers' files would add to this one's."""
    shutil.rmtree(METRICS_DIRECTORY, ignore_errors=True)
    Path(METRICS_DIRECTORY).mkdir(parents=True, exist_ok=True)


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the app: what exists now (modules, the app, its schemas and
    compiled statements) lives as long as the worker. Frozen out of the garbage collector's
    sight, it is no longer walked by every full collection, which a large batch of records
    sets off several times (a third of a batch's time, measured by bench/ingest.py).

    The app's signature verification pool starts now, in the background, rather than with
    the first large batch, which would verify in process while the pool started.
    """
    gc.freeze()
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    verifier = extensions.get("exchange.verifier")
    if verifier is not None:
        verifier.start()
