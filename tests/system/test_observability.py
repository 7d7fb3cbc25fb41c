"""Request ids, JSON log lines and Prometheus metrics, through the test client."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.serving import make_server

from exchange.observability import UNMATCHED_ROUTE
from exchange.organisations.models import Role
from tests.factories import add_member


def log_lines(captured: str) -> list[dict[str, Any]]:
    """Every line written, each of which must be one JSON object."""
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def access_line(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    (found,) = [
        line
        for line in lines
        if line["logger"] == "exchange.access" and line.get("request_id") == request_id
    ]
    return found


def samples(
    client: FlaskClient, name: str, **headers: str
) -> dict[tuple[tuple[str, str], ...], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
        if sample.name == name
    }


def test_each_request_is_one_json_line_with_its_request_id(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.get("/healthz?token=do-not-log-me", headers={"X-Request-Id": "lb-7f3a.1"})
    assert response.headers["X-Request-Id"] == "lb-7f3a.1"
    captured = capsys.readouterr().err
    line = access_line(log_lines(captured), "lb-7f3a.1")
    assert line["level"] == "INFO"
    assert line["time"].endswith("+00:00")
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET",
        "/healthz",
        "/healthz",
        200,
    )
    assert isinstance(line["duration_ms"], float)
    assert "organisation_id" not in line
    assert "do-not-log-me" not in captured


@pytest.mark.parametrize("offered", ["", "has space", "x" * 65, "a\nb", "<script>", "é"])
def test_unsafe_request_ids_are_replaced(
    client: FlaskClient, capsys: pytest.CaptureFixture[str], offered: str
) -> None:
    capsys.readouterr()
    headers = {"X-Request-Id": offered} if "\n" not in offered else {}
    if "\n" in offered:
        # The test client refuses a newline in a header; a raw one reaches the environ.
        response = client.get("/healthz", environ_base={"HTTP_X_REQUEST_ID": offered})
    else:
        response = client.get("/healthz", headers=headers)
    made = response.headers["X-Request-Id"]
    assert made != offered
    assert uuid.UUID(hex=made)
    access_line(log_lines(capsys.readouterr().err), made)


def test_lines_name_the_callers_organisation(
    app: Flask, client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    member = add_member(app, Role.SUPPLIER)
    capsys.readouterr()
    response = client.get("/api/v1/footprints", headers=member.headers)
    assert response.status_code == 200
    line = access_line(log_lines(capsys.readouterr().err), response.headers["X-Request-Id"])
    assert line["organisation_id"] == member.organisation_id
    assert line["route"] == "/api/v1/footprints"
    assert member.token not in json.dumps(line)


@pytest.mark.fresh_app  # adds a route
def test_a_500_is_logged_with_its_request_id_and_the_body_names_it(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode() -> str:
        raise RuntimeError("the disk is on fire")

    app.add_url_rule("/explode", view_func=explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    capsys.readouterr()
    response = app.test_client().get("/explode", headers={"X-Request-Id": "incident-42"})
    assert response.status_code == 500
    assert response.json is not None
    assert response.json["code"] == "InternalError"
    assert response.json["details"] == [{"requestId": "incident-42"}]
    assert response.headers["X-Request-Id"] == "incident-42"
    lines = [
        line
        for line in log_lines(capsys.readouterr().err)
        if line.get("request_id") == "incident-42"
    ]
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert "RuntimeError: the disk is on fire" in error["exception"]
    assert error["path"] == "/explode"
    assert access_line(lines, "incident-42")["status"] == 500


def test_metrics_count_by_route_template_so_ids_do_not_multiply_series(
    app: Flask, client: FlaskClient
) -> None:
    member = add_member(app, Role.SUPPLIER)
    for _ in range(3):
        client.get("/healthz")
    for _ in range(200):
        assert (
            client.get(f"/3/footprints/{uuid.uuid4()}", headers=member.headers).status_code == 404
        )
        assert client.get(f"/no/such/{uuid.uuid4()}").status_code == 404
    client.open("/healthz", method="BREW")
    counts = samples(client, "exchange_http_requests_total")
    assert counts[(("method", "GET"), ("route", "/healthz"), ("status", "200"))] == 3
    assert (
        counts[(("method", "GET"), ("route", "/3/footprints/<id:record_id>"), ("status", "404"))]
        == 200
    )
    assert counts[(("method", "GET"), ("route", UNMATCHED_ROUTE), ("status", "404"))] == 200
    # A method no route takes matches no rule either; odd methods share one label.
    assert counts[(("method", "OTHER"), ("route", UNMATCHED_ROUTE), ("status", "405"))] == 1
    assert len(counts) == 4
    histograms = samples(client, "exchange_http_request_duration_seconds_count")
    assert histograms[(("route", "/3/footprints/<id:record_id>"),)] == 200
    routes = {dict(labels)["route"] for labels in histograms}
    assert routes == {"/healthz", "/3/footprints/<id:record_id>", UNMATCHED_ROUTE, "/metrics"}


def test_metrics_token_when_configured(app: Flask, client: FlaskClient) -> None:
    app.config["METRICS_TOKEN"] = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, set(wrong.json or {})) == (401, {"code", "message", "details"})
    samples(client, "exchange_http_requests_total", Authorization="Bearer s3cret-scrape-token")


def test_the_werkzeug_server_writes_json_lines_only(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        capsys.readouterr()
        response = requests.get(
            f"http://127.0.0.1:{server.port}/healthz?secret=hunter2",
            headers={"X-Request-Id": "werkzeug-1"},
            timeout=10,
        )
        assert response.headers["X-Request-Id"] == "werkzeug-1"
    finally:
        server.shutdown()
        thread.join()
    captured = capsys.readouterr().err
    # Werkzeug's own access line (with the query string) is replaced by the app's JSON one.
    line = access_line(log_lines(captured), "werkzeug-1")
    assert (line["path"], line["status"]) == ("/healthz", 200)
    assert "hunter2" not in captured
