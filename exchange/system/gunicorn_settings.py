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
# The master builds the app once and forks the workers from it (exchange.system.serving):
# building it again in every worker cost ~1.5 s of CPU and a copy of its memory each.
# pre_fork (below) closes the master's database connections first.
preload_app = True
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


def post_worker_init(_worker: Any) -> None:
    """The worker has its app (built by the master, preload_app): what exists now (modules,
    the app, its schemas and compiled statements) lives as long as the worker. Frozen out of
    the garbage collector's sight, it is no longer walked by every full collection, which a
    large batch of records sets off several times (a third of a batch's time, measured by
    bench/ingest.py)."""
    gc.freeze()


def pre_fork(server: Any, _worker: Any) -> None:
    """The workers are forked from the master's app (preload_app): none may inherit one of
    its database connections (the master opened some to migrate and check the node)."""
    if server.cfg.preload_app:
        release_connections(server.app.wsgi())


def release_connections(app: Any) -> None:
    """Close the database connections ``app`` holds in this process, so that the processes
    forked from it open their own: a connection (a PostgreSQL socket, a SQLite file handle)
    shared by two processes corrupts what both send. Each engine reconnects when next used."""
    for engine in app.extensions["exchange.engines"]:
        engine.dispose()
