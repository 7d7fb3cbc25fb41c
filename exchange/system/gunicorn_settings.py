"""Production gunicorn settings, shared by ``exchange serve`` and the top-level gunicorn.conf.py."""

from __future__ import annotations

import multiprocessing
import os

workers = int(os.environ.get("EXCHANGE_WORKERS", str(min(4, multiprocessing.cpu_count() * 2))))
worker_class = "sync"
# Large batches take a while to verify; the client waits for its receipts.
timeout = int(os.environ.get("EXCHANGE_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Each worker builds its own app (and database pool) after the fork.
preload_app = False
accesslog = os.environ.get("EXCHANGE_ACCESS_LOG", "-")
forwarded_allow_ips = os.environ.get("EXCHANGE_FORWARDED_ALLOW_IPS", "127.0.0.1")
