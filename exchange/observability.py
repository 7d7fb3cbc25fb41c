"""Observability: one JSON log line per request with a request id, and Prometheus metrics.

Every log record (the exchange's, gunicorn's, Werkzeug's, any library's) is written as one
JSON object per line; records emitted while a request is handled carry its
request id, method, path and, once the caller is known, its organisation. The request id comes
from a valid ``X-Request-Id`` header or is made here, and is echoed in the response.

Metrics count requests by method, route template and status and time them by route. Under
gunicorn each worker is its own process, so ``prometheus_client`` runs in multiprocess mode:
each worker writes its samples to memory-mapped files in a directory (the instance folder's
``metrics/``, named by ``PROMETHEUS_MULTIPROC_DIR``, which gunicorn's settings set before the
workers start) and ``/metrics`` sums the files of every worker, so a scrape counts every
request whichever worker it reaches. That is the client library's own, tested mechanism, with
no lock or round trip per request; a database or Redis store would add both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Final, TextIO

from flask import Flask, Response, current_app, g, has_request_context, request

REQUEST_ID_HEADER: Final = "X-Request-Id"
# Short and inert: it is echoed in a header and written into every log line.
_VALID_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE: Final = "<unmatched>"
_PATH_LIMIT: Final = 512
# Pushes of large batches take tens of seconds; the default buckets stop at 10 s.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_HANDLER_TAG: Final = "exchange_json_destination"


def init_app(app: Flask) -> None:
    """Request ids, JSON logs and metrics for ``app``; one call in ``create_app``."""
    configure_logging(app.config["LOG_LEVEL"], app.config["ACCESS_LOG"])
    app.extensions["exchange.metrics"] = Metrics.create(app.config["METRICS_DIRECTORY"])
    app.before_request(_start_request)
    # After-request functions run last-registered first: registered before every other one,
    # this runs after them and logs the status that is really sent.
    app.after_request(_finish_request)


# -- logging ----------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Which gunicorn worker: their lines interleave in one stream.
            "pid": record.process,
        }
        context: dict[str, Any] | None = getattr(record, "request", None)
        if context is None and has_request_context():
            context = request_context()
        if context:
            entry.update(context)
        fields: dict[str, Any] | None = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


class _WerkzeugAccessFilter(logging.Filter):
    """Drops the development server's own access lines: the app writes a JSON one, without
    the query string that Werkzeug's would show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith('"%s" %s %s'))


def _tagged_handler(logger: logging.Logger, destination: str) -> logging.Handler | None:
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_TAG, None) == destination:
            return handler
    return None


def _remove_handlers(logger: logging.Logger) -> None:
    for handler in [h for h in logger.handlers if hasattr(h, _HANDLER_TAG)]:
        logger.removeHandler(handler)
        handler.close()


def _install_handler(logger: logging.Logger, destination: str) -> None:
    """Exactly one JSON handler on ``logger``, writing to ``destination`` ("-" is stderr)."""
    if _tagged_handler(logger, destination) is not None:
        return
    _remove_handlers(logger)
    handler: logging.Handler = (
        _StderrHandler() if destination == "-" else logging.FileHandler(destination, delay=True)
    )
    setattr(handler, _HANDLER_TAG, destination)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)


def configure_logging(level: str, access_log: str | None) -> None:
    """JSON lines on stderr for every logger (the root's handler), the exchange's from
    ``level`` up; the per-request lines go to ``access_log`` instead when it names a file.
    Idempotent: apps made again in one process (tests, the CLI) reuse the handlers."""
    _install_handler(logging.getLogger(), "-")
    logging.getLogger("exchange").setLevel(level.upper())
    access = logging.getLogger("exchange.access")
    if access_log and access_log != "-":
        _install_handler(access, access_log)
        access.propagate = False
    else:
        _remove_handlers(access)
        access.propagate = True
    werkzeug_logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _WerkzeugAccessFilter) for f in werkzeug_logger.filters):
        werkzeug_logger.addFilter(_WerkzeugAccessFilter())
    if werkzeug_logger.level == logging.NOTSET:
        werkzeug_logger.setLevel(logging.INFO)


def gunicorn_log_config() -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its own messages as JSON lines on stderr too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "exchange.observability.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        # Each worker's app puts its own JSON handler on the root logger.
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # The app writes the access lines; gunicorn's would repeat them without the ids.
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


# -- the request ------------------------------------------------------------------------------


def request_id() -> str:
    """This request's id (made on first use if the hooks have not run)."""
    found: str | None = g.get("request_id")
    if found is None:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        found = offered if _VALID_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        g.request_id = found
    return found


def _organisation_id() -> str | None:
    for name in ("principal", "portal_principal"):
        principal = g.get(name)
        if principal is not None:
            return str(principal.organisation_id)
    return None


def request_context() -> dict[str, Any]:
    context: dict[str, Any] = {
        "request_id": request_id(),
        "method": request.method,
        "path": request.path[:_PATH_LIMIT],
    }
    organisation = _organisation_id()
    if organisation is not None:
        context["organisation_id"] = organisation
    return context


def route_template() -> str:
    """The matched URL rule (``/3/footprints/<id>``), never the raw path: bounded labels."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def _start_request() -> None:
    g.request_started = time.perf_counter()
    request_id()


def _finish_request(response: Response) -> Response:
    identifier = request_id()
    response.headers[REQUEST_ID_HEADER] = identifier
    started: float = g.get("request_started", time.perf_counter())
    seconds = time.perf_counter() - started
    route = route_template()
    method = request.method if request.method in _METHODS else "OTHER"
    metrics: Metrics = current_app.extensions["exchange.metrics"]
    metrics.observe(method, route, response.status_code, seconds)
    context = request_context()
    logging.getLogger("exchange.access").info(
        "%s %s %s",
        method,
        context["path"],
        response.status_code,
        extra={
            "request": context,
            "fields": {
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
            },
        },
    )
    return response


# -- metrics ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Metrics:
    """The app's counters; samples summed over every process writing to ``directory``."""

    registry: Any
    requests: Any
    latency: Any
    directory: Path | None

    @classmethod
    def create(cls, directory: Path | None) -> Metrics:
        # Imported here, not at the top: gunicorn's master imports this package before it
        # names the multiprocess directory, and prometheus_client chooses its mode on import.
        from prometheus_client import CollectorRegistry, Counter, Histogram, values

        if directory is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError(
                "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set"
            )
        registry = CollectorRegistry()
        requests = Counter(
            "exchange_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        latency = Histogram(
            "exchange_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        return cls(registry=registry, requests=requests, latency=latency, directory=directory)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if self.directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        combined = CollectorRegistry()
        MultiProcessCollector(combined, path=str(self.directory))  # type: ignore[no-untyped-call]
        return generate_latest(combined), CONTENT_TYPE_LATEST
